/**
 * Minting, verifying and decoding IDTOKENS: compact HS256 JWS tokens whose
 * claims follow spec/idtokens.md, byte-compatible with HTCondor's.
 */
import { CompactSign, compactVerify, errors as joseErrors } from "jose";
import { TokenError } from "../errors.ts";
import { type Authorization, authzToScope, scopeToAuthz } from "./authz.ts";
import { assertPlainKeyId, type SigningKey } from "./signing_key.ts";

/** The claims of an IDTOKEN. */
export interface IdTokenClaims {
  /** Issuer: the pool's TRUST_DOMAIN. */
  iss: string;
  /** Subject: the identity, `user@domain`. */
  sub: string;
  /** Issue time, seconds since the epoch. */
  iat: number;
  /** Expiry, seconds since the epoch; absent for tokens without a lifetime. */
  exp?: number;
  /** Token id: 32 lowercase hex characters. */
  jti: string;
  /** `condor:/LEVEL` entries separated by spaces; absent when unrestricted. */
  scope?: string;
}

/** What to put in a new token. */
export interface MintOptions {
  identity: string;
  issuer: string;
  /** Seconds since the epoch. */
  now: number;
  /** Seconds; omitted or undefined means no `exp` claim. */
  lifetime?: number;
  authz?: readonly Authorization[];
  /** Fixed token id, for test vectors; random otherwise. */
  jti?: string;
}

/** A token that passed every check a verifier makes. */
export interface VerifiedToken {
  kid: string;
  claims: IdTokenClaims;
  /** Authorization levels named in `scope`; empty means unrestricted. */
  authz: string[];
}

/** Looks up a key by `kid`; undefined when this verifier does not hold it. */
export type KeyResolver = (kid: string) => Promise<SigningKey | undefined>;

const encoder = new TextEncoder();

/** Returns 16 random bytes as 32 lowercase hex characters. */
export function newTokenId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Serialises claims with sorted keys, as HTCondor does. */
export function serializeClaims(claims: IdTokenClaims): string {
  const sorted: Record<string, unknown> = {};
  for (const name of Object.keys(claims).sort()) {
    const value = (claims as unknown as Record<string, unknown>)[name];
    if (value !== undefined) sorted[name] = value;
  }
  return JSON.stringify(sorted);
}

/** Signs a header and payload given as exact JSON text. */
export async function signCompact(key: SigningKey, payloadJson: string): Promise<string> {
  return await new CompactSign(encoder.encode(payloadJson))
    .setProtectedHeader({ alg: "HS256", kid: key.kid })
    .sign(key.hmac);
}

/** Mints a new IDTOKEN. Throws TokenError on an unusable issuer, identity or lifetime. */
export async function mintToken(
  key: SigningKey,
  options: MintOptions,
): Promise<{ token: string; claims: IdTokenClaims }> {
  if (!options.issuer || /[\s,]/.test(options.issuer)) {
    throw new TokenError(
      "TOKEN_BAD_ISSUER",
      `Cannot mint token: trust domain ${
        JSON.stringify(options.issuer)
      } must be non-empty without spaces or commas; set TRUST_DOMAIN`,
    );
  }
  if (!options.identity || /\s/.test(options.identity)) {
    throw new TokenError(
      "TOKEN_BAD_IDENTITY",
      `Cannot mint token: identity ${JSON.stringify(options.identity)} is not valid`,
    );
  }
  const iat = Math.floor(options.now);
  const claims: IdTokenClaims = {
    iss: options.issuer,
    sub: options.identity,
    iat,
    jti: options.jti ?? newTokenId(),
  };
  if (options.lifetime !== undefined) {
    if (!Number.isSafeInteger(options.lifetime) || options.lifetime < 0) {
      throw new TokenError(
        "TOKEN_BAD_LIFETIME",
        `Cannot mint token: lifetime ${options.lifetime} is not a non-negative whole number of seconds`,
      );
    }
    claims.exp = iat + options.lifetime;
  }
  if (options.authz && options.authz.length > 0) claims.scope = authzToScope(options.authz);
  const token = await signCompact(key, serializeClaims(claims));
  return { token, claims };
}

