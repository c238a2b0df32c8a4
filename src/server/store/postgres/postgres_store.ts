/**
 * The PostgreSQL engine of the store: one state shared by every daemon
 * given the same TOKEND_DATABASE, so that two or more daemons serve as one.
 *
 * - Each transaction runs on a connection of a small pool, under
 *   PostgreSQL's default isolation (read committed). The guard against two
 *   tokens is the same conditional update as in SQLite: a second
 *   `UPDATE ... WHERE state IN (...)` on the same row waits for the first
 *   to commit, then finds the row changed and updates nothing.
 * - A transaction that loses a race on a unique index (two daemons taking
 *   the same random id, or the same requester's secret on both) or on a
 *   serialization failure is run again from the start, where it sees the
 *   winner's row.
 * - Every new request and every transition sends a NOTIFY on {@link CHANNEL} in its transaction,
 *   delivered at commit: each daemon LISTENs, and wakes its waiting polls
 *   at once (see Store.watch).
 * - An exclusive transaction (the expiry sweep) first takes a transaction
 *   advisory lock; a daemon that cannot get it skips its turn.
 * - The schema is created and migrated at open under a session advisory
 *   lock, so daemons starting together do it once; a newer schema than the
 *   code knows is refused.
 *
 * @module
 */
import postgres from "postgres";
import type { RequestState } from "../../../api/protocol.ts";
import type { AuditRecord } from "../../audit.ts";
import { type ApprovalRule, peerGroup } from "../../rules.ts";
import {
  assertStorable,
  auditValues,
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
import type {
  NewRequest,
  OpenStoreOptions,
  SequencedAudit,
  Store,
  StoredBreaker,
  StoredDaemon,
  StoredRequest,
  StoredRule,
  StoreReads,
  StoreTransaction,
  TransitionFields,
} from "../store.ts";
import { StoreError } from "../store.ts";
import { type Connection, connectionFor, withoutSecret } from "./_connection.ts";
import { MIGRATIONS, SCHEMA_NAME, SCHEMA_VERSION, TABLES } from "./_schema.ts";

export { SCHEMA_NAME, SCHEMA_VERSION };

/** The NOTIFY channel on which daemons announce changed requests. */
export const CHANNEL = "condor_tokend_request";

/** Advisory lock keys: (LOCK_CLASS, n), n per purpose. */
const LOCK_CLASS = 0x746f6b64; // "tokd"
const MIGRATION_LOCK = 1;
const EXCLUSIVE_LOCKS: Record<string, number> = { sweep: 2 };

/** How many times a transaction that lost a race is run again. */
const RETRIES = 5;

/** SQLSTATEs of a transaction that lost a race and may simply run again. */
const RETRYABLE = new Set(["23505", "40001", "40P01"]);

// deno-lint-ignore no-explicit-any
type Sql = postgres.Sql<any> | postgres.TransactionSql<any>;

/** The PostgreSQL store. */
export class PostgresStore implements Store {
  readonly engine = "postgresql";
  readonly location: string;
  // deno-lint-ignore no-explicit-any
  readonly #sql: postgres.Sql<any>;
  readonly #password: string;
  /** Tells this daemon's own notifications from the others'. */
  readonly #instance = crypto.randomUUID();
  readonly #listeners: ((requestId: string | undefined) => void)[] = [];
  #listening: postgres.ListenMeta | undefined;
  /** Why the last write failed, until one succeeds (see writeHealth). */
  #writeFailure: string | undefined;
  #lastProbe: number | undefined;
  #closed = false;
  readonly #log: (line: string) => void;

  private constructor(
    // deno-lint-ignore no-explicit-any
    sql: postgres.Sql<any>,
    connection: Connection,
    log: (line: string) => void,
  ) {
    this.#sql = sql;
    this.location = connection.location;
    this.#password = connection.password;
    this.#log = log;
  }

  /**
   * Connects, creates or migrates the schema, and starts listening for the
   * other daemons' changes. Throws StoreError naming the database (never
   * its password): STORE_CONFIG, STORE_OPEN (unreachable, refused), or
   * STORE_TOO_NEW / STORE_FOREIGN / STORE_SCHEMA. Needs --allow-net (or
   * --allow-read and --allow-write of a unix socket), --allow-env of the
   * PG* variables, --allow-read of a password file or sslrootcert.
   */
  static async open(url: string, options: OpenStoreOptions = {}): Promise<PostgresStore> {
    const env = options.env ?? (() => undefined);
    const connection = await connectionFor(url, env, options.passwordFile);
    const sql = postgres({
      ...connection.options,
      max: 10,
      idle_timeout: 60,
      max_lifetime: 3600,
      max_pipeline: 100,
      keep_alive: 60,
      backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 2),
      prepare: true,
      debug: false,
      fetch_types: false,
      publications: "alltables",
      sslnegotiation: null,
      // Only a server that takes writes: after a failover, never a standby.
      target_session_attrs: "read-write",
      connection: { application_name: "condor_tokend", search_path: SCHEMA_NAME },
      onnotice: () => {},
      // deno-lint-ignore no-explicit-any
    } as any);
    const store = new PostgresStore(sql, connection, options.log ?? (() => {}));
    try {
      await store.#migrate();
      await store.#listen();
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => {});
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        "STORE_OPEN",
        `Cannot use state database ${store.location}: ${store.#reason(err)}`,
        { cause: err },
      );
    }
    return store;
  }

  /** Creates the schema, or brings it up to date, once among daemons starting together. */
  async #migrate(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      // Held until this transaction ends: a second daemon starting now
      // waits here, then finds the schema made.
      await tx`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, ${MIGRATION_LOCK})`;
      const [{ present }] = await tx`
        SELECT count(*)::int AS present FROM information_schema.tables
        WHERE table_schema = ${SCHEMA_NAME}`;
      let version = 0;
      if (present > 0) {
        const [{ has }] = await tx`
          SELECT count(*)::int AS has FROM information_schema.tables
          WHERE table_schema = ${SCHEMA_NAME} AND table_name = 'schema_version'`;
        if (has === 0) {
          throw new StoreError(
            "STORE_FOREIGN",
            `Cannot use state database ${this.location}: its schema "${SCHEMA_NAME}" holds tables but no condor_tokend schema version`,
          );
        }
        version = Number(
          (await tx.unsafe(`SELECT version FROM ${SCHEMA_NAME}.schema_version`))[0]?.version ?? 0,
        );
      }
      if (version > SCHEMA_VERSION) {
        throw new StoreError(
          "STORE_TOO_NEW",
          `Cannot use state database ${this.location}: it has schema version ${version}, newer than this daemon's ${SCHEMA_VERSION}; run the newer condor_tokend`,
        );
      }
      if (present === 0) {
        await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA_NAME}`);
        await tx.unsafe(`CREATE TABLE ${SCHEMA_NAME}.schema_version (version INTEGER NOT NULL)`);
        await tx.unsafe(`INSERT INTO ${SCHEMA_NAME}.schema_version VALUES (0)`);
      }
      await tx.unsafe(`SET LOCAL search_path TO ${SCHEMA_NAME}`);
      for (let next = version; next < SCHEMA_VERSION; next++) {
        await tx.unsafe(MIGRATIONS[next]);
        await tx.unsafe(`UPDATE ${SCHEMA_NAME}.schema_version SET version = ${next + 1}`);
      }
      const tables = (await tx`
        SELECT table_name FROM information_schema.tables WHERE table_schema = ${SCHEMA_NAME}`)
        .map((r) => String(r.table_name));
      const missing = TABLES.filter((t) => !tables.includes(t));
      if (missing.length > 0) {
        throw new StoreError(
          "STORE_SCHEMA",
          `Cannot use state database ${this.location}: its schema is damaged (table ${
            missing.join(", ")
          } missing); restore it from a backup`,
        );
      }
    });
  }

  /** LISTENs for the other daemons' changes; a reconnection wakes every waiter, as one may have been missed. */
  async #listen(): Promise<void> {
    let first = true;
    this.#listening = await this.#sql.listen(CHANNEL, (payload) => {
      const space = payload.indexOf(" ");
      if (space < 0 || payload.slice(0, space) === this.#instance) return;
      const id = payload.slice(space + 1);
      for (const listener of this.#listeners) listener(id);
    }, () => {
      if (!first) {
        this.#log(
          `listening again to ${this.location} after losing the connection; waking every waiting poll`,
        );
        for (const listener of this.#listeners) listener(undefined);
      }
      first = false;
    });
  }

  watch(listener: (requestId: string | undefined) => void): void {
    this.#listeners.push(listener);
  }

  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  transaction<T>(
    fn: (tx: StoreTransaction) => Promise<T>,
    options: { exclusive: string },
  ): Promise<T | undefined>;
  /** Runs `fn` in a transaction, again from the start when it lost a race (see module doc). */
  async transaction<T>(
    fn: (tx: StoreTransaction) => Promise<T>,
    options: { exclusive?: string } = {},
  ): Promise<T | undefined> {
    const lock = options.exclusive === undefined ? undefined : EXCLUSIVE_LOCKS[options.exclusive];
    if (options.exclusive !== undefined && lock === undefined) {
      throw new StoreError("STORE_LOCK", `Cannot lock "${options.exclusive}": no such lock`);
    }
    for (let attempt = 0;; attempt++) {
      try {
        const result = await this.#sql.begin(async (sql) => {
          if (lock !== undefined) {
            const [{ locked }] = await sql`
              SELECT pg_try_advisory_xact_lock(${LOCK_CLASS}, ${lock}) AS locked`;
            if (!locked) return { skipped: true as const };
          }
          return { value: await fn(new PostgresTransaction(sql, this.#instance)) };
        });
        this.#writeFailure = undefined;
        return "skipped" in result ? undefined : result.value as T;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt < RETRIES && typeof code === "string" && RETRYABLE.has(code)) continue;
        throw this.#translate(err);
      }
    }
  }

  /**
   * Why the store cannot commit, or undefined when it can: proven with a
   * real write and commit at most once per `intervalMs` of `now`.
   */
  async writeHealth(now: number, intervalMs = 1000): Promise<string | undefined> {
    const since = now - (this.#lastProbe ?? -Infinity);
    if (since >= intervalMs || since < 0) {
      this.#lastProbe = now;
      try {
        await this.#sql.begin((sql) => sql`UPDATE schema_version SET version = version`);
        this.#writeFailure = undefined;
      } catch (err) {
        this.#writeFailure = this.#reason(err);
      }
    }
    return this.#writeFailure;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listening?.unlisten().catch(() => {});
    await this.#sql.end({ timeout: 5 });
  }

  /** A failure as a StoreError: STORE_UNAVAILABLE (503, retry) when the server is out of reach or full. */
  #translate(err: unknown): unknown {
    if (err instanceof StoreError) return err;
    if (!isUnavailable(err)) return err;
    const reason = this.#reason(err);
    this.#writeFailure = reason;
    return new StoreError("STORE_UNAVAILABLE", `${reason} (${this.location})`, { cause: err });
  }

  /** The driver's words for `err`, without the password. */
  #reason(err: unknown): string {
    return withoutSecret(err instanceof Error ? err.message : String(err), this.#password);
  }

  // --- reads outside a transaction ---------------------------------------

  #reads(): PostgresTransaction {
    return new PostgresTransaction(this.#sql, this.#instance);
  }

  async #read<T>(fn: (reads: StoreReads) => Promise<T>): Promise<T> {
    try {
      return await fn(this.#reads());
    } catch (err) {
      throw this.#translate(err);
    }
  }

  liveBySecret(secretHash: string) {
    return this.#read((r) => r.liveBySecret(secretHash));
  }
  byId(id: string) {
    return this.#read((r) => r.byId(id));
  }
  bySeq(seq: number) {
    return this.#read((r) => r.bySeq(seq));
  }
  isLiveId(id: string) {
    return this.#read((r) => r.isLiveId(id));
  }
  countLive() {
    return this.#read((r) => r.countLive());
  }
  countPendingFrom(peer: string) {
    return this.#read((r) => r.countPendingFrom(peer));
  }
  countPending() {
    return this.#read((r) => r.countPending());
  }
  pending(id?: string) {
    return this.#read((r) => r.pending(id));
  }
  liveDue(now: number) {
    return this.#read((r) => r.liveDue(now));
  }
  activeRules(now: number) {
    return this.#read((r) => r.activeRules(now));
  }
  daemons(now: number) {
    return this.#read((r) => r.daemons(now));
  }
  breakers() {
    return this.#read((r) => r.breakers());
  }
  auditTrail(requestId?: string) {
    return this.#read((r) => r.auditTrail(requestId));
  }
  issuedRecords(beforeSeq: number | undefined, limit: number) {
    return this.#read((r) => r.issuedRecords(beforeSeq, limit));
  }
}

/** The statements, on the pool (reads) or on one transaction's connection. */
class PostgresTransaction implements StoreTransaction {
  readonly #sql: Sql;
  readonly #instance: string;

  constructor(sql: Sql, instance: string) {
    this.#sql = sql;
    this.#instance = instance;
  }

  async #rows(text: string, values: readonly unknown[] = []): Promise<Row[]> {
    assertStorable(values);
    // deno-lint-ignore no-explicit-any
    return [...await this.#sql.unsafe(text, values as any[], { prepare: true })] as Row[];
  }

  async #one(text: string, values: readonly unknown[] = []): Promise<Row | undefined> {
    return (await this.#rows(text, values))[0];
  }

  async liveBySecret(secretHash: string): Promise<StoredRequest | undefined> {
    const row = await this.#one(
      "SELECT * FROM requests WHERE secret_hash = $1 AND state IN ('pending', 'approved')",
      [secretHash],
    );
    return row ? toRequest(row) : undefined;
  }

  async byId(id: string): Promise<StoredRequest | undefined> {
    const row = await this.#one(
      `SELECT * FROM requests WHERE id = $1
       ORDER BY state IN ('pending', 'approved') DESC, seq DESC LIMIT 1`,
      [id],
    );
    return row ? toRequest(row) : undefined;
  }

  async bySeq(seq: number): Promise<StoredRequest | undefined> {
    const row = await this.#one("SELECT * FROM requests WHERE seq = $1", [seq]);
    return row ? toRequest(row) : undefined;
  }

  async isLiveId(id: string): Promise<boolean> {
    return (await this.#one(
      "SELECT 1 FROM requests WHERE id = $1 AND state IN ('pending', 'approved')",
      [id],
    )) !== undefined;
  }

  async countLive(): Promise<number> {
    const row = await this.#one(
      "SELECT count(*) AS n FROM requests WHERE state IN ('pending', 'approved')",
    );
    return Number(row!.n);
  }

  async countPendingFrom(peer: string): Promise<number> {
    const row = await this.#one(
      "SELECT count(*) AS n FROM requests WHERE state = 'pending' AND peer_group = $1",
      [peerGroup(peer)],
    );
    return Number(row!.n);
  }

  async countPending(): Promise<number> {
    return Number(
      (await this.#one("SELECT count(*) AS n FROM requests WHERE state = 'pending'"))!.n,
    );
  }

  async pending(id?: string): Promise<StoredRequest[]> {
    const rows = id === undefined
      ? await this.#rows("SELECT * FROM requests WHERE state = 'pending' ORDER BY seq")
      : await this.#rows(
        "SELECT * FROM requests WHERE id = $1 AND state = 'pending' ORDER BY seq",
        [id],
      );
    return rows.map(toRequest);
  }

  async liveDue(now: number): Promise<StoredRequest[]> {
    return (await this.#rows(
      `SELECT * FROM requests WHERE state IN ('pending', 'approved') AND expires_at <= $1
       ORDER BY seq`,
      [now],
    )).map(toRequest);
  }

  async activeRules(now: number): Promise<StoredRule[]> {
    return (await this.#rows("SELECT * FROM rules WHERE expires_at >= $1 ORDER BY seq", [now]))
      .map(toRule);
  }

  async daemons(now: number): Promise<StoredDaemon[]> {
    return (await this.#rows(
      "SELECT * FROM daemons WHERE expires_at > $1 ORDER BY type, name",
      [now],
    )).map(toDaemon);
  }

  async auditTrail(requestId?: string): Promise<AuditRecord[]> {
    const rows = requestId === undefined
      ? await this.#rows("SELECT * FROM audit ORDER BY seq")
      : await this.#rows("SELECT * FROM audit WHERE request_id = $1 ORDER BY seq", [requestId]);
    return rows.map(toAudit);
  }

  async issuedRecords(beforeSeq: number | undefined, limit: number): Promise<SequencedAudit[]> {
    const rows = await this.#rows(
      `SELECT * FROM audit WHERE event IN ('issue', 'fetch') AND seq < $1
       ORDER BY seq DESC LIMIT $2`,
      [beforeSeq ?? Number.MAX_SAFE_INTEGER, limit],
    );
    return rows.map((row) => ({ seq: Number(row.seq), record: toAudit(row) }));
  }

  async insertRequest(request: NewRequest): Promise<StoredRequest> {
    const columns = [...REQUEST_INSERT_COLUMNS, "peer_group"];
    // Announced like a transition: administrators watching for new requests wake on it.
    const row = await this.#one(
      `WITH inserted AS (
         INSERT INTO requests (${columns.join(", ")})
         VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")}) RETURNING seq, id)
       SELECT seq, pg_notify('${CHANNEL}', $${columns.length + 1} || ' ' || id) FROM inserted`,
      [...requestValues(request), peerGroup(request.peerLocation), this.#instance],
    );
    return { ...request, seq: Number(row!.seq) };
  }

  async transition(
    seq: number,
    from: readonly RequestState[],
    to: RequestState,
    fields: TransitionFields = {},
  ): Promise<boolean> {
    const values: unknown[] = [to];
    const sets = ["state = $1"];
    for (const [key, column] of Object.entries(TRANSITION_COLUMNS)) {
      const value = (fields as Record<string, unknown>)[key];
      if (value !== undefined) {
        values.push(value);
        sets.push(`${column} = $${values.length}`);
      }
    }
    values.push(seq, this.#instance);
    const seqAt = values.length - 1;
    const states = from.map((state) => {
      values.push(state);
      return `$${values.length}`;
    });
    // The NOTIFY is part of the transaction: sent if, and when, it commits.
    const rows = await this.#rows(
      `WITH changed AS (
         UPDATE requests SET ${sets.join(", ")}
         WHERE seq = $${seqAt} AND state IN (${states.join(", ")}) RETURNING id)
       SELECT pg_notify('${CHANNEL}', $${seqAt + 1} || ' ' || id) FROM changed`,
      values,
    );
    return rows.length === 1;
  }

  async pruneFinished(before: number): Promise<number> {
    return (await this.#rows(
      `DELETE FROM requests WHERE state NOT IN ('pending', 'approved')
       AND greatest(expires_at, coalesce(decided_at, 0)) < $1 RETURNING seq`,
      [before],
    )).length;
  }

  async insertRule(rule: ApprovalRule & { createdBy: string }): Promise<StoredRule> {
    const row = await this.#one(
      `INSERT INTO rules (netblock, issued_at, expires_at, created_by) VALUES ($1, $2, $3, $4)
       RETURNING seq`,
      [rule.netblock, rule.issuedAt, rule.expiresAt, rule.createdBy],
    );
    return { ...rule, seq: Number(row!.seq), approved: 0 };
  }

  async countRuleApprovals(seq: number, count: number): Promise<void> {
    await this.#rows("UPDATE rules SET approved = approved + $1 WHERE seq = $2", [count, seq]);
  }

  async breakers(): Promise<StoredBreaker[]> {
    return (await this.#rows("SELECT * FROM breakers ORDER BY rule")).map(toBreaker);
  }

  /** The row is made if missing, then locked (FOR UPDATE) until the transaction ends. */
  async lockBreaker(rule: number): Promise<StoredBreaker> {
    await this.#rows(
      `INSERT INTO breakers (rule, window_start, approved, held_since) VALUES ($1, 0, 0, NULL)
       ON CONFLICT (rule) DO NOTHING`,
      [rule],
    );
    const row = await this.#one("SELECT * FROM breakers WHERE rule = $1 FOR UPDATE", [rule]);
    return row ? toBreaker(row) : newBreaker(rule);
  }

  async saveBreaker(b: StoredBreaker): Promise<void> {
    await this.#rows(
      `INSERT INTO breakers (rule, window_start, approved, held_since) VALUES ($1, $2, $3, $4)
       ON CONFLICT (rule) DO UPDATE SET window_start = excluded.window_start,
         approved = excluded.approved, held_since = excluded.held_since`,
      [b.rule, b.windowStart, b.approved, b.heldSince],
    );
  }

  async removeRule(seq: number, now: number): Promise<StoredRule | undefined> {
    // One statement: of two daemons removing the same rule at once, one gets it.
    const row = await this.#one(
      "DELETE FROM rules WHERE seq = $1 AND expires_at >= $2 RETURNING *",
      [seq, now],
    );
    return row ? toRule(row) : undefined;
  }

  async pruneRules(before: number): Promise<number> {
    const pruned =
      (await this.#rows("DELETE FROM rules WHERE expires_at < $1 RETURNING seq", [before])).length;
    await this.#rows(
      "DELETE FROM breakers WHERE rule <> 0 AND rule NOT IN (SELECT seq FROM rules)",
    );
    return pruned;
  }

  async upsertDaemon(ad: StoredDaemon): Promise<void> {
    await this.#rows(
      `INSERT INTO daemons (name, type, address, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name, type) DO UPDATE SET address = excluded.address,
         expires_at = excluded.expires_at`,
      [ad.name, ad.type, ad.address, ad.expiresAt],
    );
  }

  async pruneDaemons(now: number): Promise<number> {
    return (await this.#rows("DELETE FROM daemons WHERE expires_at <= $1 RETURNING name", [now]))
      .length;
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    await this.#rows(
      "INSERT INTO audit (at, event, request_id, actor, detail) VALUES ($1, $2, $3, $4, $5)",
      auditValues(record),
    );
  }
}

/**
 * Whether `err` means the database cannot be reached or cannot write: the
 * driver's connection failures, and SQLSTATE classes 08 (connection), 53
 * (insufficient resources, e.g. disk full), 57P (shut down), 25006 (a
 * read-only server, e.g. a standby after failover).
 */
function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return /^(08|53|57P)/.test(code) || code === "25006" ||
    /^(CONNECTION_|CONNECT_TIMEOUT|ECONN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|ENOENT)/
      .test(code);
}
