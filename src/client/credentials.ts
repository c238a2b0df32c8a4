/**
 * The bearer credential for authenticated calls (administrators' tools):
 * a token from the user's token directory that the daemon will accept, or,
 * for whoever can read the pool's signing key, a short-lived token minted on
 * the spot for `condor@TRUST_DOMAIN`.
 *
 * @module
 */
import type { DaemonInfo } from "../api/protocol.ts";
import { DaemonError, KeyError, TokenError } from "../errors.ts";
import { decodeToken, mintToken } from "../token/idtoken.ts";
import {
  keyFilePath,
  type KeyLocations,
  POOL_KEY_ID,
  readSigningKey,
} from "../token/signing_key.ts";
import { currentUid } from "../token/private_file.ts";
import { readTokenDirectory } from "../token/token_file.ts";
import { type CredentialSource, DAEMON_ERRORS } from "./daemon_client.ts";

/** Lifetime of a token minted from a local signing key, in seconds. */
export const MINTED_LIFETIME_SECONDS = 300;

/** Where credentials may be found. */
export interface CredentialOptions {
  /**
   * Token directories in order of preference: SEC_TOKEN_DIRECTORY, and for
   * root also SEC_TOKEN_SYSTEM_DIRECTORY (see {@link tokenDirectoriesFor}).
   */
  tokenDirectories: readonly string[];
  /** File names skipped in token directories (LOCAL_CONFIG_DIR_EXCLUDE_REGEXP), as HTCondor does. */
  exclude?: RegExp;
  /** Signing key files; when readable, a token can be minted instead. */
  keys?: KeyLocations;
  /** Wall clock, epoch milliseconds. */
  now: () => number;
  /** Told which credential was chosen (never the token itself), for -debug. */
  trace?: (message: string) => void | Promise<void>;
  /**
   * Told of each token file skipped as unsafe (readable by others, a
   * symlink) or unreadable, so the user learns why a token was not used.
   */
  warn?: (message: string) => void | Promise<void>;
}

/**
 * The token directories a user's tools read: SEC_TOKEN_DIRECTORY, plus
 * SEC_TOKEN_SYSTEM_DIRECTORY when running as root, as HTCondor does.
 * Telling root apart needs --allow-sys=uid; without it (or on Windows) the
 * user's directory alone is used.
 */
export function tokenDirectoriesFor(
  user: string | undefined,
  system: string | undefined,
  uid: number | null = currentUid() ?? null,
): string[] {
  return [user, uid === 0 ? system : undefined].filter((d): d is string => !!d);
}

/** The credential a tool presented, and where it came from (never the token itself). */
export interface Credential {
  token: string;
  /** The identity it carries (`sub`). */
  identity: string;
  /** Where it came from, for messages: "the token in FILE line N", or the key it was minted with. */
  from: string;
}

/**
 * Finds a credential the daemon described by `info` will accept: the first
 * unexpired token whose `iss` is its trust domain and whose `kid` it holds;
 * else a 5-minute token minted for `condor@<trust domain>` with a readable
 * local signing key it holds (the daemon treats that identity as its
 * administrator: whoever can read the key can mint anything anyway). Token
 * files the directory scan skips are reported to `options.warn`, and so is
 * a token file for another identity chosen while a signing key is readable
 * (the user may not expect to be someone other than condor@). Throws
 * DaemonError(DAEMON_NO_CREDENTIALS) saying how to get one.
 * Needs --allow-read of the token directories and key files.
 */