/** Decodes a token's header and payload without verifying anything. */
export function decodeToken(token: string): { header: unknown; payload: unknown } {
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new TokenError("TOKEN_MALFORMED", "Cannot decode token: it does not have three parts");
  }
  try {
    return {
      header: JSON.parse(base64UrlText(parts[0])),
      payload: JSON.parse(base64UrlText(parts[1])),
    };
  } catch (err) {
    throw new TokenError("TOKEN_MALFORMED", "Cannot decode token: header or payload is not JSON", {
      cause: err,
    });
  }
}

/** Decodes one base64url segment to bytes. Throws TokenError TOKEN_MALFORMED. */
export function base64UrlBytes(segment: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(segment) || segment.length % 4 === 1) {
    throw new TokenError("TOKEN_MALFORMED", "Cannot decode token: bad base64url");
  }
  const b64 = segment.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((segment.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Decodes one base64url segment to UTF-8 text. Throws TokenError TOKEN_MALFORMED. */
export function base64UrlText(segment: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(base64UrlBytes(segment));
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    throw new TokenError("TOKEN_MALFORMED", "Cannot decode token: not UTF-8", { cause: err });
  }
}

/**
 * Verifies a token as an IDTOKENS server does: three parts, `alg` HS256, a
 * plain non-empty `kid` we hold, the HMAC, `iss` equal to our trust domain,
 * `exp` not passed, `jti` and `sub` present.
 */
export async function verifyToken(
  token: string,
  keys: KeyResolver,
  expect: { issuer: string; now: number },
): Promise<VerifiedToken> {
  const { header, payload } = decodeToken(token.trim());
  if (!isRecord(header) || header.alg !== "HS256") {
    throw new TokenError("TOKEN_BAD_ALG", "Cannot accept token: only HS256 tokens are accepted");
  }
  const kid = header.kid;
  if (typeof kid !== "string" || kid === "") {
    throw new TokenError("TOKEN_NO_KID", "Cannot accept token: its header names no key (kid)");
  }
  try {
    assertPlainKeyId(kid);
  } catch (err) {
    throw new TokenError("TOKEN_UNKNOWN_KEY", "Cannot accept token: its key name is not valid", {
      cause: err,
    });
  }
  const key = await keys(kid);
  if (!key) {
    throw new TokenError(
      "TOKEN_UNKNOWN_KEY",
      `Cannot accept token: it is signed with key "${kid}", which this daemon does not hold`,
    );
  }
  try {
    await compactVerify(token.trim(), key.hmac, { algorithms: ["HS256"] });
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) {
      throw new TokenError(
        "TOKEN_BAD_SIGNATURE",
        "Cannot accept token: its signature is not valid",
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  if (!isRecord(payload)) {
    throw new TokenError("TOKEN_MALFORMED", "Cannot accept token: payload is not a JSON object");
  }
  const { iss, sub, iat, exp, jti, scope } = payload;
  if (iss !== expect.issuer) {
    throw new TokenError(
      "TOKEN_WRONG_ISSUER",
      `Cannot accept token: issuer ${JSON.stringify(iss)} is not this pool's trust domain ${
        JSON.stringify(expect.issuer)
      }`,
    );
  }
  if (typeof sub !== "string" || sub === "") {
    throw new TokenError("TOKEN_MALFORMED", "Cannot accept token: it names no subject (sub)");
  }
  if (typeof jti !== "string" || jti === "") {
    throw new TokenError("TOKEN_MALFORMED", "Cannot accept token: it has no token id (jti)");
  }
  if (exp !== undefined && (typeof exp !== "number" || !Number.isFinite(exp))) {
    throw new TokenError(
      "TOKEN_MALFORMED",
      "Cannot accept token: its expiry (exp) is not a number",
    );
  }
  if (typeof exp === "number" && exp <= expect.now) {
    throw new TokenError("TOKEN_EXPIRED", "Cannot accept token: it has expired");
  }
  if (iat !== undefined && typeof iat !== "number") {
    throw new TokenError(
      "TOKEN_MALFORMED",
      "Cannot accept token: its issue time (iat) is not a number",
    );
  }
  if (scope !== undefined && typeof scope !== "string") {
    throw new TokenError("TOKEN_MALFORMED", "Cannot accept token: its scope is not a string");
  }
  const claims: IdTokenClaims = { iss, sub, iat: typeof iat === "number" ? iat : 0, jti };
  if (typeof exp === "number") claims.exp = exp;
  if (typeof scope === "string") claims.scope = scope;
  return { kid, claims, authz: scopeToAuthz(claims.scope) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
