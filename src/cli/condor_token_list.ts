/** condor_token_list: show every token in the token directory, decoded, unverified. */
import { TokenError, UsageError } from "../errors.ts";
import { DAEMON_TYPES, parseDaemonType } from "../client/locate.ts";
import { base64UrlText } from "../token/idtoken.ts";
import { DEFAULT_EXCLUDED_FILE_NAMES } from "../config/condor_config.ts";
import { readTokenDirectory, readTokenFile, type TokenEntry } from "../token/token_file.ts";
import { tokenDirectory, toolConfig } from "./_config.ts";
import { parseOptions, single } from "./_options.ts";
import {
  debugLog,
  type DebugOption,
  debugOption,
  debugSpec,
  defineTool,
  HELP_OPTION,
  OTHER_OPTIONS,
  type Tool,
  VERSION_OPTION,
} from "./_tool.ts";
import { CONFIGURATION } from "./_common_doc.ts";
import { NOT_SUPPORTED, type ToolDoc } from "./_doc.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_token_list";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "list the tokens in the token directory",
  synopsis: ["[-dir DIRECTORY | -file FILE] [-debug]", "-help | -version"],
  description: [
    "Lists the tokens in the token directory (SEC_TOKEN_DIRECTORY, default " +
    "~/.condor/tokens.d), or in one file, one line per token, as HTCondor's " +
    'condor_token_list prints them: "Header: {...} Payload: {...} File: PATH". Tokens are ' +
    "decoded, not verified (no key is needed). In a directory, files other users can read " +
    "and symbolic links are skipped with a warning on stderr, and file names HTCondor skips " +
    "(editor backups, dot files, #old) are not listed; a line that is not a token is " +
    "skipped with a warning.",
  ],
  groups: ["Options", OTHER_OPTIONS, NOT_SUPPORTED],
  // HTCondor's order (the first match wins): -d is -debug, -di is -dir.
  options: [
    debugSpec(),
    HELP_OPTION,
    {
      name: "dir",
      min: 1,
      value: true,
      arg: "DIRECTORY",
      help: "Read this directory instead (no configuration is read then)",
      group: "Options",
    },
    {
      name: "file",
      min: 1,
      value: true,
      arg: "FILE",
      help: "Read only this file, whatever its mode (no configuration is read then); it wins " +
        "over -dir, as in HTCondor",
      group: "Options",
    },
    {
      name: "capability",
      min: 1,
      value: false,
      unsupported: 'it asks an HTCondor daemon what a capability token (one with a "cap" ' +
        "claim) may do, with HTCondor's DC_SEC_QUERY command, which this tool does not send " +
        "and condor_tokend does not answer",
      help: "HTCondor's tool asks the daemon -pool, -name and -type locate (default the " +
        "local SCHEDD) what each capability token may do. Refused here, with one line saying " +
        "so (exit status 2)",
      group: NOT_SUPPORTED,
    },
    {
      name: "pool",
      min: 1,
      value: true,
      arg: "HOST[:PORT]",
      help: "Where -capability would look for the daemon; accepted and, as in HTCondor " +
        "without -capability, without effect",
      group: NOT_SUPPORTED,
    },
    {
      name: "name",
      min: 1,
      value: true,
      arg: "NAME",
      help: "The daemon -capability would ask; accepted and without effect, as -pool",
      group: NOT_SUPPORTED,
    },
    {
      name: "type",
      min: 1,
      value: true,
      arg: "TYPE",
      help: "The type of daemon -capability would ask (checked to be a daemon type); " +
        "accepted and without effect, as -pool",
      group: NOT_SUPPORTED,
    },
    VERSION_OPTION,
  ],
  exitStatus: [
    "0 listed (also when there is no token), 1 failure (-file names a file that cannot be " +
    "read; HTCondor's tool exits 0 then), 2 bad command line or -capability.",
  ],
  sections: [CONFIGURATION],
  examples: [
    { about: "List your tokens:", command: NAME },
    { about: "Show what a token file holds:", command: `${NAME} -file ./alice.token` },
  ],
  seeAlso: ["condor_token_create(1)", "condor_token_fetch(1)", "condor_token_request(1)"],
};

/**
 * Lists tokens: of `-file`, of `-dir`, or of the configured token directory.
 * Needs --allow-read of the configuration and the token files.
 */
export async function runList(options: ListOptions, io: Io): Promise<number> {
  let debug = debugLog(io, options.debug !== undefined, options.debug?.categories);
  let entries: TokenEntry[];
  if (options.file !== undefined) {
    await debug(`reading the tokens in ${options.file}`);
    entries = await readTokenFile(options.file);
  } else {
    let directory = options.dir;
    // Files HTCondor skips (editor backups, `#old`, dot files) are not listed either.
    let exclude: RegExp | undefined = DEFAULT_EXCLUDED_FILE_NAMES;
    if (directory === undefined) {
      // Only without -dir (or -file) is the configuration (and so TOOL_DEBUG) read.
      const setup = await toolConfig(io, options.debug);
      directory = tokenDirectory(setup.config);
      exclude = setup.config.excludedFileNames();
      debug = setup.debug;
    }
    await debug(`looking for tokens in ${directory}`);
    const scan = await readTokenDirectory(directory, { exclude });
    for (const warning of scan.warnings) await io.err(`${NAME}: ${warning}\n`);
    entries = scan.tokens;
  }
  for (const entry of entries) {
    const parts = entry.token.split(".");
    let header: string | undefined, payload: string | undefined;
    try {
      if (parts.length === 3) {
        [header, payload] = [base64UrlText(parts[0]), base64UrlText(parts[1])];
      }
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
    }
    if (header === undefined || payload === undefined) {
      // A line that is not a JWT is skipped, as HTCondor does, but we say where.
      await io.err(`${NAME}: Ignoring ${entry.file} line ${entry.line}: not a decodable token\n`);
      continue;
    }
    await io.out(`Header: ${header} Payload: ${payload} File: ${entry.file}\n`);
  }
  return EXIT.OK;
}

/** Parses the command line. Throws UsageError. */
export function parseListOptions(args: readonly string[]): ListOptions {
  const parsed = parseOptions(args, DOC.options);
  const type = single(parsed, "type");
  if (type !== undefined && parseDaemonType(type) === undefined) {
    throw new UsageError(
      `Invalid value for -type: "${type}" is not a daemon type (${DAEMON_TYPES.join(", ")})`,
    );
  }
  for (const name of ["dir", "file"]) {
    if (single(parsed, name) === "") {
      throw new UsageError(`Invalid value for -${name}: it is empty`);
    }
  }
  return { dir: single(parsed, "dir"), file: single(parsed, "file"), debug: debugOption(parsed) };
}

/** Options of condor_token_list (-pool, -name and -type are taken and have no effect). */
export interface ListOptions {
  dir?: string;
  /** One token file to list; wins over `dir`. */
  file?: string;
  debug: DebugOption | undefined;
}

/** The condor_token_list tool. */
export const condorTokenList: Tool = defineTool({
  doc: DOC,
  parse: parseListOptions,
  run: runList,
});
