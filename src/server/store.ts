/**
 * The daemon's durable state in an embedded SQLite database (`node:sqlite`):
 * token requests, auto-approval rules, the directory of daemons and the
 * audit trail. WAL with synchronous=FULL, so a committed change survives a
 * `kill -9` or a power cut; every state change is one `BEGIN IMMEDIATE`
 * transaction together with its audit records; a schema version is stored
 * and checked at open, and an older one of ours is upgraded in place.
 *
 * The store knows rows, not policy: what may change when is decided in
 * requests.ts. It never holds a token, and requesters' secrets only as
 * SHA-256 hashes.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import type { DaemonAd, RequestState } from "../api/protocol.ts";
import { CondorError } from "../errors.ts";
import type { AuditRecord } from "./audit.ts";
import { type ApprovalRule, peerGroup } from "./rules.ts";

/**
 * The schema this code reads and writes. 2: rules count the requests they
 * approved (`rules.approved`).
 */
export const SCHEMA_VERSION = 2;

/** States from which a request can still change (its id is reserved). */
export const LIVE_STATES: readonly RequestState[] = ["pending", "approved"];

/** One token request as stored. Times are epoch seconds. */
export interface StoredRequest {
  /** Row number; unlike `id`, never reused. */
  seq: number;
  /** 7-digit request id, unique among live requests. */
  id: string;
  /** SHA-256 of the requester's secret, lower-case hex. */
  secretHash: string;
  requestedIdentity: string;
  authenticatedIdentity: string;
  peerLocation: string;
  clientId: string;
  authorizations: string[];
  /** Token lifetime to issue, after the daemon's caps; null for none. */
  lifetime: number | null;
  state: RequestState;
  requestedAt: number;
  /** When a pending request expires, or an approved one stops being collectable. */
  expiresAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  /** Why it was denied. */
  reason: string | null;
  /** The issued token's id, once collected. */
  jti: string | null;
}

/** What a new request row holds. */
export type NewRequest = Omit<StoredRequest, "seq">;

/** An installed rule with its row number, which is its ID. */
export interface StoredRule extends ApprovalRule {
  seq: number;
  createdBy: string;
  /** How many requests it approved. */
  approved: number;
}

/** A stored daemon advertisement. */
export interface StoredDaemon extends DaemonAd {
  /** Epoch seconds. */
  expiresAt: number;
}

/** The stored state cannot be opened or used. */
export class StoreError extends CondorError {}

/** SQLite's words for a write the storage could not take (full, I/O error, read-only, locked). */
const STORAGE_FAILURE =
  /database or disk is full|disk I\/O error|readonly database|unable to open database file|database disk image is malformed|database is locked/;

/**
 * True when `err` is SQLite failing to write to storage, not a refusal or
 * a constraint: the daemon cannot take changes until that is fixed.
 * (node:sqlite gives no result code, only SQLite's message.)
 */
export function isStorageFailure(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === "ERR_SQLITE_ERROR" &&
    STORAGE_FAILURE.test(err.message);
}

const SCHEMA = `
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
`;

/**
 * Indexes every database gets at open, old or new: adding one changes no
 * stored data, so it needs no schema version and an older daemon still
 * opens the file. `requests_id` serves the lookups by request id (collect,
 * cancel, approve, deny), which otherwise scan every row ever kept.
 */
const INDEXES = `
CREATE INDEX IF NOT EXISTS requests_id ON requests (id, seq);
`;

/**
 * How a database of an older schema version of ours becomes the current
 * one: by version, the SQL that takes it one step up, run in one
 * transaction with the new version number.
 */
const UPGRADES: Readonly<Record<number, string>> = {
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
};

type Row = Record<string, SQLInputValue>;

/**
 * A compiled statement that refuses to bind text the database would give
 * back as something else: SQLite keeps a NUL inside a text value, but
 * node:sqlite reads text back only up to the first NUL
 * (`condor@pool\0.evil.org` came back as `condor@pool`, and was listed and
 * signed so), and a lone surrogate is stored as U+FFFD. The handler
 * refuses such text from requesters; this makes sure no other path can
 * store it and read back a different string.
 */
class CheckedStatement {
  readonly #statement: StatementSync;

