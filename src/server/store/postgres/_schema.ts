/**
 * The PostgreSQL engine's schema, created and versioned by the daemon: the
 * migrations, applied in order at start to bring a database up to
 * {@link SCHEMA_VERSION}. Everything lives in its own PostgreSQL schema
 * ({@link SCHEMA_NAME}), so the database may hold other things too.
 *
 * @module
 */

/** The PostgreSQL schema (namespace) holding the daemon's tables. */
export const SCHEMA_NAME = "condor_tokend";

/**
 * Each entry brings the schema from version i to i + 1. Never edit one that
 * has shipped: add the next. A daemon refuses a database whose version is
 * higher than the number of entries it knows.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the tables of the SQLite engine's version 1, in PostgreSQL's types.
  `
  CREATE TABLE requests (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL CHECK (length(id) = 7),
    secret_hash TEXT NOT NULL,
    requested_identity TEXT NOT NULL,
    authenticated_identity TEXT NOT NULL,
    peer_location TEXT NOT NULL,
    client_id TEXT NOT NULL,
    authorizations TEXT NOT NULL,
    lifetime BIGINT,
    state TEXT NOT NULL CHECK (state IN
      ('pending', 'approved', 'collected', 'denied', 'expired', 'cancelled')),
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    reason TEXT,
    jti TEXT,
    -- peerGroup(peer_location), kept so that the per-peer cap counts with an index.
    peer_group TEXT NOT NULL
  );
  CREATE UNIQUE INDEX requests_live_id ON requests (id) WHERE state IN ('pending', 'approved');
  CREATE UNIQUE INDEX requests_live_secret ON requests (secret_hash)
    WHERE state IN ('pending', 'approved');
  CREATE INDEX requests_state ON requests (state, expires_at);
  CREATE INDEX requests_id ON requests (id, seq);
  CREATE INDEX requests_pending_group ON requests (peer_group) WHERE state = 'pending';
  CREATE TABLE rules (
    seq BIGSERIAL PRIMARY KEY,
    netblock TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
  );
  CREATE TABLE daemons (
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    address TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (name, type)
  );
  CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    request_id TEXT,
    actor TEXT,
    detail TEXT NOT NULL
  );
  CREATE INDEX audit_request ON audit (request_id, seq);
  `,
  // 2: as the SQLite engine's version 2, rules count the requests they
  // approve. A rule made before gets the approvals its netblock is recorded
  // with in the audit trail while it was in force (two rules for one
  // netblock at once would both count them).
  `
  ALTER TABLE rules ADD COLUMN approved BIGINT NOT NULL DEFAULT 0;
  UPDATE rules SET approved = (
    SELECT count(*) FROM audit
    WHERE event = 'auto-approve' AND actor = 'auto-approval rule ' || rules.netblock
      AND at BETWEEN rules.issued_at AND rules.expires_at
  );
  `,
  // 3: as the SQLite engine's version 3, the auto-approval circuit
  // breaker's counts per rule (0: all rules) and window; they start at zero.
  `
  CREATE TABLE breakers (
    rule BIGINT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    approved BIGINT NOT NULL,
    held_since BIGINT
  );
  `,
];

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The tables every version has (checked at open). */
export const TABLES = [
  "audit",
  "breakers",
  "daemons",
  "requests",
  "rules",
  "schema_version",
] as const;
