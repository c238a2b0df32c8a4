/**
 * The SQLite engine of the store: the daemon's state in one file in its
 * state directory (`node:sqlite`), for a daemon that runs alone. WAL with
 * synchronous=FULL, so a committed change survives a `kill -9` or a power
 * cut; a schema version is stored and checked at open, and an older one of
 * ours is upgraded in place.
 *
 * Group commit is this engine's own affair: transactions that arrive in the
 * same turn of the event loop share one `BEGIN IMMEDIATE` ... `COMMIT` (one
 * fsync for many changes), each in a savepoint of its own, so one that
 * throws is undone alone and only its promise rejects. Reads made outside a
 * transaction wait while a shared one is open, so they never see a change
 * before it has committed.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import type { RequestState } from "../../../api/protocol.ts";
import type { AuditRecord } from "../../audit.ts";
import { type ApprovalRule, peerGroup } from "../../rules.ts";
import {
  assertStorable,
  auditValues,
  LIVE,
  newBreaker,
  REQUEST_INSERT_COLUMNS,
  requestValues,
  type Row,
  toAudit,
  toBreaker,
  toDaemon,
  toRequest,
  toRule,
  TRANSITION_COLUMNS,
} from "../_rows.ts";
import {
  isStorageFailure,
  type NewRequest,
  type SequencedAudit,
  type Store,
  type StoredBreaker,
  type StoredDaemon,
  type StoredRequest,
  type StoredRule,
  StoreError,
  type StoreTransaction,
  type TransitionFields,
} from "../store.ts";
import { INDEXES, SCHEMA, SCHEMA_VERSION, UPGRADES } from "./_schema.ts";

export { SCHEMA_VERSION };

/**
 * A compiled statement that refuses to bind text the database would give
 * back as something else (see assertStorable).
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

  get(...values: SQLInputValue[]): Row | undefined {
    assertStorable(values);
    return this.#statement.get(...values) as Row | undefined;
  }

  all(...values: SQLInputValue[]): Row[] {
    assertStorable(values);
    return this.#statement.all(...values) as Row[];
  }
}

/** A transaction waiting for the next shared commit. */
interface Queued {
  fn: (tx: StoreTransaction) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** The SQLite store. */
export class SqliteStore implements Store {
  readonly engine = "sqlite";
  readonly location: string;
  readonly #db: DatabaseSync;
  /** Compiled statements by SQL text: compiling costs more than running most of them. */
  readonly #statements = new Map<string, CheckedStatement>();
  /** Transactions waiting for the next shared commit. */
  readonly #queue: Queued[] = [];
  #flushTimer: ReturnType<typeof setImmediate> | undefined;
  /** Settles when the shared transaction under way has committed or rolled back. */
  #flushing: Promise<void> | undefined;
  /** countLive()'s answer, undefined until counted and after a rollback. */
  #liveCount: number | undefined;
  /** Pending requests by peerGroup(), undefined until counted and after a rollback. */
  #pendingByGroup: Map<string, number> | undefined;
  /** Why the last write failed, until a commit that writes succeeds (see writeHealth). */
  #writeFailure: string | undefined;
  /** When writeHealth() last probed, on its caller's clock. */
  #lastProbe: number | undefined;

  private constructor(path: string, db: DatabaseSync) {
    this.location = path;
    this.#db = db;
  }

