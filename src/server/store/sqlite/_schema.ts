/**
 * The SQLite engine's schema: the tables a new database is created with,
 * and the version stored in `PRAGMA user_version` and checked at open.
 *
 * @module
 */

/** The schema this code reads and writes. */
export const SCHEMA_VERSION = 1;

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
  created_by TEXT NOT NULL
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
`;

/**
 * Indexes every database gets at open, old or new: adding one changes no
 * stored data, so it needs no schema version and an older daemon still
 * opens the file. `requests_id` serves the lookups by request id (collect,
 * cancel, approve, deny), which otherwise scan every row ever kept.
 */
export const INDEXES = `
CREATE INDEX IF NOT EXISTS requests_id ON requests (id, seq);
`;
