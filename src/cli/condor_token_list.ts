/** condor_token_list: show every token in the token directory, decoded, unverified. */
import { TokenError } from "../errors.ts";
import { base64UrlText } from "../token/idtoken.ts";
import { DEFAULT_EXCLUDED_FILE_NAMES } from "../config/condor_config.ts";
import { readTokenDirectory } from "../token/token_file.ts";
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
import type { ToolDoc } from "./_doc.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_token_list";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "list the tokens in the token directory",
  synopsis: ["[-dir DIRECTORY] [-debug]", "-help | -version"],
  description: [
    "Lists the tokens in the token directory (SEC_TOKEN_DIRECTORY, default " +
    "~/.condor/tokens.d), one line per token, as HTCondor's condor_token_list prints " +
    "them: " +
    '"Header: {...} Payload: {...} File: PATH". Tokens are decoded, not verified (no key ' +
    "is needed). Files other users can read, symbolic links and lines that are not tokens " +
    "are skipped with a warning on stderr; file names HTCondor skips (editor backups, " +
    "dot files, #old) are not listed.",
  ],
  groups: ["Options", OTHER_OPTIONS],
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
    VERSION_OPTION,
  ],
  exitStatus: ["0 listed (also when there is no token), 1 failure, 2 bad command line."],
  sections: [CONFIGURATION],
  examples: [{ about: "List your tokens:", command: NAME }],
  seeAlso: ["condor_token_create(1)", "condor_token_fetch(1)", "condor_token_request(1)"],
};

/** Lists tokens. Needs --allow-read of the configuration and the token directory. */
export async function runList(options: ListOptions, io: Io): Promise<number> {
  let debug = debugLog(io, options.debug !== undefined, options.debug?.categories);
  let directory = options.dir;
  // Files HTCondor skips (editor backups, `#old`, dot files) are not listed either.
  let exclude: RegExp | undefined = DEFAULT_EXCLUDED_FILE_NAMES;
  if (directory === undefined) {
    // Only without -dir is the configuration (and so TOOL_DEBUG) read.
    const setup = await toolConfig(io, options.debug);
    directory = tokenDirectory(setup.config);
    exclude = setup.config.excludedFileNames();
    debug = setup.debug;
  }
  await debug(`looking for tokens in ${directory}`);
  const scan = await readTokenDirectory(directory, { exclude });
  for (const warning of scan.warnings) await io.err(`condor_token_list: ${warning}\n`);
  for (const entry of scan.tokens) {
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
      await io.err(
        `condor_token_list: Ignoring ${entry.file} line ${entry.line}: not a decodable token\n`,
      );
      continue;
    }
    await io.out(`Header: ${header} Payload: ${payload} File: ${entry.file}\n`);
  }
  return EXIT.OK;
}

/** Parses the command line. Throws UsageError. */
export function parseListOptions(args: readonly string[]): ListOptions {
  const parsed = parseOptions(args, DOC.options);
  return { dir: single(parsed, "dir"), debug: debugOption(parsed) };
}

/** Options of condor_token_list. */
export interface ListOptions {
  dir?: string;
  debug: DebugOption | undefined;
}

/** The condor_token_list tool. */
export const condorTokenList: Tool = defineTool({
  doc: DOC,
  parse: parseListOptions,
  run: runList,
});