  /**
   * Opens the database at `path`, creating it when missing, and checks its
   * schema: version and tables. A new database is made whole under a
   * temporary name (mode 0600) and only then linked into place, so a file
   * at `path` always holds a schema and an empty or schema-less one means
   * lost state, never a fresh start. A database of an older schema version
   * of ours is upgraded in place first. Throws StoreError (see
   * {@link SqliteStore.checkFile}, and STORE_OPEN, STORE_TOO_NEW, STORE_FOREIGN,
   * STORE_SCHEMA) naming the file. Needs --allow-read and --allow-write of
   * the file and its directory.
   */
  static async open(path: string): Promise<SqliteStore> {
    if (await SqliteStore.checkFile(path) === "missing") await createDatabase(path);
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
    const store = new SqliteStore(path, db);
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

  /** Commits the transactions still queued, then closes the database (checkpointing the WAL). */
  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    await this.#flush();
    await this.#flushing;
    if (this.#db.isOpen) this.#db.close();
  }

  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  transaction<T>(
    fn: (tx: StoreTransaction) => Promise<T>,
    options: { exclusive: string },
  ): Promise<T | undefined>;
  /**
   * Queues `fn` for the next shared transaction and resolves once that has
   * committed. An `exclusive` transaction needs no lock here: one daemon
   * owns the file.
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (!this.#db.isOpen) {
      return Promise.reject(
        new StoreError("STORE_CLOSED", `Cannot use state database ${this.location}: it is closed`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      // Not a microtask: calls arriving on other connections reach this point
      // later in the same event-loop turn, and should share the commit. Not
      // setTimeout(0) either: it waited 1.2 to 1.5 ms under load with every
      // caller in the batch stalled. An immediate runs once the loop has
      // handled the I/O that was ready, which is all a batch can gather.
      this.#flushTimer ??= setImmediate(() => void this.#flush());
    });
  }

  /** Runs the queued transactions as one, after the one under way (if any). */
  #flush(): Promise<void> {
    if (this.#flushTimer !== undefined) clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#queue.length === 0) return this.#flushing ?? Promise.resolve();
    const previous = this.#flushing ?? Promise.resolve();
    const flushing = previous.then(() => this.#commitBatch(this.#queue.splice(0)));
    this.#flushing = flushing;
    void flushing.finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
    });
    return flushing;
  }

