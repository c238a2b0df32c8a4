/** HTCondor authorization levels and the `scope` claim that carries them. */

/** Authorization levels a token's scope may name (spec/idtokens.md). */
export const AUTHORIZATION_LEVELS = [
  "READ",
  "WRITE",
  "ADMINISTRATOR",
  "CONFIG",
  "DAEMON",
  "NEGOTIATOR",
  "ADVERTISE_MASTER",
  "ADVERTISE_STARTD",
  "ADVERTISE_SCHEDD",
  "ALLOW",
] as const;

/** One HTCondor authorization level. */
export type Authorization = typeof AUTHORIZATION_LEVELS[number];

const SCOPE_PREFIX = "condor:/";

/** Returns the canonical (upper-case) level for `name`, or undefined if unknown. */
export function parseAuthorization(name: string): Authorization | undefined {
  const upper = name.trim().toUpperCase();
  return (AUTHORIZATION_LEVELS as readonly string[]).includes(upper)
    ? upper as Authorization
    : undefined;
}

/** Builds the `scope` claim: each level prefixed `condor:/`, space separated. */
export function authzToScope(authz: readonly Authorization[]): string {
  return authz.map((a) => SCOPE_PREFIX + a).join(" ");
}

/**
 * Reads the authorizations of a `scope` claim. Entries without the `condor:/`
 * prefix belong to other systems and are ignored, as HTCondor does.
 */
export function scopeToAuthz(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  return scope.split(" ")
    .filter((s) => s.startsWith(SCOPE_PREFIX))
    .map((s) => s.slice(SCOPE_PREFIX.length));
}

/** Removes duplicates while keeping the first occurrence's order. */
export function uniqueAuthz(authz: readonly Authorization[]): Authorization[] {
  return [...new Set(authz)];
}