  constructor(statement: StatementSync) {
    this.#statement = statement;
  }

  run(...values: SQLInputValue[]): ReturnType<StatementSync["run"]> {
    assertStorable(values);
    return this.#statement.run(...values);
  }

  get(...values: SQLInputValue[]): ReturnType<StatementSync["get"]> {
    assertStorable(values);
    return this.#statement.get(...values);
  }

  all(...values: SQLInputValue[]): ReturnType<StatementSync["all"]> {
    assertStorable(values);
    return this.#statement.all(...values);
  }
}

/** Throws StoreError STORE_TEXT for a text value with a NUL or a lone surrogate. */
function assertStorable(values: readonly SQLInputValue[]): void {
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

/** The SQLite store. Synchronous: each method is one short transaction. */
export class Store {
  readonly path: string;
  readonly #db: DatabaseSync;
  /** Compiled statements by SQL text: compiling costs more than running most of them. */
  readonly #statements = new Map<string, CheckedStatement>();
  #inTransaction = false;
  /** Calls waiting for the next shared transaction (see sharedTransaction). */
  readonly #shared: {
    fn: () => unknown;
    resolve: (value: unknown) => void;
    reject: (err: unknown) => void;
  }[] = [];
  #sharedFlush: ReturnType<typeof setImmediate> | undefined;
  /** countLive()'s answer, undefined until counted and after a rollback. */
  #liveCount: number | undefined;
  /** Pending requests by peerGroup(), undefined until counted and after a rollback. */
  #pendingByGroup: Map<string, number> | undefined;
  /** Why the last write failed, until a commit that writes succeeds (see writeHealth). */
  #writeFailure: string | undefined;
  /** When writeHealth() last probed, on its caller's clock. */
  #lastProbe: number | undefined;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /**
   * Opens the database at `path`, creating it when missing, and checks its
   * schema: version and tables. A new database is made whole under a
   * temporary name (mode 0600) and only then linked into place, so a file
   * at `path` always holds a schema and an empty or schema-less one means
   * lost state, never a fresh start. Throws StoreError (see
   * {@link Store.checkFile}, and STORE_OPEN, STORE_TOO_NEW, STORE_FOREIGN,
   * STORE_SCHEMA) naming the file. Needs --allow-read and --allow-write of
   * the file and its directory.
   */
  static async open(path: string): Promise<Store> {
    if (await Store.checkFile(path) === "missing") await createDatabase(path);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = FULL");
    } catch (err) {
      throw new StoreError(
        "STORE_OPEN",
        `Cannot open state database ${path}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
    const store = new Store(path, db);
    try {
      store.#checkSchema();
      db.exec(INDEXES);
    } catch (err) {
      db.close();
      throw err;
    }
    return store;
  }

  /**
   * What is at `path`, judged without opening it: "missing" (a new
   * database will be created) or "present". Refuses what would lose state
   * silently: an empty (0-byte) file, which SQLite would take for a new
   * database (STORE_EMPTY), and a missing database whose -wal or -journal
   * file is still there, which SQLite would replay into a new one
   * (STORE_LEFTOVER); also a link or anything but a regular file
   * (STORE_OPEN). Starting afresh is a deliberate act: remove the files.
   * Needs --allow-read.
   */
  static async checkFile(path: string): Promise<"missing" | "present"> {
    const info = await lstatOrUndefined(path);
    if (info === undefined) {
      for (const suffix of ["-wal", "-journal"]) {
        if (await lstatOrUndefined(path + suffix) !== undefined) {
          throw new StoreError(
            "STORE_LEFTOVER",
            `Cannot use state database ${path}: it is missing but ${path}${suffix} is still there; restore the database from a backup, or remove ${path}${suffix} and ${path}-shm to start with an empty state`,
          );
        }
      }
      return "missing";
    }
    if (info.isSymlink || !info.isFile) {
      throw new StoreError(
        "STORE_OPEN",
        `Cannot use state database ${path}: it is ${
          info.isSymlink ? "a symbolic link" : "not a regular file"
        }`,
      );
    }
    if (info.size === 0) {
      throw new StoreError(
        "STORE_EMPTY",
        `Cannot use state database ${path}: it is empty (0 bytes), so its pending requests, rules and audit trail are lost; restore it from a backup, or remove it (and any ${path}-wal and -shm) to start with an empty state`,
      );
    }
    return "present";
  }

  /** The compiled statement for `sql`, compiled once per store. */
  #statement(sql: string): CheckedStatement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = new CheckedStatement(this.#db.prepare(sql));
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Closes the database (checkpointing the WAL), first committing any queued shared work. */
  close(): void {
    if (!this.#db.isOpen) return;
    this.#flushShared();
    this.#db.close();
  }

  /** Runs `fn` in one `BEGIN IMMEDIATE` transaction; rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    if (this.#inTransaction) return fn();
    // Only while a write has failed: whether this one writes anything is
    // what tells a recovered disk from a commit that had nothing to write.
    const changesBefore = this.#writeFailure === undefined ? undefined : this.#totalChanges();
    this.#inTransaction = true;
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      const result = fn();
      this.#db.exec("COMMIT");
      if (changesBefore !== undefined && this.#totalChanges() !== changesBefore) {
        this.#writeFailure = undefined;
      }
      return result;
    } catch (err) {
      this.#noteWriteFailure(err);
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#forgetCounts();
      throw err;
    } finally {
      this.#inTransaction = false;
    }
  }

  /**
   * Why the store cannot commit, or undefined when it can. Proves it with a
   * real commit (the schema version written again: one page through the
   * write-ahead log and an fsync) at most once per `intervalMs` of `now`,
   * and in between answers from that probe and from the commits of real
   * calls, which record their own failures. A transaction that is rolled
   * back would prove nothing: in WAL mode nothing reaches the disk before
   * the commit, so a full disk only shows there.
   */
  writeHealth(now: number, intervalMs = 1000): string | undefined {
    const since = now - (this.#lastProbe ?? -Infinity);
    if (since >= intervalMs || since < 0) {
      this.#lastProbe = now;
      try {
        this.transaction(() => this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`));
        this.#writeFailure = undefined;
      } catch (err) {
        this.#writeFailure = err instanceof Error ? err.message : String(err);
      }
    }
    return this.#writeFailure;
  }

  #totalChanges(): number {
    return Number((this.#statement("SELECT total_changes() AS n").get() as { n: number }).n);
  }

  /** Remembers a failure to write (disk full, I/O error, ...) for writeHealth(). */
  #noteWriteFailure(err: unknown): void {
    if (isStorageFailure(err)) this.#writeFailure = (err as Error).message;
  }

  /**
   * Runs `fn` in a transaction shared with the other calls queued in the
   * same turn of the event loop, and resolves once that transaction has
   * committed: group commit, one fsync for many changes. Each `fn` runs in a
   * savepoint of its own, so one that throws is undone alone and only its
   * promise rejects; if the commit itself fails, every promise rejects. A
   * caller must not acknowledge anything before the promise resolves.
   */
  sharedTransaction<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#shared.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      // Not a microtask: calls arriving on other connections reach this point
      // later in the same event-loop turn, and should share the commit. Not
      // setTimeout(0) either: it waited 1.2 to 1.5 ms under load with every
      // caller in the batch stalled. An immediate runs once the loop has
      // handled the I/O that was ready, which is all a batch can gather.
      this.#sharedFlush ??= setImmediate(() => this.#flushShared());
    });
  }

  #flushShared(): void {
    if (this.#sharedFlush !== undefined) clearImmediate(this.#sharedFlush);
    this.#sharedFlush = undefined;
    const batch = this.#shared.splice(0);
    if (batch.length === 0) return;
    const settled: (() => void)[] = [];
    try {
      this.transaction(() => {
        for (const [i, call] of batch.entries()) {
          this.#db.exec(`SAVEPOINT shared_${i}`);
          try {
            const value = call.fn();
            this.#db.exec(`RELEASE shared_${i}`);
            settled.push(() => call.resolve(value));
          } catch (err) {
            this.#noteWriteFailure(err);
            this.#db.exec(`ROLLBACK TO shared_${i}`);
            this.#forgetCounts();
            this.#db.exec(`RELEASE shared_${i}`);
            settled.push(() => call.reject(err));
          }
        }
      });
    } catch (err) {
      for (const call of batch) call.reject(err);
      return;
    }
    for (const settle of settled) settle();
  }

  /** Drops the cached counts: what a rollback undid is not known, so they are counted again. */
  #forgetCounts(): void {
    this.#liveCount = undefined;
    this.#pendingByGroup = undefined;
  }

  // --- requests ---------------------------------------------------------

  /** The live request holding `secretHash`, if any. */
  liveBySecret(secretHash: string): StoredRequest | undefined {
    const row = this.#statement(
      "SELECT * FROM requests WHERE secret_hash = ? AND state IN ('pending', 'approved')",
    ).get(secretHash);
    return row ? toRequest(row as Row) : undefined;
  }

  /** The request a requester means by `id`: the live one, else the latest with that id. */
  byId(id: string): StoredRequest | undefined {
    const row = this.#statement(
      `SELECT * FROM requests WHERE id = ?
       ORDER BY state IN ('pending', 'approved') DESC, seq DESC LIMIT 1`,
    ).get(id);
    return row ? toRequest(row as Row) : undefined;
  }

  /** The request in row `seq`. */
  bySeq(seq: number): StoredRequest | undefined {
    const row = this.#statement("SELECT * FROM requests WHERE seq = ?").get(seq);
    return row ? toRequest(row as Row) : undefined;
  }

  /** True when a live request holds `id`. */
  isLiveId(id: string): boolean {
    return this.#statement(
      "SELECT 1 FROM requests WHERE id = ? AND state IN ('pending', 'approved')",
    ).get(id) !== undefined;
  }

  /**
   * Number of live (pending or approved) requests. Counted once, then kept
   * up to date by this store's own inserts and transitions (it is the only
   * writer of its database), because counting costs a pass over every live
   * request and every enqueue asks.
   */
  countLive(): number {
    this.#liveCount ??= Number(
      (this.#statement(
        "SELECT count(*) AS n FROM requests WHERE state IN ('pending', 'approved')",
      ).get() as { n: number }).n,
    );
    return this.#liveCount;
  }

  /**
   * Number of pending (undecided) requests from `peer`'s group: its IPv4
   * address, or its IPv6 /64 (see peerGroup). Counted once, then kept up to
   * date like countLive(), because every enqueue asks.
   */
  countPendingFrom(peer: string): number {
    if (this.#pendingByGroup === undefined) {
      const counts = new Map<string, number>();
      for (
        const row of this.#statement("SELECT peer_location FROM requests WHERE state = 'pending'")
          .all()
      ) {
        const group = peerGroup(String((row as Row).peer_location));
        counts.set(group, (counts.get(group) ?? 0) + 1);
      }
      this.#pendingByGroup = counts;
    }
    return this.#pendingByGroup.get(peerGroup(peer)) ?? 0;
  }

  /** Number of pending requests. */
  countPending(): number {
    const row = this.#statement(
      "SELECT count(*) AS n FROM requests WHERE state = 'pending'",
    ).get() as { n: number };
    return Number(row.n);
  }

  /** Pending requests, oldest first; only the one with request id `id` when given. */
  pending(id?: string): StoredRequest[] {
    const rows = id === undefined
      ? this.#statement("SELECT * FROM requests WHERE state = 'pending' ORDER BY seq").all()
      : this.#statement("SELECT * FROM requests WHERE id = ? AND state = 'pending' ORDER BY seq")
        .all(id);
    return rows.map((row) => toRequest(row as Row));
  }

  /** Live requests whose deadline has passed at `now`. */
  liveDue(now: number): StoredRequest[] {
    return this.#statement(
      `SELECT * FROM requests WHERE state IN ('pending', 'approved') AND expires_at <= ?
       ORDER BY seq`,
    ).all(now).map((row) => toRequest(row as Row));
  }

  /** Inserts a request and returns it with its row number. */
  insertRequest(request: NewRequest): StoredRequest {
    const result = this.#statement(
      `INSERT INTO requests (id, secret_hash, requested_identity, authenticated_identity,
         peer_location, client_id, authorizations, lifetime, state, requested_at, expires_at,
         decided_at, decided_by, reason, jti)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
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
    );
    if (this.#liveCount !== undefined && LIVE_STATES.includes(request.state)) this.#liveCount++;
    if (request.state === "pending") this.#countPendingChange(request.peerLocation, 1);
    return { ...request, seq: Number(result.lastInsertRowid) };
  }

  /**
   * Moves request `seq` from one of `from` to `to`, setting `fields`; true
   * only when exactly this call changed it (the guard against two tokens).
   */
  transition(
    seq: number,
    from: readonly RequestState[],
    to: RequestState,
    fields: Partial<
      Pick<StoredRequest, "expiresAt" | "decidedAt" | "decidedBy" | "reason" | "jti">
    > = {},
  ): boolean {
    const sets = ["state = ?"];
    const values: SQLInputValue[] = [to];
    const columns: Record<string, string> = {
      expiresAt: "expires_at",
      decidedAt: "decided_at",
      decidedBy: "decided_by",
      reason: "reason",
      jti: "jti",
    };
    for (const [key, column] of Object.entries(columns)) {
      const value = (fields as Record<string, SQLInputValue | undefined>)[key];
      if (value !== undefined) {
        sets.push(`${column} = ?`);
        values.push(value);
      }
    }
    const rows = this.#statement(
      `UPDATE requests SET ${sets.join(", ")}
       WHERE seq = ? AND state IN (${from.map(() => "?").join(", ")}) RETURNING peer_location`,
    ).all(...values, seq, ...from);
    const changed = rows.length === 1;
    if (changed && this.#liveCount !== undefined) {
      const live = (state: RequestState) => LIVE_STATES.includes(state);
      if (from.every(live)) this.#liveCount -= live(to) ? 0 : 1;
      else if (!from.some(live)) this.#liveCount += live(to) ? 1 : 0;
      else this.#liveCount = undefined; // which state it left is unknown: count again
    }
    if (changed && (from.includes("pending") || to === "pending")) {
      const peer = String((rows[0] as Row).peer_location);
      const left = from.every((state) => state === "pending");
      if (left && to !== "pending") this.#countPendingChange(peer, -1);
      else this.#pendingByGroup = undefined; // which state it left is unknown: count again
    }
    return changed;
  }

  /** Keeps countPendingFrom()'s counts up to date with one request more or less from `peer`. */
  #countPendingChange(peer: string, by: 1 | -1): void {
    if (this.#pendingByGroup === undefined) return;
    const group = peerGroup(peer);
    const count = (this.#pendingByGroup.get(group) ?? 0) + by;
    if (count > 0) this.#pendingByGroup.set(group, count);
    else this.#pendingByGroup.delete(group);
  }

  /** Deletes finished requests last touched before `before` (their history stays in the audit trail). */
  pruneFinished(before: number): number {
    const result = this.#statement(
      `DELETE FROM requests WHERE state NOT IN ('pending', 'approved')
       AND max(expires_at, coalesce(decided_at, 0)) < ?`,
    ).run(before);
    return Number(result.changes);
  }

  // --- rules ------------------------------------------------------------

  /** Installs a rule. */
  insertRule(rule: ApprovalRule & { createdBy: string }): StoredRule {
    const result = this.#statement(
      "INSERT INTO rules (netblock, issued_at, expires_at, created_by) VALUES (?, ?, ?, ?)",
    ).run(rule.netblock, rule.issuedAt, rule.expiresAt, rule.createdBy);
    return { ...rule, seq: Number(result.lastInsertRowid), approved: 0 };
  }

  /** Rules that have not expired at `now`, oldest first. */
  activeRules(now: number): StoredRule[] {
    return this.#statement(
      "SELECT * FROM rules WHERE expires_at >= ? ORDER BY seq",
    ).all(now).map((row) => toRule(row as Row));
  }

  /** Counts `count` more requests approved by rule `seq`. */
  countRuleApprovals(seq: number, count: number): void {
    this.#statement("UPDATE rules SET approved = approved + ? WHERE seq = ?").run(count, seq);
  }

  /** Deletes rule `seq` if it is still in force at `now`; returns it as it was, or undefined. */
  removeRule(seq: number, now: number): StoredRule | undefined {
    const row = this.#statement("SELECT * FROM rules WHERE seq = ? AND expires_at >= ?").get(
      seq,
      now,
    );
    if (row === undefined) return undefined;
    this.#statement("DELETE FROM rules WHERE seq = ?").run(seq);
    return toRule(row as Row);
  }

  /** Deletes rules that expired before `before`. */
  pruneRules(before: number): number {
    return Number(this.#statement("DELETE FROM rules WHERE expires_at < ?").run(before).changes);
  }

  // --- daemon directory -------------------------------------------------

  /** Adds or refreshes a daemon's advertisement. */
  upsertDaemon(ad: StoredDaemon): void {
    this.#statement(
      `INSERT INTO daemons (name, type, address, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name, type) DO UPDATE SET address = excluded.address,
         expires_at = excluded.expires_at`,
    ).run(ad.name, ad.type, ad.address, ad.expiresAt);
  }

  /** Advertisements still valid at `now`. */
  daemons(now: number): StoredDaemon[] {
    return this.#statement(
      "SELECT * FROM daemons WHERE expires_at > ? ORDER BY type, name",
    ).all(now).map((row) => {
      const r = row as Row;
      return {
        name: String(r.name),
        type: String(r.type),
        address: String(r.address),
        expiresAt: Number(r.expires_at),
      };
    });
  }

  /** Deletes advertisements that expired at or before `now`. */
  pruneDaemons(now: number): number {
    return Number(this.#statement("DELETE FROM daemons WHERE expires_at <= ?").run(now).changes);
  }

  // --- audit ------------------------------------------------------------

  /** Appends an audit record (call inside the transaction that makes the change). */
  appendAudit(record: AuditRecord): void {
    this.#statement(
      "INSERT INTO audit (at, event, request_id, actor, detail) VALUES (?, ?, ?, ?, ?)",
    ).run(
      record.at,
      record.event,
      record.requestId ?? null,
      record.actor ?? null,
      JSON.stringify(record.detail ?? {}),
    );
  }

  /** Audit records, oldest first, optionally only those for one request id. */
  auditTrail(requestId?: string): AuditRecord[] {
    const rows = requestId === undefined
      ? this.#statement("SELECT * FROM audit ORDER BY seq").all()
      : this.#statement("SELECT * FROM audit WHERE request_id = ? ORDER BY seq").all(requestId);
    return rows.map((row) => {
      const r = row as Row;
      const record: AuditRecord = {
        at: Number(r.at),
        event: String(r.event) as AuditRecord["event"],
        detail: JSON.parse(String(r.detail)),
      };
      if (r.request_id !== null) record.requestId = String(r.request_id);
      if (r.actor !== null) record.actor = String(r.actor);
      return record;
    });
  }

  /**
   * Upgrades a database of an older schema version of ours (see UPGRADES),
   * then refuses one that is not exactly this daemon's: a newer schema
   * version, no version (another program's file, or one emptied of our
   * tables), or the current version with tables or columns missing or
   * unknown (damaged, or edited by hand).
   */
  #checkSchema(): void {
    let version = Number(
      (this.#statement("PRAGMA user_version").get() as { user_version: number }).user_version,
    );
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        "STORE_TOO_NEW",
        `Cannot use state database ${this.path}: it has schema version ${version}, newer than this daemon's ${SCHEMA_VERSION}; run the newer condor_tokend or restore a backup`,
      );
    }
    while (version >= 1 && version < SCHEMA_VERSION) version = this.#upgrade(version);
    const found = tableColumns(this.#db);
    if (version < SCHEMA_VERSION) {
      throw new StoreError(
        found.size > 0 ? "STORE_FOREIGN" : "STORE_EMPTY",
        found.size > 0
          ? `Cannot use state database ${this.path}: it holds tables but no condor_tokend schema version`
          : `Cannot use state database ${this.path}: it holds no condor_tokend state (no tables, no schema version); restore it from a backup, or remove it (and any ${this.path}-wal and -shm) to start with an empty state`,
      );
    }
    const problem = schemaDifference(expectedSchema(), found);
    if (problem !== undefined) {
      throw new StoreError(
        "STORE_SCHEMA",
        `Cannot use state database ${this.path}: its schema is damaged (${problem}); restore it from a backup`,
      );
    }
  }

  /**
   * Takes a database of schema `version` (ours, older) one step up, in one
   * transaction; returns the new version. A step that fails leaves the
   * database as it was and is reported as STORE_SCHEMA.
   */
  #upgrade(version: number): number {
    try {
      this.transaction(() => {
        this.#db.exec(UPGRADES[version]);
        this.#db.exec(`PRAGMA user_version = ${version + 1}`);
      });
    } catch (err) {
      throw new StoreError(
        "STORE_SCHEMA",
        `Cannot upgrade state database ${this.path} from schema version ${version}: ${
          err instanceof Error ? err.message : err
        }; restore it from a backup`,
        { cause: err },
      );
    }
    return version + 1;
  }
}