export async function findCredential(
  info: DaemonInfo,
  options: CredentialOptions,
): Promise<Credential> {
  const trace = options.trace ?? (() => {});
  const nowSeconds = Math.floor(options.now() / 1000);
  const administrator = `condor@${info.trustDomain}`;
  for (const directory of options.tokenDirectories) {
    const scan = await readTokenDirectory(directory, { exclude: options.exclude });
    for (const warning of scan.warnings) await options.warn?.(warning);
    for (const entry of scan.tokens) {
      const identity = acceptable(entry.token, info, nowSeconds);
      if (identity === undefined) continue;
      const from = `the token in ${entry.file} line ${entry.line}`;
      await trace(`authenticating as ${identity} with ${from}`);
      const key = identity === administrator ? undefined : await readableKey(info, options);
      if (key !== undefined) {
        await options.warn?.(
          `authenticating as ${identity} with ${from}, although the signing key ${key} is readable here and would act as ${administrator}; move that token file away to act as ${administrator}`,
        );
      }
      return { token: entry.token, identity, from };
    }
  }
  if (options.keys) {
    for (const kid of heldKeyIds(info)) {
      let key;
      try {
        key = await readSigningKey(kid, options.keys);
      } catch (err) {
        if (!(err instanceof KeyError)) throw err;
        await trace(`signing key "${kid}" is not usable here: ${err.message}`);
        continue;
      }
      const { token } = await mintToken(key, {
        identity: administrator,
        issuer: info.trustDomain,
        now: nowSeconds,
        lifetime: MINTED_LIFETIME_SECONDS,
      });
      const from = `a ${MINTED_LIFETIME_SECONDS} s token minted with signing key ${
        keyFilePath(kid, options.keys)
      }`;
      await trace(`authenticating as ${administrator} with ${from}`);
      return { token, identity: administrator, from };
    }
  }
  const dirs = options.tokenDirectories.length > 0
    ? options.tokenDirectories.join(", ")
    : "(no token directory)";
  throw new DaemonError(
    DAEMON_ERRORS.NO_CREDENTIALS,
    `Cannot authenticate to the daemon (trust domain "${info.trustDomain}", keys ${
      info.issuerKeys.join(", ") || "none"
    }): no token in ${dirs} was issued by it, and no signing key it holds is readable here; get a token with condor_token_fetch or condor_token_request, or ask the pool administrator`,
  );
}

/** The daemon's keys, POOL first. */
function heldKeyIds(info: DaemonInfo): string[] {
  return [POOL_KEY_ID, ...info.issuerKeys.filter((k) => k !== POOL_KEY_ID)]
    .filter((k) => info.issuerKeys.includes(k));
}

/** The file of a signing key the daemon holds that is readable here, if any. */
async function readableKey(
  info: DaemonInfo,
  options: CredentialOptions,
): Promise<string | undefined> {
  if (!options.keys) return undefined;
  for (const kid of heldKeyIds(info)) {
    try {
      await readSigningKey(kid, options.keys);
      return keyFilePath(kid, options.keys);
    } catch (err) {
      if (!(err instanceof KeyError)) throw err;
    }
  }
  return undefined;
}

/**
 * A {@link CredentialSource} that looks the credential up once the daemon's
 * info is known, and remembers which it was.
 */
export class TrackedCredential {
  #options: CredentialOptions;
  #used: Credential | undefined;

  constructor(options: CredentialOptions) {
    this.#options = options;
  }

  /** The source to give a client. */
  readonly source: CredentialSource = async (client) => {
    this.#used = await findCredential(await client.info(), this.#options);
    return this.#used.token;
  };

  /** The credential presented, once one was. */
  get used(): Omit<Credential, "token"> | undefined {
    return this.#used === undefined
      ? undefined
      : { identity: this.#used.identity, from: this.#used.from };
  }
}

/**
 * The identity of `token` when it is issued by the daemon's trust domain,
 * with a key it holds, and unexpired; undefined otherwise.
 */
function acceptable(token: string, info: DaemonInfo, nowSeconds: number): string | undefined {
  let header: unknown, payload: unknown;
  try {
    ({ header, payload } = decodeToken(token));
  } catch (err) {
    if (err instanceof TokenError) return undefined; // Not a token: skip the line.
    throw err;
  }
  const h = header as { kid?: unknown } | null;
  const p = payload as { iss?: unknown; exp?: unknown; sub?: unknown } | null;
  const ok = typeof h?.kid === "string" && info.issuerKeys.includes(h.kid) &&
    p?.iss === info.trustDomain && typeof p?.sub === "string" && p.sub !== "" &&
    (typeof p?.exp !== "number" || p.exp > nowSeconds + 5);
  return ok ? p!.sub as string : undefined;
}
