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
import {
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

const NAME = "condor_token_create";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "mint a token locally from a signing key",
  synopsis: [
    "-identity USER@DOMAIN [-key KEYID] [-authz AUTHZ ...] [-lifetime SECONDS] " +
    "[-token NAME | -file PATH] [-debug]",
    "-help | -version",
  ],
  description: [
    "Mints a token signed with a local signing key and prints it on stdout. No daemon is " +
    "contacted: read access to the key file is required (SEC_TOKEN_POOL_SIGNING_KEY_FILE " +
    "for POOL, otherwise SEC_PASSWORD_DIRECTORY/KEYID, mode 0600), and the token's issuer " +
    "is TRUST_DOMAIN. Whoever can read the key can mint any token for any identity: keep " +
    "it to the account that owns it.",
  ],
  groups: ["Token options", OTHER_OPTIONS],
  options: [
    {
      name: "identity",
      min: 2,
      value: true,
      arg: "USER@DOMAIN",
      help: "Identity the token authenticates as (required)",
      group: "Token options",
    },
    {
      name: "key",
      min: 1,
      value: true,
      arg: "KEYID",
      help: "Signing key to use (default: POOL)",
      group: "Token options",
    },
    {
      name: "authz",
      min: 1,
      value: true,
      repeat: true,
      arg: "AUTHZ",
      help: "Limit the token to this authorization (READ, WRITE, DAEMON, ADMINISTRATOR, " +
        "ADVERTISE_STARTD, ...); repeatable",
      group: "Token options",
    },
    {
      name: "lifetime",
      min: 1,
      value: true,
      arg: "SECONDS",
      help: "The token expires this many seconds after signing (default: never)",
      group: "Token options",
    },
    {
      name: "token",
      min: 2,
      value: true,
      arg: "NAME",
      help: "Store in SEC_TOKEN_DIRECTORY/NAME (0600) instead of printing it",
      group: "Token options",
    },
    {
      name: "file",
      min: 1,
      value: true,
      arg: "PATH",
      help: "Store in PATH (0600) instead of printing it",
      group: "Token options",
    },
    debugSpec(),
    HELP_OPTION,
    VERSION_OPTION,
  ],
  exitStatus: [
    "0 token minted, 1 failure (key missing, unreadable or insecure, no TRUST_DOMAIN, the " +
    "token file cannot be written), 2 bad command line.",
  ],
  sections: [CONFIGURATION],
  examples: [{
    about: "An administrator's token for alice, valid for 30 days, stored in a file for her:",
    command:
      `${NAME} -identity alice@pool.example.org -authz ADMINISTRATOR -lifetime 2592000 -file alice.token`,
  }],
  seeAlso: ["condor_token_list(1)", "condor_token_fetch(1)", "condor_token_request(1)"],
};

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
  const parsed = parseOptions(args, DOC.options);
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
    now: Math.floor(io.clock.now() / 1000),
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
  doc: DOC,
  parse: parseCreateOptions,
  run: runCreate,
});