/** A rule row as a StoredRule. */
function toRule(r: Row): StoredRule {
  return {
    seq: Number(r.seq),
    netblock: String(r.netblock),
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    createdBy: String(r.created_by),
    approved: Number(r.approved),
  };
}

/** Tables (but SQLite's own) and their columns, in order. */
function tableColumns(db: DatabaseSync): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  const names = db.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
  ).all().map((row) => String((row as Row).name));
  for (const name of names) {
    const columns = db.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid").all(name)
      .map((row) => String((row as Row).name));
    tables.set(name, columns);
  }
  return tables;
}

let expected: Map<string, string[]> | undefined;

/** The tables and columns SCHEMA makes, read from an in-memory database made with it. */
function expectedSchema(): Map<string, string[]> {
  if (expected === undefined) {
    const db = new DatabaseSync(":memory:");
    try {
      db.exec(SCHEMA);
      expected = tableColumns(db);
    } finally {
      db.close();
    }
  }
  return expected;
}

/** How `found` differs from `wanted`, in words; undefined when it does not. */
function schemaDifference(
  wanted: Map<string, string[]>,
  found: Map<string, string[]>,
): string | undefined {
  const missing = [...wanted.keys()].filter((t) => !found.has(t));
  if (missing.length > 0) return `table ${missing.join(", ")} missing`;
  const unknown = [...found.keys()].filter((t) => !wanted.has(t));
  if (unknown.length > 0) return `unknown table ${unknown.join(", ")}`;
  for (const [table, columns] of wanted) {
    const have = found.get(table)!;
    const lacking = columns.filter((c) => !have.includes(c));
    if (lacking.length > 0) return `table ${table} lacks column ${lacking.join(", ")}`;
    const extra = have.filter((c) => !columns.includes(c));
    if (extra.length > 0) return `table ${table} has unknown column ${extra.join(", ")}`;
  }
  return undefined;
}

