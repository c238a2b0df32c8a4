/**
 * Runs `main.ts TOOL ...` as a subprocess with the exact permission flags the
 * shipped binary is compiled with, so end-to-end tests exercise what ships.
 */
import { FULL_FLAGS, REQUESTER_FLAGS } from "../../scripts/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Absolute path of main.ts. */
export const MAIN_TS = `${ROOT}main.ts`;

/** What a finished tool run produced. */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for one tool run. */
export interface RunOptions {
  /** Environment for the child; nothing else from the parent is passed. */
  env?: Record<string, string>;
  /** Text written to the child's stdin (then closed). */
  stdin?: string;
  /** Kill the child after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Use the requester's flags instead of the full binary's. */
  requesterFlags?: boolean;
  /** Entry point to run instead of main.ts (e.g. the bundle). */
  entry?: string;
}

/** Builds the `deno run` argument list for a tool. */
export function toolArgs(
  tool: string | undefined,
  args: readonly string[],
  options: RunOptions = {},
) {
  const flags = options.requesterFlags ? REQUESTER_FLAGS : FULL_FLAGS;
  const entry = options.entry ?? MAIN_TS;
  return [
    "run",
    "--quiet",
    ...flags,
    entry,
    ...(tool === undefined ? [] : [tool]),
    ...args,
  ];
}

/**
 * The test runner's Deno cache, handed to each child: children get a fake
 * HOME, and without this Deno would look for (and download) npm packages
 * under it. The binary itself never reads DENO_DIR.
 */
function denoDir(): string {
  return Deno.env.get("DENO_DIR") ??
    JSON.parse(
      new TextDecoder().decode(
        new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
          .outputSync().stdout,
      ),
    ).denoDir as string;
}

/** Spawns a tool; the caller reads and awaits the child. */
export function spawnTool(
  tool: string | undefined,
  args: readonly string[],
  options: RunOptions = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: toolArgs(tool, args, options),
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0", DENO_DIR: denoDir(), ...(options.env ?? {}) },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a tool to completion and returns its exit code and output. */
export async function runTool(
  tool: string | undefined,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ToolResult> {
  const child = spawnTool(tool, args, options);
  const timer = setTimeout(
    () => child.kill("SIGKILL"),
    options.timeoutMs ?? 60_000,
  );
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
