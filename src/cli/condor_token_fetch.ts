/**
 * condor_token_fetch: an already authenticated user asks a daemon for a token
 * for their own identity, never broader than the credential they hold (the
 * daemon narrows the scope and caps the lifetime, or refuses).
 */
import { TokenError } from "../errors.ts";
import type { Authorization } from "../token/authz.ts";
import { checkIssuedToken } from "../token/issued_token.ts";
import { decodeToken } from "../token/idtoken.ts";
import { assertPlainKeyId } from "../token/signing_key.ts";
import { prepareTokenDestination, storeToken } from "../token/token_file.ts";
import { tokenDirectory } from "./_config.ts";
import { parseOptions, single } from "./_options.ts";
import { targetExitCode, withJsonFailure } from "./_exit_status.ts";
import { tidyRefusal } from "./_refusals.ts";
import { openSession } from "./_session.ts";
import {
  jsonOption,
  parseTarget,
  TARGET_OPTIONS,
  type TargetOptions,
  targetOptions,
} from "./_target_options.ts";
import { defineTool, OTHER_OPTIONS, type Tool } from "./_tool.ts";
import { AUTHENTICATION, CONFIGURATION, TRUST } from "./_common_doc.ts";
import { NOT_SUPPORTED, type ToolDoc } from "./_doc.ts";
import { asUsageError, parseAuthzList, parseDestination, parseLifetime } from "./_token_options.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { jsonText } from "./_json_text.ts";

const NAME = "condor_token_fetch";

/**
 * The daemon types tried without -type: HTCondor's default, a SCHEDD, if the
 * pool lists one; else the pool's collector, which is where condor_tokend
 * runs by default (it lists itself as a COLLECTOR).
 */
export const FETCH_TYPES = ["SCHEDD", "COLLECTOR"] as const;

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "get a token for your own identity from a daemon",
  synopsis: [
    "[-authz AUTHZ ...] [-lifetime SECONDS] [-token NAME | -file PATH] [-key KEYID] [-json] " +
    "[-pool HOST[:PORT]] [-name NAME] [-type TYPE] [-trust sha256:...] [-debug]",
    "-help | -version",
  ],
  description: [
    "Gets a token for your own identity from a daemon, authenticating with a token you " +
    "already hold (SEC_TOKEN_DIRECTORY) or a signing key you can read, and prints it on " +
    "stdout. The new token is never broader than the credential used: authorizations it " +
    "does not carry are dropped (refused if none is left), and it expires no later than " +
    "that credential; a note on stderr says when the daemon narrowed what was asked.",
    "HTCondor's default type for this tool is SCHEDD. condor_tokend lists itself as a " +
    "COLLECTOR by default, so without -type the tool asks a SCHEDD when the pool's " +
    "collector lists one, and otherwise the collector itself; -debug shows which. With " +
    "-type there is no fallback. From an HTCondor daemon the token is fetched as HTCondor's " +
    "own tool fetches it (DC_GET_SESSION_TOKEN), for the identity the daemon authenticated " +
    "(FS, a token, or an SSL certificate it maps), within the authorizations and lifetime " +
    "of that session; the daemon must have proved who it is first (see TRUST).",
  ],
  groups: ["Token options", TARGET_OPTIONS, OTHER_OPTIONS, NOT_SUPPORTED],
  // HTCondor's order (first match wins): -t is -type, -to is -token; then ours.
  options: [
    {
      name: "authz",
      min: 1,
      value: true,
      repeat: true,
      arg: "AUTHZ",
      help: "Limit the token to this authorization (READ, WRITE, ...); repeatable (default: " +
        "those of your credential)",
      group: "Token options",
    },
    {
      name: "lifetime",
      min: 1,
      value: true,
      arg: "SECONDS",
      help: "Lifetime of the token (default: that of your credential)",
      group: "Token options",
    },
    {
      name: "token",
      min: 2,
      value: true,
      arg: "NAME",
      help: "Store the token in SEC_TOKEN_DIRECTORY/NAME (0600) instead of printing it",
      group: "Token options",
    },
    {
      name: "file",
      min: 1,
      value: true,
      arg: "PATH",
      help: "Store the token in PATH (0600) instead of printing it",
      group: "Token options",
    },
    jsonOption(
      'Print one JSON object on stdout instead of the token: {"outcome": "issued", ' +
        '"exitCode", "identity", "authorizations", "expiresAt", "token" (or "tokenFile" ' +
        'with -token or -file), "narrowed"}',
      "Token options",
    ),
    {
      name: "key",
      min: 1,
      value: true,
      arg: "KEYID",
      help: "Ask the daemon to sign with this key (default: its SEC_TOKEN_ISSUER_KEY; it " +
        "signs only with keys in its SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS)",
      group: "Token options",
    },
    ...targetOptions(`SCHEDD when the pool lists one, else COLLECTOR`),
    {
      name: "remote",
      min: 1,
      value: false,
      unsupported: "it has an HTCondor collector fetch a token from a schedd on your behalf " +
        "(HTCondor's own collector command), which condor_tokend does not offer and this tool " +
        "does not send; run condor_token_fetch -type SCHEDD against the schedd itself",
      help: "HTCondor's tool has the collector fetch the token from the schedd named by -name " +
        "on your behalf. Refused here, with one line saying so (exit status 2): condor_tokend " +
        "has no such command and this tool does not send HTCondor's",
      group: NOT_SUPPORTED,
    },
  ],
  exitStatus: [
    "0 token delivered, 1 other failures, 2 bad command line, 7 daemon unreachable, " +
    "8 certificate not trusted, 9 no credential, or the daemon refused (no requested " +
    "authorization allowed, key not allowed).",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [{
    about: "A user with a READ and WRITE token gets a read-only one for a job, valid for an hour:",
    command: `${NAME} -authz READ -lifetime 3600 -token job-read`,
  }],
  seeAlso: ["condor_token_create(1)", "condor_token_list(1)", "condor_token_request(1)"],
};

