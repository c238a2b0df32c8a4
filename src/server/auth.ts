/**
 * Who is calling and what they may do: bearer IDTOKENS verified per
 * spec/idtokens.md against any key the daemon holds, and HTCondor's
 * `ALLOW_ADMINISTRATOR`/`ALLOW_DAEMON` identity patterns. A token's scope
 * only ever narrows what its identity may do.
 *
 * @module
 */
import { hiddenCharacter, hiddenCharacterReason } from "../api/hidden_character.ts";
import { isRefusalCode } from "../api/protocol.ts";
import { scopeAllows } from "../token/authz.ts";
import { KeyError, TokenError } from "../errors.ts";
import { type KeyResolver, verifyToken } from "../token/idtoken.ts";
import { type KeyLocations, readSigningKey, type SigningKey } from "../token/signing_key.ts";
import { notAuthenticated } from "./refusal.ts";
import { addressInNetblock, parseNetblock } from "./rules.ts";

/** The caller of one API call. */
export interface Caller {
  /** True when a valid token was presented. */
  authenticated: boolean;
  /** The token's `sub`, or an anonymous identity such as `anonymous@ssl`. */
  identity: string;
  /** The token's scope; empty means unrestricted. */
  authz: string[];
  /** The token's `exp` (epoch seconds), undefined when it never expires. */
  expiresAt: number | undefined;
  /** The token's id, for the audit trail. */
  jti: string | undefined;
  /** Whether the caller acts with ADMINISTRATOR authorization. */
  administrator: boolean;
  /** The peer address the call came from. */
  peer: string;
}

/** What authorization decisions need from the configuration. */
export interface AuthPolicy {
  trustDomain: string;
  allowAdministrator: readonly string[];
  allowDaemon: readonly string[];
  poolUsernameEquivalent: boolean;
}

/** Identity recorded for a caller without a token over TLS (HTCondor's SSL anonymous). */
export const ANONYMOUS_TLS = "anonymous@ssl";
/** Identity recorded for a caller without a token over plain HTTP (HTCondor's unauthenticated). */
export const ANONYMOUS_PLAIN = "unauthenticated@unmapped";

/**
 * A KeyResolver over the key files, remembering keys it read for `ttlMs`
 * so each call does not re-read and re-derive. A key that is missing,
 * insecure or unreadable is one we do not hold. Needs --allow-read.
 */
export function cachedKeyResolver(
  where: KeyLocations,
  options: { ttlMs?: number; clock?: () => number } = {},
): KeyResolver {
  const ttl = options.ttlMs ?? 60_000;
  const clock = options.clock ?? (() => performance.now());
  const cache = new Map<string, { key: SigningKey; at: number }>();
  return async (kid) => {
    const hit = cache.get(kid);
    if (hit && clock() - hit.at < ttl) return hit.key;
    try {
      const key = await readSigningKey(kid, where);
      cache.set(kid, { key, at: clock() });
      return key;
    } catch (err) {
      if (err instanceof KeyError) {
        cache.delete(kid);
        return undefined;
      }
      throw err;
    }
  };
}

/**
 * Authenticates a request: no Authorization header makes an anonymous
 * caller; a Bearer token must verify (else a 401 Refusal carrying the
 * TokenError's code); anything else is refused.
 */
export async function authenticate(
  req: Request,
  context: {
    keys: KeyResolver;
    policy: AuthPolicy;
    now: number;
    peer: string;
    anonymousIdentity: string;
  },
): Promise<Caller> {
  const header = req.headers.get("authorization");
  if (header === null) {
    return {
      authenticated: false,
      identity: context.anonymousIdentity,
      authz: [],
      expiresAt: undefined,
      jti: undefined,
      administrator: false,
      peer: context.peer,
    };
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw notAuthenticated(
      "AUTH_SCHEME",
      "Cannot authenticate: the Authorization header must be 'Bearer <IDTOKEN>'",
    );
  }
  let verified;
  try {
    verified = await verifyToken(match[1], context.keys, {
      issuer: context.policy.trustDomain,
      now: context.now,
    });
  } catch (err) {
    // Every code a verifier gives is one condor_tokend answers with.
    if (err instanceof TokenError && isRefusalCode(err.code)) {
      throw notAuthenticated(err.code, err.message, err);
    }
    throw err;
  }
  // Signed, but a subject that does not show as itself would be stored,
  // listed and audited as something else.
  const hidden = hiddenCharacter(verified.claims.sub);
  if (hidden !== undefined) {
    throw notAuthenticated(
      "TOKEN_BAD_SUBJECT",
      `Cannot accept token: its subject ${hiddenCharacterReason(hidden)}`,
    );
  }
  const caller: Caller = {
    authenticated: true,
    identity: verified.claims.sub,
    authz: verified.authz,
    expiresAt: verified.claims.exp,
    jti: verified.claims.jti,
    administrator: false,
    peer: context.peer,
  };
  caller.administrator = scopeAllows(caller.authz, "ADMINISTRATOR") &&
    isAdministratorIdentity(caller.identity, context.peer, context.policy);
  return caller;
}

