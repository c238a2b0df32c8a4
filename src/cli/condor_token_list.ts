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
  type Tool,
} from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const USAGE = `Usage: condor_token_list [-dir DIRECTORY] [-debug]

Lists the tokens in the token directory (SEC_TOKEN_DIRECTORY, default
~/.condor/tokens.d), one line per token. Tokens are decoded, not verified.

Options:
    -dir   <DIRECTORY>  Read this directory instead
    -debug[:CATEGORIES] Print debugging information on stderr (TOOL_DEBUG)
    -help               Print this message
`;

// HTCondor's order (the first match wins): -d is -debug, -di is -dir.
const SPECS = [
  debugSpec(),
  { name: "help", min: 1, value: false },
  { name: "dir", min: 1, value: true },
];

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
  const parsed = parseOptions(args, SPECS);
  return { dir: single(parsed, "dir"), debug: debugOption(parsed) };
}

/** Options of condor_token_list. */
export interface ListOptions {
  dir?: string;
  debug: DebugOption | undefined;
}

/** The condor_token_list tool. */
export const condorTokenList: Tool = defineTool({
  name: "condor_token_list",
  summary: "list the tokens in the token directory",
  usage: USAGE,
  options: SPECS,
  parse: parseListOptions,
  run: runList,
});