function toRequest(row: Row): StoredRequest {
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

/** `Deno.lstat(path)`, undefined when nothing is there; other failures as StoreError STORE_OPEN. */
async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new StoreError(
      "STORE_OPEN",
      `Cannot use state database ${path}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
}

/**
 * Creates a new database at `path` whole: under a temporary name in the
 * same directory (mode 0600 whatever the umask), schema and version
 * committed, then hard-linked into place, which fails rather than replace
 * anything that appeared at `path` meanwhile, and the directory flushed.
 * So `path` never holds an empty or half-made database, and an empty one
 * found later is damage, not a first start.
 */
async function createDatabase(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16))
    .join("");
  const temp = `${dir}/.${path.slice(slash + 1)}.${suffix}.new`;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
    file.close();
    // Some systems apply default ACLs at creation; Windows has no mode bits.
    if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o600);
    const db = new DatabaseSync(temp);
    try {
      db.exec("PRAGMA synchronous = FULL");
      db.exec("BEGIN");
      db.exec(SCHEMA);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      db.exec("COMMIT");
    } finally {
      db.close();
    }
    await Deno.link(temp, path);
    if (Deno.build.os !== "windows") {
      const directory = await Deno.open(dir);
      try {
        await directory.sync();
      } finally {
        directory.close();
      }
    }
  } catch (err) {
    throw new StoreError(
      "STORE_OPEN",
      `Cannot create state database ${path}: ${
        err instanceof Deno.errors.AlreadyExists
          ? "another file appeared there meanwhile"
          : err instanceof Error
          ? err.message
          : err
      }`,
      { cause: err },
    );
  } finally {
    await Deno.remove(temp).catch(() => {});
    await Deno.remove(`${temp}-journal`).catch(() => {});
  }
}