/**
 * True when `identity` is an administrator: `condor@TRUST_DOMAIN` (whoever
 * holds the signing key can mint it anyway) or a match in ALLOW_ADMINISTRATOR.
 */
export function isAdministratorIdentity(
  identity: string,
  peer: string,
  policy: AuthPolicy,
): boolean {
  if (identity.toLowerCase() === `condor@${policy.trustDomain}`.toLowerCase()) return true;
  return allowedBy(policy.allowAdministrator, identity, peer, policy.poolUsernameEquivalent);
}

/** True when `identity` may act as a daemon (advertise itself): DAEMON or ADMINISTRATOR. */
export function isDaemonIdentity(identity: string, peer: string, policy: AuthPolicy): boolean {
  return isAdministratorIdentity(identity, peer, policy) ||
    allowedBy(policy.allowDaemon, identity, peer, policy.poolUsernameEquivalent);
}

/**
 * True when an HTCondor ALLOW list admits `identity` calling from `peer`.
 * Entries are `user@domain` patterns (HTCondor wildcards, case-insensitive),
 * optionally `/host` where host is `*`, an IP address or a netblock matched
 * against the peer. Entries naming only a host (no user part) and host
 * names (which would need DNS) never match a token identity.
 */
export function allowedBy(
  entries: readonly string[],
  identity: string,
  peer: string,
  poolUsernameEquivalent = true,
): boolean {
  const identities = [identity];
  if (poolUsernameEquivalent) {
    const lower = identity.toLowerCase();
    if (lower.startsWith("condor@")) identities.push("condor_pool@" + identity.slice(7));
    if (lower.startsWith("condor_pool@")) identities.push("condor@" + identity.slice(12));
  }
  return entries.some((entry) => {
    const split = splitEntry(entry);
    if (!split) return false;
    if (!hostMatches(split.host, peer)) return false;
    return identities.some((id) => wildcardMatch(split.user, id));
  });
}

/** HTCondor's `user/host` split; undefined for host-only entries. */
function splitEntry(entry: string): { user: string; host: string } | undefined {
  const slash = entry.indexOf("/");
  if (slash < 0) return entry.includes("@") ? { user: entry, host: "*" } : undefined;
  const user = entry.slice(0, slash);
  const host = entry.slice(slash + 1);
  const at = entry.indexOf("@");
  // "user@domain/host" or "*/host"; "192.0.2.0/24" is a host-only netblock.
  if ((at >= 0 && at < slash) || user.startsWith("*")) return { user, host };
  if (host.includes("/")) return { user, host }; // user/net/mask
  return parseNetblock(entry) ? undefined : { user, host };
}

function hostMatches(host: string, peer: string): boolean {
  if (host === "*" || host === "*/*") return true;
  return parseNetblock(host) !== undefined && addressInNetblock(peer, host);
}

/**
 * HTCondor's wildcard match (`matches_anycase_withwildcard`): case-insensitive;
 * the first `*` splits the pattern into a prefix and a suffix; a trailing `*`
 * after that makes the suffix match anywhere in the rest.
 */
export function wildcardMatch(pattern: string, value: string): boolean {
  const p = pattern.toLowerCase();
  const v = value.toLowerCase();
  const star = p.indexOf("*");
  if (star < 0) return p === v;
  const start = p.slice(0, star);
  let end = p.slice(star + 1);
  let anywhere = false;
  if (end.endsWith("*")) {
    end = end.slice(0, -1);
    anywhere = true;
  }
  if (!v.startsWith(start)) return false;
  const rest = v.slice(start.length);
  if (end === "") return true;
  return anywhere ? rest.includes(end) : rest.endsWith(end);
}
