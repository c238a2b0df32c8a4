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

/**
 * The level each level directly implies, as HTCondor's permission hierarchy
 * has it: holding WRITE also grants READ, ADMINISTRATOR grants WRITE (and so
 * READ), DAEMON grants WRITE, and the others grant READ.
 */
const IMPLIES: Readonly<Record<string, string>> = {
  WRITE: "READ",
  NEGOTIATOR: "READ",
  ADMINISTRATOR: "WRITE",
  CONFIG: "READ",
  DAEMON: "WRITE",
  ADVERTISE_STARTD: "READ",
  ADVERTISE_SCHEDD: "READ",
  ADVERTISE_MASTER: "READ",
};

/**
 * Whether a token whose scope names `scope` (empty = unrestricted) may be used
 * for `level`: the scope's levels plus everything they imply, and ALLOW
 * always, as HTCondor bounds a session by its token's scope.
 */
export function scopeAllows(scope: readonly string[], level: string): boolean {
  if (scope.length === 0 || level === "ALLOW") return true;
  for (let held of scope) {
    for (;;) {
      if (held === level) return true;
      const next = IMPLIES[held];
      if (next === undefined) break;
      held = next;
    }
  }
  return false;
}
