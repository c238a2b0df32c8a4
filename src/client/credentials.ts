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
import { type KeyLocations, POOL_KEY_ID, readSigningKey } from "../token/signing_key.ts";
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
  uid: number | null = currentUid(),
): string[] {
  return [user, uid === 0 ? system : undefined].filter((d): d is string => !!d);
}

function currentUid(): number | null {
  try {
    return Deno.uid();
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return null;
    }
    throw err;
  }
}

/**
 * Finds a credential the daemon described by `info` will accept: the first
 * unexpired token whose `iss` is its trust domain and whose `kid` it holds;
 * else a 5-minute token minted for `condor@<trust domain>` with a readable
 * local signing key it holds (the daemon treats that identity as its
 * administrator: whoever can read the key can mint anything anyway). Token
 * files the directory scan skips are reported to `options.warn`. Throws
 * DaemonError(DAEMON_NO_CREDENTIALS) saying how to get one.
 * Needs --allow-read of the token directories and key files.
 */
export async function findCredential(
  info: DaemonInfo,
  options: CredentialOptions,
): Promise<string> {
  const trace = options.trace ?? (() => {});
  const nowSeconds = Math.floor(options.now() / 1000);
  for (const directory of options.tokenDirectories) {
    const scan = await readTokenDirectory(directory);
    for (const warning of scan.warnings) await options.warn?.(warning);
    for (const entry of scan.tokens) {
      if (acceptable(entry.token, info, nowSeconds)) {
        await trace(`using the token in ${entry.file} line ${entry.line}`);
        return entry.token;
      }
    }
  }
  if (options.keys) {
    const kids = [POOL_KEY_ID, ...info.issuerKeys.filter((k) => k !== POOL_KEY_ID)]
      .filter((k) => info.issuerKeys.includes(k));
    for (const kid of kids) {
      let key;
      try {
        key = await readSigningKey(kid, options.keys);
      } catch (err) {
        if (!(err instanceof KeyError)) throw err;
        await trace(`signing key "${kid}" is not usable here: ${err.message}`);
        continue;
      }
      const identity = `condor@${info.trustDomain}`;
      const { token } = await mintToken(key, {
        identity,
        issuer: info.trustDomain,
        now: nowSeconds,
        lifetime: MINTED_LIFETIME_SECONDS,
      });
      await trace(`minted a ${MINTED_LIFETIME_SECONDS} s token for ${identity} with key "${kid}"`);
      return token;
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

/** A {@link CredentialSource} that looks the credential up once the daemon's info is known. */
export function credentialSource(options: CredentialOptions): CredentialSource {
  return async (client) => await findCredential(await client.info(), options);
}

/** Whether `token` is issued by the daemon's trust domain, with a key it holds, and unexpired. */
function acceptable(token: string, info: DaemonInfo, nowSeconds: number): boolean {
  let header: unknown, payload: unknown;
  try {
    ({ header, payload } = decodeToken(token));
  } catch (err) {
    if (err instanceof TokenError) return false; // Not a token: skip the line.
    throw err;
  }
  const h = header as { kid?: unknown } | null;
  const p = payload as { iss?: unknown; exp?: unknown } | null;
  return typeof h?.kid === "string" && info.issuerKeys.includes(h.kid) &&
    p?.iss === info.trustDomain &&
    (typeof p?.exp !== "number" || p.exp > nowSeconds + 5);
}
