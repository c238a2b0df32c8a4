/**
 * The one entry point: `main.ts TOOL [OPTIONS...]` runs the HTCondor tool of
 * that name. Reads Deno.args once, wires SIGINT/SIGTERM to the tool's abort
 * signal, and is the only place that calls Deno.exit.
 */
import { EXIT } from "./src/cli/exit_codes.ts";
import { processIo } from "./src/cli/io.ts";
import { findTool, toolList } from "./src/cli/tools.ts";

/** Runs the tool named by the first argument; resolves to the exit code. */
export async function runMain(
  args: readonly string[],
  signal: AbortSignal,
): Promise<number> {
  const [name, ...rest] = args;
  const io = processIo(signal);
  if (name === "-help" || name === "--help" || name === "-h") {
    await io.out(toolList());
    return EXIT.OK;
  }
  const tool = name === undefined ? undefined : findTool(name);
  if (!tool) {
    if (name !== undefined) {
      await io.err(`main.ts: unknown tool ${JSON.stringify(name)}\n`);
    }
    await io.err(toolList());
    return EXIT.USAGE;
  }
  return await tool.main(rest, io);
}

/**
 * An abort signal fired by the first SIGINT or SIGTERM, its reason naming the
 * signal. Tools with something to undo (a pending request) listen to it; a
 * second signal then kills the process the default way.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => {
    const handler = () => {
      signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
      controller.abort(sig);
    };
    Deno.addSignalListener(sig, handler);
    return handler;
  });
  return controller.signal;
}

if (import.meta.main) {
  Deno.exit(await runMain(Deno.args, interruptSignal()));
}
