/**
 * The SEC_TOKEN_REVOCATION_EXPR line that makes HTCondor daemons refuse
 * chosen tokens. An HTCondor daemon evaluates the expression against a
 * ClassAd of the presented token's claims (each claim an attribute: `jti`,
 * `sub`, `iat`, `exp`, `iss`, `scope`, ...; condor_auth_passwd.cpp,
 * isTokenRevoked) and refuses the token when it is true, and also when it
 * does not evaluate to a boolean ("abundance of caution"). So every clause
 * here is true or false for any token, never undefined: `=?=` for the
 * strings (case-sensitive, false when the claim is missing), and a guarded
 * comparison for the issue time.
 *
 * The expression is parsed in old ClassAd syntax, where a backslash is
 * literal unless it precedes a double quote; and the line is read as
 * HTCondor configuration, where `$(` starts a macro. Both are accounted for.
 *
 * @module
 */
import { hiddenCharacter, hiddenCharacterReason, replaceHidden } from "../api/hidden_character.ts";
import { UsageError } from "../errors.ts";

/** The knob HTCondor daemons read (SEC_TOKEN_BLACKLIST_EXPR when it is unset). */
export const REVOCATION_KNOB = "SEC_TOKEN_REVOCATION_EXPR";
/** The older name HTCondor falls back to. */
export const OLD_REVOCATION_KNOB = "SEC_TOKEN_BLACKLIST_EXPR";

/** Which tokens to revoke: any token matching any of these. */
export interface RevocationChoice {
  /** Token IDs (`jti` claims). */
  jtis: readonly string[];
  /** Identities (`sub` claims): every token of each, wherever it was made. */
  identities: readonly string[];
  /** Epoch seconds: every token issued (`iat`) before this. */
  issuedBefore?: number;
}

/**
 * `value` as a string literal of old ClassAd syntax: `"` becomes `\"` (a
 * backslash before it stays a backslash, as the parser reads `\\"`). A
 * value ending in a backslash cannot be written (its closing quote would
 * read as part of the string), nor one with a control, bidi, invisible or
 * line-separator character (the line is read by an administrator and pasted
 * into configuration: it must look like what it is); both throw UsageError.
 */
export function oldClassAdString(value: string, what: string): string {
  const hidden = hiddenCharacter(value);
  if (hidden !== undefined) {
    throw new UsageError(
      `Cannot write ${what} ${JSON.stringify(replaceHidden(value, "\ufffd"))}: it ${
        hiddenCharacterReason(hidden)
      }`,
    );
  }
  if (value.endsWith("\\")) {
    throw new UsageError(
      `Cannot write ${what} ${
        JSON.stringify(value)
      } into a ClassAd expression: it ends with a backslash, which HTCondor's parser would read as escaping the closing quote`,
    );
  }
  return `"${value.replace(/"/g, '\\"')}"`;
}

/** The clauses of `choice`, each true or false for any token; throws UsageError on none. */
export function revocationClauses(choice: RevocationChoice): string[] {
  const clauses = [
    ...[...new Set(choice.jtis)].map((jti) => `jti =?= ${oldClassAdString(jti, "token ID")}`),
    ...[...new Set(choice.identities)].map((id) => `sub =?= ${oldClassAdString(id, "identity")}`),
  ];
  if (choice.issuedBefore !== undefined) {
    clauses.push(`(isInteger(iat) && iat < ${Math.floor(choice.issuedBefore)})`);
  }
  if (clauses.length === 0) {
    throw new UsageError("Cannot write a revocation expression: no token was chosen");
  }
  return clauses;
}

/**
 * The configuration line revoking `choice`, keeping what `existing` (the
 * expression configured now, if any) revokes: `(existing) || clause || ...`.
 * Every `$` becomes `$(DOLLAR)`, so the configuration reads the line as
 * written.
 */
export function revocationLine(choice: RevocationChoice, existing?: string): string {
  const clauses = revocationClauses(choice);
  const kept = existing?.trim();
  const expression = [...(kept ? [`(${kept})`] : []), ...clauses].join(" || ");
  return `${REVOCATION_KNOB} = ${expression.replace(/\$/g, "$(DOLLAR)")}`;
}

/**
 * Parses a time for `-issuedbefore`: epoch seconds, or an ISO 8601 date
 * and time with its zone (`2025-06-01T12:00:00Z`). Throws UsageError.
 */
export function parseIssuedBefore(text: string): number {
  if (/^\d{1,12}$/.test(text)) return Number(text);
  const iso =
    /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(text)
      ? Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text)
      : NaN;
  if (!Number.isFinite(iso)) {
    throw new UsageError(
      `Invalid value for -issuedbefore: "${text}" is neither epoch seconds nor an ISO 8601 ` +
        `time with its zone (2025-06-01T12:00:00Z)`,
    );
  }
  return Math.floor(iso / 1000);
}
