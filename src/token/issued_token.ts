/**
 * Checking a token a daemon issued before it is stored or shown: the
 * requester (and condor_token_fetch) cannot verify the signature without the
 * pool's key, but it can refuse anything that is not the IDTOKEN it asked
 * for: another identity, another issuer, more authorizations or a longer
 * life than requested, or text that is no JWT at all (which could smuggle
 * extra lines into a token file).
 *
 * @module
 */
import { TokenError } from "../errors.ts";
import { printable } from "../client/_printable.ts";
import { scopeAllows } from "./authz.ts";
import { decodeToken } from "./idtoken.ts";
import { isPlainFileName } from "./private_file.ts";

/** Longest token accepted from a daemon; HTCondor's are a few hundred bytes. */
export const MAX_ISSUED_TOKEN_BYTES = 16 * 1024;

/** What was asked for, and whom the token must come from. */
export interface IssuedTokenExpectation {
  /** The identity asked for (`sub` must be exactly this); undefined when the daemon chooses (fetch). */
  identity: string | undefined;
  /** Authorizations asked for; empty for an unrestricted token. */
  authz: readonly string[];
  /** Lifetime asked for in seconds, or null for none. */
  lifetime: number | null;
  /** The pool's trust domain (`iss` must be exactly this), when known. */
  trustDomain: string | undefined;
  /** The signing key asked for (`kid` must be exactly this), when one was (fetch -key). */
  key?: string;
}

/** The claims of a token that passed {@link checkIssuedToken}. */
export interface IssuedToken {
  sub: string;
  iss: string;
  iat: number;
  exp: number | undefined;
  /** Levels in its scope; empty for unrestricted. */
  authz: string[];
}

/**
 * Throws TokenError TOKEN_NOT_AS_REQUESTED (or TOKEN_MALFORMED) unless
 * `token` is a well-formed HS256 IDTOKEN for `expected.identity`, issued by
 * `expected.trustDomain` (when known), whose scope lies within
 * `expected.authz` and whose life is no longer than `expected.lifetime`.
 * The message names what differs and never quotes the token.
 */
export function checkIssuedToken(token: string, expected: IssuedTokenExpectation): IssuedToken {
  if (
    token.length > MAX_ISSUED_TOKEN_BYTES ||
    !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)
  ) {
    throw new TokenError(
      "TOKEN_MALFORMED",
      "Cannot accept the issued token: it is not a compact JWT (three base64url parts)",
    );
  }
  const { header, payload } = decodeToken(token);
  const h = record(header);
  const p = record(payload);
  if (h?.alg !== "HS256" || typeof h.kid !== "string" || !isPlainFileName(h.kid)) {
    throw new TokenError(
      "TOKEN_MALFORMED",
      "Cannot accept the issued token: it is not an IDTOKEN (HS256 with a key name)",
    );
  }
  if (p === undefined) {
    throw new TokenError("TOKEN_MALFORMED", "Cannot accept the issued token: no claims object");
  }
  const { sub, iss, iat, exp, jti, scope } = p;
  const wrong = (what: string) =>
    new TokenError("TOKEN_NOT_AS_REQUESTED", `Cannot accept the issued token: ${what}`);
  if (expected.key !== undefined && h.kid !== expected.key) {
    throw wrong(
      `it is signed with key ${quoted(h.kid)}, not the key asked for (${
        JSON.stringify(expected.key)
      })`,
    );
  }
  if (typeof sub !== "string" || sub === "") throw wrong("it names no identity (sub)");
  if (expected.identity !== undefined && sub !== expected.identity) {
    throw wrong(
      `it is for ${quoted(sub)}, not the identity asked for (${JSON.stringify(expected.identity)})`,
    );
  }
  if (typeof iss !== "string" || iss === "") throw wrong("it names no issuer (iss)");
  if (expected.trustDomain !== undefined && iss !== expected.trustDomain) {
    throw wrong(
      `its issuer ${quoted(iss)} is not the pool's trust domain ${
        JSON.stringify(expected.trustDomain)
      }`,
    );
  }
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw wrong("it has no issue time (iat)");
  if (typeof jti !== "string" || jti === "") throw wrong("it has no token id (jti)");
  if (exp !== undefined && (typeof exp !== "number" || !Number.isFinite(exp))) {
    throw wrong("its expiry (exp) is not a number");
  }
  if (expected.lifetime !== null) {
    if (typeof exp !== "number") {
      throw wrong(`it never expires, but a lifetime of ${expected.lifetime} s was asked for`);
    }
    // HTCondor reads the clock twice (iat, then exp = now + lifetime): a second may pass between.
    if (exp - iat > expected.lifetime + 1) {
      throw wrong(
        `it lives ${exp - iat} s, longer than the ${expected.lifetime} s asked for`,
      );
    }
  }
  if (scope !== undefined && typeof scope !== "string") throw wrong("its scope is not a string");
  const entries = typeof scope === "string" ? scope.split(" ").filter((s) => s !== "") : [];
  const authz: string[] = [];
  for (const entry of entries) {
    const level = entry.startsWith("condor:/") ? entry.slice("condor:/".length) : undefined;
    if (
      level === undefined ||
      (expected.authz.length > 0 && !expected.authz.some((asked) => scopeAllows([asked], level)))
    ) {
      throw wrong(
        `its scope grants ${quoted(entry)}, which was not asked for (${
          expected.authz.join(", ") || "unrestricted"
        })`,
      );
    }
    authz.push(level);
  }
  if (expected.authz.length > 0 && authz.length === 0) {
    throw wrong(
      `it is unrestricted, but only ${expected.authz.join(", ")} was asked for`,
    );
  }
  return { sub, iss, iat, exp: typeof exp === "number" ? exp : undefined, authz };
}

/** A claim as the one line shows it: JSON-quoted, and nothing a terminal would obey. */
function quoted(value: string): string {
  return printable(JSON.stringify(value), 200);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}
