/**
 * The SQLite engine's schema: the tables a new database is created with,
 * the version stored in `PRAGMA user_version` and checked at open, and the
 * steps that upgrade a database of an older version of ours in place.
 *
 * @module
 */

/**
 * The schema this code reads and writes. 2: rules count the requests they
 * approved (`rules.approved`). 3: the auto-approval circuit breaker's
 * counts (`breakers`).
 */
export const SCHEMA_VERSION = 3;

/** The table of the circuit breaker's counts (version 3). */
const BREAKERS = `
CREATE TABLE breakers (
  rule INTEGER PRIMARY KEY,
  window_start INTEGER NOT NULL,
  approved INTEGER NOT NULL,
  held_since INTEGER
);
`;

/** The tables and indexes of a new database. */
export const SCHEMA = `
CREATE TABLE requests (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL CHECK (length(id) = 7),
  secret_hash TEXT NOT NULL,
  requested_identity TEXT NOT NULL,
  authenticated_identity TEXT NOT NULL,
  peer_location TEXT NOT NULL,
  client_id TEXT NOT NULL,
  authorizations TEXT NOT NULL,
  lifetime INTEGER,
  state TEXT NOT NULL CHECK (state IN
    ('pending', 'approved', 'collected', 'denied', 'expired', 'cancelled')),
  requested_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  decided_at INTEGER,
  decided_by TEXT,
  reason TEXT,
  jti TEXT
);
CREATE UNIQUE INDEX requests_live_id ON requests (id) WHERE state IN ('pending', 'approved');
CREATE UNIQUE INDEX requests_live_secret ON requests (secret_hash)
  WHERE state IN ('pending', 'approved');
CREATE INDEX requests_state ON requests (state, expires_at);
CREATE TABLE rules (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  netblock TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  approved INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE daemons (
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  address TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (name, type)
);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  request_id TEXT,
  actor TEXT,
  detail TEXT NOT NULL
);
${BREAKERS}`;

/**
 * Indexes every database gets at open, old or new: adding one changes no
 * stored data, so it needs no schema version and an older daemon still
 * opens the file. `requests_id` serves the lookups by request id (collect,
 * cancel, approve, deny), which otherwise scan every row ever kept;
 * `audit_request` a request's audit trail, and `audit_event` the list of
 * issued tokens (the audit trail only grows).
 */
export const INDEXES = `
CREATE INDEX IF NOT EXISTS requests_id ON requests (id, seq);
CREATE INDEX IF NOT EXISTS audit_request ON audit (request_id, seq);
CREATE INDEX IF NOT EXISTS audit_event ON audit (event, seq);
`;

/**
 * How a database of an older schema version of ours becomes the current
 * one: by version, the SQL that takes it one step up, run in one
 * transaction with the new version number.
 */
export const UPGRADES: Readonly<Record<number, string>> = {
  // Rules count the requests they approve. A rule of the old schema gets the
  // approvals its netblock is recorded with in the audit trail while it was
  // in force (two rules for one netblock at once would both count them).
  1: `
ALTER TABLE rules ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
UPDATE rules SET approved = (
  SELECT count(*) FROM audit
  WHERE event = 'auto-approve' AND actor = 'auto-approval rule ' || rules.netblock
    AND at BETWEEN rules.issued_at AND rules.expires_at
);
`,
  // The circuit breaker counts auto-approvals per window; it starts at zero.
  2: BREAKERS,
};
