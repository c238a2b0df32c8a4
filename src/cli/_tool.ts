/**
 * What every tool module exports, and the shared wrapper that turns typed
 * errors into one clear line on stderr and an exit code.
 */
import { CondorError, UnsupportedOptionError, UsageError } from "../errors.ts";
import { type DocumentedOption, type ToolDoc, usageText } from "./_doc.ts";
import { matchOption, type OptionSpec, type ParsedOptions } from "./_options.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { versionLine } from "./version.ts";

/** A command line tool. */
export interface Tool {
  /** The HTCondor name, e.g. `condor_token_create`. */
  name: string;
  /** One line for the tool list. */
  summary: string;
  /** Usage text printed by `-help` and after a usage error. */
  usage: string;
  /** What -help and the manual page are made from. */
  doc: ToolDoc;
  /** Runs the tool; resolves to the process exit code. */
  main(args: readonly string[], io: Io): Promise<number>;
}

/** Maps an error to its exit code; tools may refine this with their own table. */
type ExitCodeOf = (err: CondorError) => number;

/**
 * Runs `body`, printing a CondorError as one line on stderr (plus the usage
 * for a usage error). Other errors are bugs and propagate.
 */
async function guard(
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
    if (err instanceof UnsupportedOptionError) {
      await io.err(`${tool.name}: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof CondorError) {
      await io.err(`${tool.name}: ${err.message}\n`);
      return exitCodeOf(err);
    }
    throw err;
  }
}

/** What a tool is made of: its documentation, a pure options parser and a runner. */
export interface ToolParts<Options> {
  /** Name, options (`-help` and `-version` among them are answered before parsing), texts. */
  doc: ToolDoc;
  /** Parses and validates the command line; throws UsageError. */
  parse(args: readonly string[]): Options;
  /** Does the work; resolves to the exit code. */
  run(options: Options, io: Io): Promise<number>;
  /** Exit code for a failure other than a usage error (default EXIT.FAILURE). */
  exitCodeOf?: (err: CondorError, io: Io) => number;
}

/**
 * Builds a Tool from its parts: `-help` prints the usage on stdout (exit 0),
 * `-version` the version; otherwise parse then run, with failures reported
 * by {@link guard}.
 */
export function defineTool<Options>(parts: ToolParts<Options>): Tool {
  const tool: Tool = {
    name: parts.doc.name,
    summary: parts.doc.summary,
    usage: usageText(parts.doc),
    doc: parts.doc,
    async main(args, io) {
      const asked = askedFor(args, parts.doc.options);
      if (asked === "help") {
        await io.out(tool.usage);
        return EXIT.OK;
      }
      if (asked === "version") {
        await io.out(versionLine());
        return EXIT.OK;
      }
      return await guard(
        tool,
        io,
        async () => await parts.run(parts.parse(args), io),
        (err) => parts.exitCodeOf?.(err, io) ?? EXIT.FAILURE,
      );
    },
  };
  return tool;
}

/**
 * "help" when `args` asks for help: `-help` (or a prefix the tool accepts)
 * in an option's place, not as another option's value (`-reason -help` is a
 * reason); else "version" for `-version` likewise; else undefined.
 */
function askedFor(
  args: readonly string[],
  specs: readonly OptionSpec[],
): "help" | "version" | undefined {
  let version = false;
  for (let i = 0; i < args.length; i++) {
    const spec = matchOption(args[i], specs);
    if (spec?.name === "help") return "help";
    if (spec?.name === "version") version = true;
    if (spec?.value) i++;
  }
  return version ? "version" : undefined;
}

/** The heading of -help, -version and -debug in every tool's usage. */
export const OTHER_OPTIONS = "Other options";

/** `-help`: any prefix, as in HTCondor. */
export const HELP_OPTION: DocumentedOption = {
  name: "help",
  min: 1,
  value: false,
  help: "Print this message and exit",
  group: OTHER_OPTIONS,
};

/** `-version`: spelled out, as main.ts takes it before a tool's name too. */
export const VERSION_OPTION: DocumentedOption = {
  name: "version",
  min: 7,
  exact: true,
  value: false,
  help: "Print the version of condor_token and exit",
  group: OTHER_OPTIONS,
};

/**
 * The debug categories the tools write in, HTCondor's names: D_ALWAYS lines
 * show whenever -debug is given; the others only when TOOL_DEBUG selects them.
 */
export type DebugCategory = "D_ALWAYS" | "D_SECURITY" | "D_NETWORK" | "D_FULLDEBUG";

/**
 * `-debug` as given (undefined when it was not): HTCondor's tools take
 * `-debug:D_SECURITY,D_FULLDEBUG`, whose categories then stand in for
 * TOOL_DEBUG's; `-debug` alone (or `-debug:`) uses TOOL_DEBUG.
 */
export interface DebugOption {
  /** The categories after the colon; undefined to use TOOL_DEBUG. */
  categories?: string;
}

/**
 * The -debug option of a parsed command line (spec `debug`, a colon flag),
 * or undefined when it was not given.
 */
export function debugOption(parsed: ParsedOptions): DebugOption | undefined {
  const given = parsed.get("debug");
  if (given === undefined) return undefined;
  const categories = given.at(-1)?.trim();
  return categories ? { categories } : {};
}

/**
 * The spec of `-debug`: any prefix from `min` letters (HTCondor's tools take
 * `-d`), and `-debug:CATEGORIES`; repeatable, as HTCondor takes it again.
 */
export function debugSpec(min = 1): DocumentedOption {
  return {
    name: "debug",
    min,
    value: false,
    colon: true,
    repeat: true,
    arg: "CATEGORIES",
    help: "Print debugging information on stderr: the main steps, and the categories " +
      "TOOL_DEBUG names, or those given after the colon (D_SECURITY trust and credentials, " +
      "D_NETWORK retries, D_FULLDEBUG or D_ALL everything, e.g. -debug:D_SECURITY,D_NETWORK)",
    group: OTHER_OPTIONS,
  };
}

/** Writes one -debug line to stderr, in `category` (D_ALWAYS when none is given). */
export type DebugLog = (message: string, category?: DebugCategory) => Promise<void>;

/** TOOL_DEBUG values that select every category. */
const EVERY_CATEGORY = ["D_ALL", "D_ANY", "D_FULLDEBUG"];

/**
 * Returns the -debug log: silent unless `enabled`; then `DEBUG: ` lines on
 * `sink`'s stderr for D_ALWAYS and for the categories `toolDebug` (the
 * TOOL_DEBUG knob) names, as HTCondor spells them: comma- or space-separated,
 * any case, an optional `:N` verbosity ignored. D_ALL, D_ANY or D_FULLDEBUG
 * select everything, and so does an unset or empty TOOL_DEBUG.
 */
export function debugLog(
  sink: Pick<Io, "err">,
  enabled: boolean,
  toolDebug: string | undefined,
): DebugLog {
  if (!enabled) return () => Promise.resolve();
  const wanted = new Set(
    (toolDebug ?? "").split(/[\s,]+/).filter(Boolean).map((c) =>
      c.replace(/:\d+$/, "").toUpperCase()
    ),
  );
  const all = wanted.size === 0 || EVERY_CATEGORY.some((c) => wanted.has(c));
  return async (message, category = "D_ALWAYS") => {
    if (all || category === "D_ALWAYS" || wanted.has(category)) {
      await sink.err(`DEBUG: ${message}\n`);
    }
  };
}
