/** condor_token_create: mint a token locally from a signing key file. */
import { UsageError } from "../errors.ts";
import type { Authorization } from "../token/authz.ts";
import { mintToken } from "../token/idtoken.ts";
import {
  assertPlainKeyId,
  keyLocationsOf,
  POOL_KEY_ID,
  readSigningKey,
} from "../token/signing_key.ts";
import { storeToken } from "../token/token_file.ts";
import { tokenDirectory, toolConfig, trustDomain } from "./_config.ts";
import { parseOptions, parseSeconds, single } from "./_options.ts";
import { asUsageError, parseAuthzList, parseDestination } from "./_token_options.ts";
import { type DebugOption, debugOption, debugSpec, defineTool, type Tool } from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const USAGE = `Usage: condor_token_create -identity USER@DOMAIN [-key KEYID] [-authz AUTHZ ...]
                           [-lifetime SECONDS] [-token NAME | -file PATH] [-debug]

Mints a token signed with a local signing key (read access to the key file is
required; no daemon is contacted) and prints it on stdout.

Options:
    -identity <USER@DOMAIN>  Identity the token authenticates as (required)
    -key      <KEYID>        Signing key to use (default: POOL)
    -authz    <AUTHZ>        Limit the token to this authorization; repeatable
    -lifetime <SECONDS>      Token expires this many seconds after signing
    -token    <NAME>         Store in SEC_TOKEN_DIRECTORY/NAME instead of stdout
    -file     <PATH>         Store in PATH instead of stdout
    -debug[:CATEGORIES]      Print debugging information on stderr (TOOL_DEBUG)
    -help                    Print this message
`;

const SPECS = [
  { name: "identity", min: 2, value: true },
  { name: "key", min: 1, value: true },
  { name: "authz", min: 1, value: true, repeat: true },
  { name: "lifetime", min: 1, value: true },
  { name: "token", min: 2, value: true },
  { name: "file", min: 1, value: true },
  debugSpec(),
  { name: "help", min: 1, value: false },
];

/** Options of condor_token_create. */
export interface CreateOptions {
  identity: string;
  key: string;
  authz: Authorization[];
  lifetime: number | undefined;
  token: string | undefined;
  file: string | undefined;
  debug: DebugOption | undefined;
}

/** Parses and validates the command line. Throws UsageError. */
export function parseCreateOptions(args: readonly string[]): CreateOptions {
  const parsed = parseOptions(args, SPECS);
  const identity = single(parsed, "identity");
  if (!identity) throw new UsageError("Option -identity is required");
  const lifetime = single(parsed, "lifetime");
  const options: CreateOptions = {
    identity,
    key: single(parsed, "key") ?? POOL_KEY_ID,
    authz: parseAuthzList(parsed.get("authz") ?? []),
    lifetime: lifetime === undefined ? undefined : parseSeconds(lifetime, "lifetime"),
    ...parseDestination(parsed),
    debug: debugOption(parsed),
  };
  asUsageError(() => assertPlainKeyId(options.key));
  return options;
}

/** Mints the token and stores or prints it. Needs --allow-read of config and key, --allow-write for -token/-file. */
export async function runCreate(options: CreateOptions, io: Io): Promise<number> {
  const { config, debug } = await toolConfig(io, options.debug);
  const key = await readSigningKey(options.key, keyLocationsOf(config));
  const { token, claims } = await mintToken(key, {
    identity: options.identity,
    issuer: trustDomain(config),
    now: Math.floor(io.now() / 1000),
    lifetime: options.lifetime,
    authz: options.authz,
  });
  await debug(`minted token ${claims.jti} for ${claims.sub} with key ${key.kid}`, "D_SECURITY");
  const directory = options.token === undefined ? undefined : tokenDirectory(config);
  const stored = await storeToken({ file: options.file, name: options.token, directory }, token);
  if (stored === undefined) await io.out(token + "\n");
  return EXIT.OK;
}

/** The condor_token_create tool. */
export const condorTokenCreate: Tool = defineTool({
  name: "condor_token_create",
  summary: "mint a token locally from a signing key",
  usage: USAGE,
  options: SPECS,
  parse: parseCreateOptions,
  run: runCreate,
});