  async #commitBatch(batch: Queued[]): Promise<void> {
    if (batch.length === 0) return;
    // Only while a write has failed: whether this one writes anything is
    // what tells a recovered disk from a commit that had nothing to write.
    const changesBefore = this.#writeFailure === undefined ? undefined : this.#totalChanges();
    const settled: (() => void)[] = [];
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      for (const [i, call] of batch.entries()) {
        this.#db.exec(`SAVEPOINT shared_${i}`);
        const tx = new SqliteTransaction(this);
        try {
          const value = await call.fn(tx);
          this.#db.exec(`RELEASE shared_${i}`);
          settled.push(() => call.resolve(value));
        } catch (err) {
          this.#noteWriteFailure(err);
          this.#db.exec(`ROLLBACK TO shared_${i}`);
          this.#forgetCounts();
          this.#db.exec(`RELEASE shared_${i}`);
          settled.push(() => call.reject(err));
        } finally {
          tx.end();
        }
      }
      this.#db.exec("COMMIT");
      if (changesBefore !== undefined && this.#totalChanges() !== changesBefore) {
        this.#writeFailure = undefined;
      }
    } catch (err) {
      this.#noteWriteFailure(err);
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#forgetCounts();
      for (const call of batch) call.reject(err);
      return;
    }
    for (const settle of settled) settle();
  }

  /** Resolves once no shared transaction is open: reads outside one see committed state only. */
  async #committed(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
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
  async writeHealth(now: number, intervalMs = 1000): Promise<string | undefined> {
    const since = now - (this.#lastProbe ?? -Infinity);
    if (since >= intervalMs || since < 0) {
      this.#lastProbe = now;
      try {
        await this.transaction(() => {
          this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
          return Promise.resolve();
        });
        this.#writeFailure = undefined;
      } catch (err) {
        this.#writeFailure = err instanceof Error ? err.message : String(err);
      }
    }
    return this.#writeFailure;
  }

  /** One daemon owns the file: nobody else changes it. */
  watch(_listener: (requestId: string | undefined) => void): void {}

  #totalChanges(): number {
    return Number(this.#statement("SELECT total_changes() AS n").get()!.n);
  }

  /** Remembers a failure to write (disk full, I/O error, ...) for writeHealth(). */
  #noteWriteFailure(err: unknown): void {
    if (isStorageFailure(err)) this.#writeFailure = (err as Error).message;
  }

  /** Drops the cached counts: what a rollback undid is not known, so they are counted again. */
  #forgetCounts(): void {
    this.#liveCount = undefined;
    this.#pendingByGroup = undefined;
  }

  // --- reads outside a transaction ---------------------------------------

  async liveBySecret(secretHash: string): Promise<StoredRequest | undefined> {
    await this.#committed();
    return this.readLiveBySecret(secretHash);
  }
  async byId(id: string): Promise<StoredRequest | undefined> {
    await this.#committed();
    return this.readById(id);
  }
  async bySeq(seq: number): Promise<StoredRequest | undefined> {
    await this.#committed();
    return this.readBySeq(seq);
  }
  async isLiveId(id: string): Promise<boolean> {
    await this.#committed();
    return this.readIsLiveId(id);
  }
  async countLive(): Promise<number> {
    await this.#committed();
    return this.readCountLive();
  }
  async countPendingFrom(peer: string): Promise<number> {
    await this.#committed();
    return this.readCountPendingFrom(peer);
  }
  async countPending(): Promise<number> {
    await this.#committed();
    return this.readCountPending();
  }
  async pending(id?: string): Promise<StoredRequest[]> {
    await this.#committed();
    return this.readPending(id);
  }
  async liveDue(now: number): Promise<StoredRequest[]> {
    await this.#committed();
    return this.readLiveDue(now);
  }
  async activeRules(now: number): Promise<StoredRule[]> {
    await this.#committed();
    return this.readActiveRules(now);
  }
  async daemons(now: number): Promise<StoredDaemon[]> {
    await this.#committed();
    return this.readDaemons(now);
  }
  async breakers(): Promise<StoredBreaker[]> {
    await this.#committed();
    return this.readBreakers();
  }
  async auditTrail(requestId?: string): Promise<AuditRecord[]> {
    await this.#committed();
    return this.readAuditTrail(requestId);
  }
  async issuedRecords(beforeSeq: number | undefined, limit: number): Promise<SequencedAudit[]> {
    await this.#committed();
    return this.readIssuedRecords(beforeSeq, limit);
  }

  // --- the statements (synchronous; for SqliteTransaction and the reads above) ---

  /** @internal */
  readLiveBySecret(secretHash: string): StoredRequest | undefined {
    const row = this.#statement(
      "SELECT * FROM requests WHERE secret_hash = ? AND state IN ('pending', 'approved')",
    ).get(secretHash);
    return row ? toRequest(row) : undefined;
  }

  /** @internal */
  readById(id: string): StoredRequest | undefined {
    const row = this.#statement(
      `SELECT * FROM requests WHERE id = ?
       ORDER BY state IN ('pending', 'approved') DESC, seq DESC LIMIT 1`,
    ).get(id);
    return row ? toRequest(row) : undefined;
  }

  /** @internal */
  readBySeq(seq: number): StoredRequest | undefined {
    const row = this.#statement("SELECT * FROM requests WHERE seq = ?").get(seq);
    return row ? toRequest(row) : undefined;
  }

  /** @internal */
  readIsLiveId(id: string): boolean {
    return this.#statement(
      "SELECT 1 FROM requests WHERE id = ? AND state IN ('pending', 'approved')",
    ).get(id) !== undefined;
  }

  /**
   * Number of live requests. Counted once, then kept up to date by this
   * store's own inserts and transitions (it is the only writer of its
   * database), because counting costs a pass over every live request and
   * every enqueue asks. @internal
   */
  readCountLive(): number {
    this.#liveCount ??= Number(
      this.#statement(
        "SELECT count(*) AS n FROM requests WHERE state IN ('pending', 'approved')",
      ).get()!.n,
    );
    return this.#liveCount;
  }

  /** Pending requests from `peer`'s group; counted once, then kept up to date like countLive(). @internal */
  readCountPendingFrom(peer: string): number {
    if (this.#pendingByGroup === undefined) {
      const counts = new Map<string, number>();
      for (
        const row of this.#statement("SELECT peer_location FROM requests WHERE state = 'pending'")
          .all()
      ) {
        const group = peerGroup(String(row.peer_location));
        counts.set(group, (counts.get(group) ?? 0) + 1);
      }
      this.#pendingByGroup = counts;
    }
    return this.#pendingByGroup.get(peerGroup(peer)) ?? 0;
  }

  /** @internal */
  readCountPending(): number {
    return Number(
      this.#statement("SELECT count(*) AS n FROM requests WHERE state = 'pending'").get()!.n,
    );
  }

  /** @internal */
  readPending(id?: string): StoredRequest[] {
    const rows = id === undefined
      ? this.#statement("SELECT * FROM requests WHERE state = 'pending' ORDER BY seq").all()
      : this.#statement("SELECT * FROM requests WHERE id = ? AND state = 'pending' ORDER BY seq")
        .all(id);
    return rows.map(toRequest);
  }

  /** @internal */
  readLiveDue(now: number): StoredRequest[] {
    return this.#statement(
      `SELECT * FROM requests WHERE state IN ('pending', 'approved') AND expires_at <= ?
       ORDER BY seq`,
    ).all(now).map(toRequest);
  }

  /** @internal */
  readActiveRules(now: number): StoredRule[] {
    return this.#statement("SELECT * FROM rules WHERE expires_at >= ? ORDER BY seq").all(now)
      .map(toRule);
  }

  /** @internal */
  readBreakers(): StoredBreaker[] {
    return this.#statement("SELECT * FROM breakers ORDER BY rule").all().map(toBreaker);
  }

  /** SQLite runs one write transaction at a time: reading is locking. */
  writeLockBreaker(rule: number): StoredBreaker {
    const row = this.#statement("SELECT * FROM breakers WHERE rule = ?").get(rule);
    return row ? toBreaker(row) : newBreaker(rule);
  }

  writeSaveBreaker(b: StoredBreaker): void {
    this.#statement(
      `INSERT INTO breakers (rule, window_start, approved, held_since) VALUES (?, ?, ?, ?)
       ON CONFLICT (rule) DO UPDATE SET window_start = excluded.window_start,
         approved = excluded.approved, held_since = excluded.held_since`,
    ).run(b.rule, b.windowStart, b.approved, b.heldSince);
  }

  readDaemons(now: number): StoredDaemon[] {
    return this.#statement("SELECT * FROM daemons WHERE expires_at > ? ORDER BY type, name")
      .all(now).map(toDaemon);
  }

  /** @internal */
  readAuditTrail(requestId?: string): AuditRecord[] {
    const rows = requestId === undefined
      ? this.#statement("SELECT * FROM audit ORDER BY seq").all()
      : this.#statement("SELECT * FROM audit WHERE request_id = ? ORDER BY seq").all(requestId);
    return rows.map(toAudit);
  }

  /** @internal */
  readIssuedRecords(beforeSeq: number | undefined, limit: number): SequencedAudit[] {
    return this.#statement(
      `SELECT * FROM audit WHERE event IN ('issue', 'fetch') AND seq < ?
       ORDER BY seq DESC LIMIT ?`,
    ).all(beforeSeq ?? Number.MAX_SAFE_INTEGER, limit).map((row) => ({
      seq: Number(row.seq),
      record: toAudit(row),
    }));
  }

  /** @internal */
  writeRequest(request: NewRequest): StoredRequest {
    const result = this.#statement(
      `INSERT INTO requests (${REQUEST_INSERT_COLUMNS.join(", ")})
       VALUES (${REQUEST_INSERT_COLUMNS.map(() => "?").join(", ")})`,
    ).run(...requestValues(request));
    if (this.#liveCount !== undefined && LIVE.includes(request.state)) this.#liveCount++;
    if (request.state === "pending") this.#countPendingChange(request.peerLocation, 1);
    return { ...request, seq: Number(result.lastInsertRowid) };
  }

  /** @internal */
  writeTransition(
    seq: number,
    from: readonly RequestState[],
    to: RequestState,
    fields: TransitionFields = {},
  ): boolean {
    const sets = ["state = ?"];
    const values: SQLInputValue[] = [to];
    for (const [key, column] of Object.entries(TRANSITION_COLUMNS)) {
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
      const live = (state: RequestState) => LIVE.includes(state);
      if (from.every(live)) this.#liveCount -= live(to) ? 0 : 1;
      else if (!from.some(live)) this.#liveCount += live(to) ? 1 : 0;
      else this.#liveCount = undefined; // which state it left is unknown: count again
    }
    if (changed && (from.includes("pending") || to === "pending")) {
      const peer = String(rows[0].peer_location);
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

  /** @internal */
  writePruneFinished(before: number): number {
    return Number(
      this.#statement(
        `DELETE FROM requests WHERE state NOT IN ('pending', 'approved')
         AND max(expires_at, coalesce(decided_at, 0)) < ?`,
      ).run(before).changes,
    );
  }

  /** @internal */
  writeRule(rule: ApprovalRule & { createdBy: string }): StoredRule {
    const result = this.#statement(
      "INSERT INTO rules (netblock, issued_at, expires_at, created_by) VALUES (?, ?, ?, ?)",
    ).run(rule.netblock, rule.issuedAt, rule.expiresAt, rule.createdBy);
    return { ...rule, seq: Number(result.lastInsertRowid), approved: 0 };
  }

  /** @internal */
  writeCountRuleApprovals(seq: number, count: number): void {
    this.#statement("UPDATE rules SET approved = approved + ? WHERE seq = ?").run(count, seq);
  }

  /** @internal */
  writeRemoveRule(seq: number, now: number): StoredRule | undefined {
    const row = this.#statement("SELECT * FROM rules WHERE seq = ? AND expires_at >= ?").get(
      seq,
      now,
    );
    if (row === undefined) return undefined;
    this.#statement("DELETE FROM rules WHERE seq = ?").run(seq);
    return toRule(row);
  }

  /** @internal */
  writePruneRules(before: number): number {
    const pruned = Number(
      this.#statement("DELETE FROM rules WHERE expires_at < ?").run(before).changes,
    );
    this.#statement("DELETE FROM breakers WHERE rule <> 0 AND rule NOT IN (SELECT seq FROM rules)")
      .run();
    return pruned;
  }

  /** @internal */
  writeDaemon(ad: StoredDaemon): void {
    this.#statement(
      `INSERT INTO daemons (name, type, address, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name, type) DO UPDATE SET address = excluded.address,
         expires_at = excluded.expires_at`,
    ).run(ad.name, ad.type, ad.address, ad.expiresAt);
  }

  /** @internal */
  writePruneDaemons(now: number): number {
    return Number(this.#statement("DELETE FROM daemons WHERE expires_at <= ?").run(now).changes);
  }

  /** @internal */
  writeAudit(record: AuditRecord): void {
    this.#statement(
      "INSERT INTO audit (at, event, request_id, actor, detail) VALUES (?, ?, ?, ?, ?)",
    ).run(...auditValues(record));
  }

  /**
   * Upgrades a database of an older schema version of ours (see UPGRADES),
   * then refuses one that is not exactly this daemon's: a newer schema
   * version, no version (another program's file, or one emptied of our
   * tables), or the current version with tables or columns missing or
   * unknown (damaged, or edited by hand).
   */
  #checkSchema(): void {
    let version = Number(this.#statement("PRAGMA user_version").get()!.user_version);
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        "STORE_TOO_NEW",
        `Cannot use state database ${this.location}: it has schema version ${version}, newer than this daemon's ${SCHEMA_VERSION}; run the newer condor_tokend or restore a backup`,
      );
    }
    while (version >= 1 && version < SCHEMA_VERSION) version = this.#upgrade(version);
    const found = tableColumns(this.#db);
    if (version < SCHEMA_VERSION) {
      throw new StoreError(
        found.size > 0 ? "STORE_FOREIGN" : "STORE_EMPTY",
        found.size > 0
          ? `Cannot use state database ${this.location}: it holds tables but no condor_tokend schema version`
          : `Cannot use state database ${this.location}: it holds no condor_tokend state (no tables, no schema version); restore it from a backup, or remove it (and any ${this.location}-wal and -shm) to start with an empty state`,
      );
    }
    const problem = schemaDifference(expectedSchema(), found);
    if (problem !== undefined) {
      throw new StoreError(
        "STORE_SCHEMA",
        `Cannot use state database ${this.location}: its schema is damaged (${problem}); restore it from a backup`,
      );
    }
  }

  /**
   * Takes a database of schema `version` (ours, older) one step up, in one
   * transaction of its own (at open, before any shared one); returns the new
   * version. A step that fails leaves the database as it was and is
   * reported as STORE_SCHEMA.
   */
  #upgrade(version: number): number {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        this.#db.exec(UPGRADES[version]);
        this.#db.exec(`PRAGMA user_version = ${version + 1}`);
        this.#db.exec("COMMIT");
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw err;
      }
    } catch (err) {
      throw new StoreError(
        "STORE_SCHEMA",
        `Cannot upgrade state database ${this.location} from schema version ${version}: ${
          err instanceof Error ? err.message : err
        }; restore it from a backup`,
        { cause: err },
      );
    }
    return version + 1;
  }
}

