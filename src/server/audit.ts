/**
 * The audit trail: one record per decision, stored in the same transaction
 * as the change it describes and logged as one line once committed. A
 * record never contains a token or a secret; issued tokens appear by `jti`.
 *
 * @module
 */

/** Every kind of audited event. */
export type AuditEvent =
  | "enqueue"
  | "approve"
  | "deny"
  | "auto-approve"
  | "issue"
  | "expire"
  | "cancel"
  | "rule"
  | "rule-remove"
  | "rule-hold"
  | "rule-resume"
  | "fetch";

/** One audit record. */
export interface AuditRecord {
  /** Epoch seconds. */
  at: number;
  event: AuditEvent;
  requestId?: string;
  /** Who caused it: an identity, "requester", a rule, or "daemon". */
  actor?: string;
  /** Event details: identities, authorizations, lifetimes, `jti`, reasons; never secrets. */
  detail?: Record<string, unknown>;
}

/** The one-line log form of a record: `audit <event> request=<id> actor=<who> {details}`. */
export function auditLine(record: AuditRecord): string {
  const parts = [`audit ${record.event}`];
  if (record.requestId !== undefined) parts.push(`request=${record.requestId}`);
  if (record.actor !== undefined) parts.push(`actor=${JSON.stringify(record.actor)}`);
  const detail = record.detail ?? {};
  for (const [key, value] of Object.entries(detail)) {
    if (value === undefined) continue;
    parts.push(`${key}=${JSON.stringify(value)}`);
  }
  return parts.join(" ");
}
