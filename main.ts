/**
 * The one entry point: `main.ts TOOL [OPTIONS...]` runs the HTCondor tool of
 * that name. Reads Deno.args once, wires SIGINT/SIGTERM to the tool's abort
 * signal, and is the only place that calls Deno.exit (besides the requester's
 * own entry, src/requester_main.ts). Compiled, this is the `condor_token`
 * binary; a copy or hard link named after a tool runs that tool.
 */
import { EXIT } from "./src/cli/exit_codes.ts";
import { interruptSignal } from "./src/cli/interrupt_signal.ts";
import { processIo } from "./src/cli/io.ts";
import { findTool, toolList, TOOLS } from "./src/cli/tools.ts";
import { isVersionFlag, versionLine } from "./src/cli/version.ts";

/** Runs the tool named by the first argument; resolves to the exit code. */
export async function runMain(args: readonly string[], signal: AbortSignal): Promise<number> {
  const [name, ...rest] = args;
  const io = processIo(signal);
  if (name === "-help" || name === "--help" || name === "-h") {
    await io.out(toolList());
    return EXIT.OK;
  }
  const tool = name === undefined ? undefined : findTool(name);
  // `-version` alone or right after the tool name, as HTCondor's tools take it.
  if (isVersionFlag(name) || (tool && isVersionFlag(rest[0]))) {
    await io.out(versionLine());
    return EXIT.OK;
  }
  if (!tool) {
    if (name !== undefined) await io.err(`condor_token: unknown tool ${JSON.stringify(name)}\n`);
    await io.err(toolList());
    return EXIT.USAGE;
  }
  return await tool.main(rest, io);
}

/**
 * The tool a program file runs by its name: `condor_token_list` or
 * `condor_token_list-0.1.0-x86_64-unknown-linux-gnu[.exe]` runs
 * condor_token_list; `deno` and `condor_token-...` run none (the first
 * argument names the tool).
 */
export function toolOfProgram(path: string): string | undefined {
  const base = path.replace(/^.*[\\/]/, "").replace(/\.exe$/i, "");
  return TOOLS.find((tool) => base === tool.name || base.startsWith(`${tool.name}-`))?.name;
}

if (import.meta.main) {
  // Deno.execPath() is the binary itself when compiled and `deno` otherwise;
  // a symlink resolves to its target, so only a copy or hard link renames.
  const invokedAs = toolOfProgram(Deno.execPath());
  const args = invokedAs === undefined ? Deno.args : [invokedAs, ...Deno.args];
  Deno.exit(await runMain(args, interruptSignal()));
}