/** Options of condor_token_fetch. */
export interface FetchOptions {
  target: TargetOptions;
  authz: Authorization[];
  lifetime: number | undefined;
  token: string | undefined;
  file: string | undefined;
  key: string | undefined;
  json: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseFetchOptions(args: readonly string[]): FetchOptions {
  const parsed = parseOptions(args, DOC.options);
  const options: FetchOptions = {
    target: parseTarget(parsed),
    authz: parseAuthzList(parsed.get("authz") ?? []),
    lifetime: parseLifetime(parsed),
    ...parseDestination(parsed),
    key: single(parsed, "key"),
    json: parsed.has("json"),
  };
  asUsageError(() => {
    if (options.key !== undefined) assertPlainKeyId(options.key);
  });
  return options;
}

/**
 * Fetches the token and prints or stores it; says on stderr when the daemon
 * narrowed what was asked. Needs what openSession needs, plus --allow-write
 * of the token's destination.
 */
export async function runFetch(options: FetchOptions, io: Io): Promise<number> {
  const { client, config, debug, caller, identity } = await openSession(options.target, io, {
    tool: NAME,
    types: FETCH_TYPES,
  });
  let token: string;
  let tokenDir: string | undefined;
  try {
    // Checked before asking, so a token is not fetched only to be lost.
    if (options.token !== undefined) tokenDir = tokenDirectory(config);
    await prepareTokenDestination({ file: options.file, name: options.token, directory: tokenDir });
    ({ token } = await client.fetchToken({
      authz: options.authz,
      lifetime: options.lifetime ?? null,
      ...(options.key === undefined ? {} : { key: options.key }),
    }, io.signal));
    // Nothing is stored or shown that is not the token asked for: one for whom we authenticated as.
    checkIssuedToken(token, {
      identity: identity(),
      authz: options.authz,
      lifetime: options.lifetime ?? null,
      trustDomain: config.isSet("TRUST_DOMAIN")
        ? config.get("TRUST_DOMAIN")?.trim()
        : (await client.info(io.signal)).trustDomain || undefined,
      ...(options.key === undefined ? {} : { key: options.key }),
    });
  } catch (err) {
    throw tidyRefusal(err, caller());
  } finally {
    client.close();
  }
  const notes = narrowed(token, options);
  for (const note of notes) await io.err(`${NAME}: ${note}\n`);
  const stored = await storeToken(
    { file: options.file, name: options.token, directory: tokenDir },
    token,
  );
  if (options.json) {
    await io.out(jsonText(fetchedJson(token, stored, notes)) + "\n");
  } else if (stored === undefined) {
    await io.out(token + "\n");
  }
  if (stored !== undefined) await debug(`token written to ${stored}`);
  return EXIT.OK;
}

/**
 * The -json object of a fetched token: `outcome` "issued", `exitCode`, the
 * token's identity, authorizations (`[]`: unrestricted) and expiry (epoch
 * seconds, null: none), then the token itself or the file it went to, and
 * how it falls short of what was asked (the notes also said on stderr).
 */
function fetchedJson(
  token: string,
  stored: string | undefined,
  notes: readonly string[],
): Record<string, unknown> {
  const payload = (decodeToken(token).payload ?? {}) as {
    sub?: unknown;
    scope?: unknown;
    exp?: unknown;
  };
  const scope = typeof payload.scope === "string" ? payload.scope : "";
  return {
    outcome: "issued",
    exitCode: EXIT.OK,
    identity: typeof payload.sub === "string" ? payload.sub : null,
    authorizations: scope.split(/\s+/).filter(Boolean).map((s) => s.replace(/^condor:\//, "")),
    expiresAt: typeof payload.exp === "number" ? payload.exp : null,
    ...(stored === undefined ? { token } : { tokenFile: stored }),
    narrowed: notes,
  };
}

/** How the issued token falls short of what was asked, one sentence each (never the token). */
export function narrowed(token: string, asked: Pick<FetchOptions, "authz" | "lifetime">): string[] {
  let payload: { iat?: unknown; exp?: unknown; scope?: unknown };
  try {
    payload = (decodeToken(token).payload ?? {}) as typeof payload;
  } catch (err) {
    if (err instanceof TokenError) return [];
    throw err;
  }
  const notes: string[] = [];
  const scope = typeof payload.scope === "string"
    ? payload.scope.split(/\s+/).filter(Boolean).map((s) => s.replace(/^condor:\//, ""))
    : [];
  const dropped = asked.authz.filter((a) => scope.length > 0 && !scope.includes(a));
  if (dropped.length > 0) {
    notes.push(
      `the token does not carry ${dropped.join(", ")}: the credential used does not have ` +
        `${dropped.length === 1 ? "it" : "them"} (it carries ${scope.join(", ")})`,
    );
  }
  if (asked.lifetime !== undefined && typeof payload.iat === "number") {
    const lifetime = typeof payload.exp === "number" ? payload.exp - payload.iat : Infinity;
    if (lifetime < asked.lifetime) {
      notes.push(
        `the token lives ${lifetime} s, not the ${asked.lifetime} s asked: it cannot outlive ` +
          `the credential used, or the daemon's SEC_ISSUED_TOKEN_EXPIRATION`,
      );
    }
  }
  return notes;
}

/** The condor_token_fetch tool. */
export const condorTokenFetch: Tool = defineTool({
  doc: DOC,
  parse: parseFetchOptions,
  run: (options, io) => withJsonFailure(options.json, io, () => runFetch(options, io)),
  exitCodeOf: targetExitCode,
});
