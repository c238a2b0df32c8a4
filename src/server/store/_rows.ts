/**
 * Rows to objects and back, shared by both engines: the column names, the
 * JSON-encoded columns, and the check that text survives the round trip.
 *
 * @module
 */
import type { RequestState } from "../../api/protocol.ts";
import type { AuditRecord } from "../audit.ts";
import {
  type StoredBreaker,
  type StoredDaemon,
  type StoredRequest,
  type StoredRule,
  StoreError,
  type TransitionFields,
} from "./store.ts";

/** A row as a driver returns it: column name to value. */
export type Row = Record<string, unknown>;

/** States from which a request can still change (its id is reserved). */
export const LIVE: readonly RequestState[] = ["pending", "approved"];

/** The columns a transition may set, by field. */
export const TRANSITION_COLUMNS: Record<keyof TransitionFields, string> = {
  expiresAt: "expires_at",
  decidedAt: "decided_at",
  decidedBy: "decided_by",
  reason: "reason",
  jti: "jti",
};

/** The values of a new request row, in the order of {@link REQUEST_INSERT_COLUMNS}. */
export function requestValues(
  request: Omit<StoredRequest, "seq">,
): (string | number | null)[] {
  return [
    request.id,
    request.secretHash,
    request.requestedIdentity,
    request.authenticatedIdentity,
    request.peerLocation,
    request.clientId,
    JSON.stringify(request.authorizations),
    request.lifetime,
    request.state,
    request.requestedAt,
    request.expiresAt,
    request.decidedAt,
    request.decidedBy,
    request.reason,
    request.jti,
  ];
}

/** The columns {@link requestValues} fills. */
export const REQUEST_INSERT_COLUMNS = [
  "id",
  "secret_hash",
  "requested_identity",
  "authenticated_identity",
  "peer_location",
  "client_id",
  "authorizations",
  "lifetime",
  "state",
  "requested_at",
  "expires_at",
  "decided_at",
  "decided_by",
  "reason",
  "jti",
] as const;

/** A request row as an object. */
export function toRequest(row: Row): StoredRequest {
  return {
    seq: Number(row.seq),
    id: String(row.id),
    secretHash: String(row.secret_hash),
    requestedIdentity: String(row.requested_identity),
    authenticatedIdentity: String(row.authenticated_identity),
    peerLocation: String(row.peer_location),
    clientId: String(row.client_id),
    authorizations: JSON.parse(String(row.authorizations)),
    lifetime: row.lifetime === null ? null : Number(row.lifetime),
    state: String(row.state) as RequestState,
    requestedAt: Number(row.requested_at),
    expiresAt: Number(row.expires_at),
    decidedAt: row.decided_at === null ? null : Number(row.decided_at),
    decidedBy: row.decided_by === null ? null : String(row.decided_by),
    reason: row.reason === null ? null : String(row.reason),
    jti: row.jti === null ? null : String(row.jti),
  };
}

/** A rule row as an object. */
export function toRule(row: Row): StoredRule {
  return {
    seq: Number(row.seq),
    netblock: String(row.netblock),
    issuedAt: Number(row.issued_at),
    expiresAt: Number(row.expires_at),
    createdBy: String(row.created_by),
    approved: Number(row.approved),
  };
}

/** A breaker row as an object. */
export function toBreaker(row: Row): StoredBreaker {
  return {
    rule: Number(row.rule),
    windowStart: Number(row.window_start),
    approved: Number(row.approved),
    heldSince: row.held_since === null || row.held_since === undefined
      ? null
      : Number(row.held_since),
  };
}

/** A breaker nothing was saved for yet. */
export function newBreaker(rule: number): StoredBreaker {
  return { rule, windowStart: 0, approved: 0, heldSince: null };
}

/** A daemon row as an object. */
export function toDaemon(row: Row): StoredDaemon {
  return {
    name: String(row.name),
    type: String(row.type),
    address: String(row.address),
    expiresAt: Number(row.expires_at),
  };
}

/** The values of an audit row: at, event, request_id, actor, detail. */
export function auditValues(record: AuditRecord): (string | number | null)[] {
  return [
    record.at,
    record.event,
    record.requestId ?? null,
    record.actor ?? null,
    JSON.stringify(record.detail ?? {}),
  ];
}

/** An audit row as a record. */
export function toAudit(row: Row): AuditRecord {
  const record: AuditRecord = {
    at: Number(row.at),
    event: String(row.event) as AuditRecord["event"],
    detail: JSON.parse(String(row.detail)),
  };
  if (row.request_id !== null) record.requestId = String(row.request_id);
  if (row.actor !== null) record.actor = String(row.actor);
  return record;
}

/**
 * Throws StoreError STORE_TEXT for a text value with a NUL or a lone
 * surrogate: SQLite keeps a NUL inside a text value but node:sqlite reads
 * it back only up to the NUL (`condor@pool\0.evil.org` came back as
 * `condor@pool`, and was listed and signed so); PostgreSQL refuses a NUL;
 * a lone surrogate comes back as U+FFFD. The handler refuses such text from
 * requesters; this makes sure no other path can store it and read back a
 * different string, in either engine.
 */
export function assertStorable(values: readonly unknown[]): void {
  for (const value of values) {
    if (typeof value !== "string") continue;
    if (value.includes("\0") || !value.isWellFormed()) {
      throw new StoreError(
        "STORE_TEXT",
        "Cannot store text: it holds a NUL or a lone surrogate, which the database would not give back as it was",
      );
    }
  }
}
