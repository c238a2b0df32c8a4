/**
 * Runs `main.ts TOOL ...` as a subprocess with the exact permission flags the
 * shipped binary is compiled with, so end-to-end tests exercise what ships.
 * condor_token_request run with the requester's flags goes through its own
 * binary's entry, src/requester_main.ts, with no tool name.
 *
 * With CONDOR_TOKEN_E2E_ENTRY=bundle in the test's environment (set by
 * scripts/test_bundle), every run uses the bundles the binaries are compiled
 * from instead: bundle/condor_token.js for tools, and
 * bundle/condor_token_request.js for condor_token_request run with the
 * requester's flags (it takes no tool name). CONDOR_TOKEN_E2E_BUNDLE_DIR
 * overrides where they are (default dist/<version>/bundle).
 *
 * With CONDOR_TOKEN_E2E_ENTRY=binary, every run uses the compiled binaries
 * for this platform (`condor_token-<version>-<target>` for tools,
 * `condor_token_request-<version>-<target>` for the requester), from
 * CONDOR_TOKEN_E2E_BINARY_DIR (default dist/<version>): the release
 * workflow runs the suite so against what it is about to publish. Their
 * permission flags are the ones compiled in. A run with `entry` (a probe
 * script) still goes through Deno with the shipped flags.
 */
import { binaryName, bundlePath, PROGRAMS } from "../../scripts/build.ts";
import { VERSION } from "../../src/cli/version.ts";
import { FULL_FLAGS, REQUESTER_FLAGS } from "../../scripts/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Absolute path of main.ts. */
export const MAIN_TS = `${ROOT}main.ts`;
/** Absolute path of the requester binary's entry. */
export const REQUESTER_MAIN_TS = `${ROOT}src/requester_main.ts`;

/** The environment variable that picks what end-to-end tests run. */
export const E2E_ENTRY_VAR = "CONDOR_TOKEN_E2E_ENTRY";

/** What a finished tool run produced. */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for one tool run. */
export interface RunOptions {
  /** Environment for the child; from the parent only DENO_DIR (Deno's cache) is passed. */
  env?: Record<string, string>;
  /** Text written to the child's stdin (then closed). */
  stdin?: string;
  /** Kill the child after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Use the requester's flags instead of the full binary's. */
  requesterFlags?: boolean;
  /** Entry point to run instead of main.ts (e.g. the bundle); wins over the bundle knob. */
  entry?: string;
  /**
   * Limit on open files for the child (`ulimit -n`, through bash): soft and
   * hard, since Deno raises its soft limit to the hard one at start.
   */
  fdLimit?: number;
}

/** What the end-to-end suite runs: the sources, the bundles or the compiled binaries. */
export type E2eEntry = "source" | "bundle" | "binary";

/** Where the e2e runs come from: the sources (default), the bundles or the binaries. Needs --allow-env. */
export function e2eEntryKind(): E2eEntry {
  const kind = Deno.env.get(E2E_ENTRY_VAR) ?? "source";
  if (kind !== "source" && kind !== "bundle" && kind !== "binary") {
    throw new Error(
      `${E2E_ENTRY_VAR} must be "source", "bundle" or "binary", not ${JSON.stringify(kind)}`,
    );
  }
  return kind;
}

/** The bundle of a shipped program (`condor_token` or `condor_token_request`). */
export function bundleFile(name: string): string {
  const program = PROGRAMS.find((p) => p.name === name);
  if (!program) throw new Error(`No shipped program ${JSON.stringify(name)}`);
  const dir = Deno.env.get("CONDOR_TOKEN_E2E_BUNDLE_DIR");
  return dir ? `${dir}/${name}.js` : bundlePath(`${ROOT}dist`, program);
}

/** The compiled binary of a shipped program for this platform. Needs --allow-env. */
export function binaryFile(name: string): string {
  const program = PROGRAMS.find((p) => p.name === name);
  if (!program) throw new Error(`No shipped program ${JSON.stringify(name)}`);
  const dir = Deno.env.get("CONDOR_TOKEN_E2E_BINARY_DIR") || `${ROOT}dist/${VERSION}`;
  return `${dir.replace(/\/+$/, "")}/${binaryName(program, Deno.build.target)}`;
}

/** The program to start for a tool run, and its arguments. */
export function toolCommand(
  tool: string | undefined,
  args: readonly string[],
  options: RunOptions = {},
): { program: string; args: string[] } {
  if (options.entry === undefined && e2eEntryKind() === "binary") {
    // The requester's binary takes no tool name; the full one takes it first.
    return options.requesterFlags === true && tool === "condor_token_request"
      ? { program: binaryFile("condor_token_request"), args: [...args] }
      : {
        program: binaryFile("condor_token"),
        args: [...(tool === undefined ? [] : [tool]), ...args],
      };
  }
  return { program: Deno.execPath(), args: toolArgs(tool, args, options) };
}

/** Builds the `deno run` argument list for a tool (the sources or the bundles). */
export function toolArgs(
  tool: string | undefined,
  args: readonly string[],
  options: RunOptions = {},
) {
  const flags = options.requesterFlags ? REQUESTER_FLAGS : FULL_FLAGS;
  const toolAndArgs = [...(tool === undefined ? [] : [tool]), ...args];
  if (options.entry !== undefined) {
    return ["run", "--quiet", ...flags, options.entry, ...toolAndArgs];
  }
  // The requester ships as its own binary, which takes no tool name.
  const requester = options.requesterFlags === true && tool === "condor_token_request";
  if (e2eEntryKind() === "source") {
    return requester
      ? ["run", "--quiet", ...flags, REQUESTER_MAIN_TS, ...args]
      : ["run", "--quiet", ...flags, MAIN_TS, ...toolAndArgs];
  }
  if (e2eEntryKind() === "binary") {
    throw new Error("toolArgs() builds a `deno run` command: use toolCommand() for binaries");
  }
  // A bundle runs as its binary does: no deno.json, no import map, no lock.
  return requester
    ? ["run", "--quiet", "--no-config", ...flags, bundleFile("condor_token_request"), ...args]
    : ["run", "--quiet", "--no-config", ...flags, bundleFile("condor_token"), ...toolAndArgs];
}

/**
 * The test runner's Deno cache, handed to each child: tests give the child a
 * fake HOME, and without this Deno would look for (and download) npm
 * packages under it. The binary itself never reads DENO_DIR.
 */
function denoDir(): string {
  cachedDenoDir ??= Deno.env.get("DENO_DIR") ??
    JSON.parse(
      new TextDecoder().decode(
        new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
          .outputSync().stdout,
      ),
    ).denoDir as string;
  return cachedDenoDir;
}
let cachedDenoDir: string | undefined;

/** Spawns a tool; the caller reads and awaits the child. */
export function spawnTool(
  tool: string | undefined,
  args: readonly string[],
  options: RunOptions = {},
): Deno.ChildProcess {
  const command = toolCommand(tool, args, options);
  const [program, ...programArgs] = options.fdLimit === undefined
    ? [command.program, ...command.args]
    : [
      "bash",
      "-c",
      `ulimit -n ${options.fdLimit} && exec "$@"`,
      "bash",
      command.program,
      ...command.args,
    ];
  return new Deno.Command(program, {
    args: programArgs,
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
  return await finish(spawnTool(tool, args, options), options);
}

/**
 * Feeds `stdin` (if any) to a spawned child, waits for it, and returns its
 * exit code and decoded output; SIGKILLs it after `timeoutMs` (default 60 s).
 */
export async function finish(
  child: Deno.ChildProcess,
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<ToolResult> {
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
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