/**
 * One member of a shared transaction: the store's statements, usable only
 * while its savepoint is open.
 */
class SqliteTransaction implements StoreTransaction {
  #store: SqliteStore | undefined;

  constructor(store: SqliteStore) {
    this.#store = store;
  }

  /** Ends this member: a call after its savepoint closed would write into another's. */
  end(): void {
    this.#store = undefined;
  }

  get #s(): SqliteStore {
    if (this.#store === undefined) {
      throw new StoreError("STORE_TX_ENDED", "Cannot use a transaction after it has ended");
    }
    return this.#store;
  }

  liveBySecret(secretHash: string) {
    return Promise.resolve(this.#s.readLiveBySecret(secretHash));
  }
  byId(id: string) {
    return Promise.resolve(this.#s.readById(id));
  }
  bySeq(seq: number) {
    return Promise.resolve(this.#s.readBySeq(seq));
  }
  isLiveId(id: string) {
    return Promise.resolve(this.#s.readIsLiveId(id));
  }
  countLive() {
    return Promise.resolve(this.#s.readCountLive());
  }
  countPendingFrom(peer: string) {
    return Promise.resolve(this.#s.readCountPendingFrom(peer));
  }
  countPending() {
    return Promise.resolve(this.#s.readCountPending());
  }
  pending(id?: string) {
    return Promise.resolve(this.#s.readPending(id));
  }
  liveDue(now: number) {
    return Promise.resolve(this.#s.readLiveDue(now));
  }
  activeRules(now: number) {
    return Promise.resolve(this.#s.readActiveRules(now));
  }
  daemons(now: number) {
    return Promise.resolve(this.#s.readDaemons(now));
  }
  breakers() {
    return Promise.resolve(this.#s.readBreakers());
  }
  lockBreaker(rule: number) {
    return Promise.resolve(this.#s.writeLockBreaker(rule));
  }
  saveBreaker(breaker: StoredBreaker) {
    return Promise.resolve(this.#s.writeSaveBreaker(breaker));
  }
  auditTrail(requestId?: string) {
    return Promise.resolve(this.#s.readAuditTrail(requestId));
  }
  issuedRecords(beforeSeq: number | undefined, limit: number) {
    return Promise.resolve(this.#s.readIssuedRecords(beforeSeq, limit));
  }
  insertRequest(request: NewRequest) {
    return Promise.resolve(this.#s.writeRequest(request));
  }
  transition(
    seq: number,
    from: readonly RequestState[],
    to: RequestState,
    fields?: TransitionFields,
  ) {
    return Promise.resolve(this.#s.writeTransition(seq, from, to, fields));
  }
  pruneFinished(before: number) {
    return Promise.resolve(this.#s.writePruneFinished(before));
  }
  insertRule(rule: ApprovalRule & { createdBy: string }) {
    return Promise.resolve(this.#s.writeRule(rule));
  }
  countRuleApprovals(seq: number, count: number) {
    return Promise.resolve(this.#s.writeCountRuleApprovals(seq, count));
  }
  removeRule(seq: number, now: number) {
    return Promise.resolve(this.#s.writeRemoveRule(seq, now));
  }
  pruneRules(before: number) {
    return Promise.resolve(this.#s.writePruneRules(before));
  }
  upsertDaemon(ad: StoredDaemon) {
    return Promise.resolve(this.#s.writeDaemon(ad));
  }
  pruneDaemons(now: number) {
    return Promise.resolve(this.#s.writePruneDaemons(now));
  }
  appendAudit(record: AuditRecord) {
    return Promise.resolve(this.#s.writeAudit(record));
  }
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
