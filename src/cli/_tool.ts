/**
 * What every tool module exports, and the shared wrapper that turns typed
 * errors into one clear line on stderr and an exit code.
 */
import { CondorError, UsageError } from "../errors.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

/** A command line tool. */
export interface Tool {
  /** The HTCondor name, e.g. `condor_token_create`. */
  name: string;
  /** One line for the tool list. */
  summary: string;
  /** Usage text printed by `-help` and after a usage error. */
  usage: string;
  /** Runs the tool; resolves to the process exit code. */
  main(args: readonly string[], io: Io): Promise<number>;
}

/** Maps an error to its exit code; tools may refine this with their own table. */
export type ExitCodeOf = (err: CondorError) => number;

/**
 * Runs `body`, printing a CondorError as one line on stderr (plus the usage
 * for a usage error). Other errors are bugs and propagate.
 */
export async function guard(
  tool: Pick<Tool, "name" | "usage">,
  io: Io,
  body: () => Promise<number>,
  exitCodeOf: ExitCodeOf = () => EXIT.FAILURE,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      await io.err(`${tool.name}: ${err.message}\n${tool.usage}`);
      return EXIT.USAGE;
    }
    if (err instanceof CondorError) {
      await io.err(`${tool.name}: ${err.message}\n`);
      return exitCodeOf(err);
    }
    throw err;
  }
}

/** True when `args` asks for help (`-help` or any prefix, `-h`). */
export function wantsHelp(args: readonly string[]): boolean {
  return args.some((a) => /^--?h(e(lp?)?)?$/.test(a));
}

/** Writes debugging lines to stderr when enabled. */
export type DebugLog = (message: string) => Promise<void>;

/** Returns a DebugLog that writes to stderr only when `enabled`. */
export function debugLog(io: Io, enabled: boolean): DebugLog {
  return enabled ? (message) => io.err(`DEBUG: ${message}\n`) : () => Promise.resolve();
}
