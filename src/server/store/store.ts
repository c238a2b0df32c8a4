/**
 * The daemon's durable state behind one asynchronous interface, with two
 * engines: SQLite in the state directory (the embedded default, one daemon)
 * and PostgreSQL (several daemons sharing one state). The state machine
 * (requests.ts) and the daemon directory see only this interface.
 *
 * Every change is one {@link Store.transaction}: its function gets an
 * explicit {@link StoreTransaction} and the promise resolves once the
 * change has committed durably, so nothing is acknowledged before that.
 * How commits are made is the engine's affair (SQLite gathers concurrent
 * transactions into one commit; PostgreSQL commits each on a connection
 * of its pool).
 *
 * The store knows rows, not policy: what may change when is decided in
 * requests.ts. It never holds a token, and requesters' secrets only as
 * SHA-256 hashes. {@link openStore} picks the engine from the location,
 * the way std's path module picks posix or windows.
 *
 * @module
 */
import type { DaemonAd, RequestState } from "../../api/protocol.ts";
import { CondorError, type StoreErrorCode } from "../../errors.ts";
import type { AuditRecord } from "../audit.ts";
import type { ApprovalRule } from "../rules.ts";
import { SqliteStore } from "./sqlite/sqlite_store.ts";

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

/** The fields a transition may set besides the state. */
export type TransitionFields = Partial<
  Pick<StoredRequest, "expiresAt" | "decidedAt" | "decidedBy" | "reason" | "jti">
>;

/** An installed rule with its row number, which is its ID. */
export interface StoredRule extends ApprovalRule {
  seq: number;
  createdBy: string;
  /** How many requests it approved. */
  approved: number;
}

/**
 * The auto-approval circuit breaker's count for one rule (rule 0: all rules
 * together) in one fixed window of TOKEND_AUTO_APPROVE_INTERVAL seconds.
 */
export interface StoredBreaker {
  /** The rule's ID; 0 counts all rules together. */
  rule: number;
  /** Epoch seconds the window began (a multiple of the interval). */
  windowStart: number;
  /** Auto-approvals made in that window. */
  approved: number;
  /** When the limit was reached in that window (epoch seconds); null when not held. */
  heldSince: number | null;
}

/** A stored daemon advertisement. */
export interface StoredDaemon extends DaemonAd {
  /** Epoch seconds. */
  expiresAt: number;
}

/** What can be read, inside a transaction or outside one. */
export interface StoreReads {
  /** The live (pending or approved) request holding `secretHash`, if any. */
  liveBySecret(secretHash: string): Promise<StoredRequest | undefined>;
  /** The request a requester means by `id`: the live one, else the latest with that id. */
  byId(id: string): Promise<StoredRequest | undefined>;
  /** The request in row `seq`. */
  bySeq(seq: number): Promise<StoredRequest | undefined>;
  /** True when a live request holds `id`. */
  isLiveId(id: string): Promise<boolean>;
  /** Number of live (pending or approved) requests. */
  countLive(): Promise<number>;
  /** Number of pending requests from `peer`'s group (see peerGroup in rules.ts). */
  countPendingFrom(peer: string): Promise<number>;
  /** Number of pending requests. */
  countPending(): Promise<number>;
  /** Pending requests, oldest first; only the one with request id `id` when given. */
  pending(id?: string): Promise<StoredRequest[]>;
  /** Live requests whose deadline has passed at `now`. */
  liveDue(now: number): Promise<StoredRequest[]>;
  /** Rules that have not expired at `now`, oldest first. */
  activeRules(now: number): Promise<StoredRule[]>;
  /** Advertisements still valid at `now`. */
  daemons(now: number): Promise<StoredDaemon[]>;
  /** The circuit breakers' counts, by rule (0 first). */
  breakers(): Promise<StoredBreaker[]>;
  /** Audit records, oldest first, optionally only those for one request id. */
  auditTrail(requestId?: string): Promise<AuditRecord[]>;
  /**
   * The audit records of issued tokens (`issue` and `fetch`), newest first:
   * at most `limit` of them, only those stored before row `beforeSeq` when
   * given. Each comes with its row number, the cursor of the next page.
   */
  issuedRecords(beforeSeq: number | undefined, limit: number): Promise<SequencedAudit[]>;
}

/** An audit record with its row number. */
export interface SequencedAudit {
  seq: number;
  record: AuditRecord;
}

/** One transaction: reads see its own writes; everything commits or nothing does. */
export interface StoreTransaction extends StoreReads {
  /** Inserts a request and returns it with its row number. */
  insertRequest(request: NewRequest): Promise<StoredRequest>;
  /**
   * Moves request `seq` from one of `from` to `to`, setting `fields`; true
   * only when exactly this call changed it (the guard against two tokens).
   * A change is announced to the other daemons sharing the store once it
   * commits (see {@link Store.watch}).
   */
  transition(
    seq: number,
    from: readonly RequestState[],
    to: RequestState,
    fields?: TransitionFields,
  ): Promise<boolean>;
  /** Deletes finished requests last touched before `before`; returns how many. */
  pruneFinished(before: number): Promise<number>;
  /** Installs a rule (it has approved nothing yet). */
  insertRule(rule: ApprovalRule & { createdBy: string }): Promise<StoredRule>;
  /** Counts `count` more requests approved by rule `seq`. */
  countRuleApprovals(seq: number, count: number): Promise<void>;
  /** Deletes rule `seq` if it is still in force at `now`; returns it as it was, or undefined. */
  removeRule(seq: number, now: number): Promise<StoredRule | undefined>;
  /**
   * Rule `rule`'s breaker (0: all rules), locked until the transaction ends
   * so that daemons sharing the store count one after another; a breaker
   * never saved reads as window 0 with nothing approved. Lock 0 before any
   * rule's, so that two transactions cannot wait for each other.
   */
  lockBreaker(rule: number): Promise<StoredBreaker>;
  /** Stores a breaker's count. */
  saveBreaker(breaker: StoredBreaker): Promise<void>;
  /** Deletes rules that expired before `before`; returns how many. */
  pruneRules(before: number): Promise<number>;
  /** Adds or refreshes a daemon's advertisement. */
  upsertDaemon(ad: StoredDaemon): Promise<void>;
  /** Deletes advertisements that expired at or before `now`; returns how many. */
  pruneDaemons(now: number): Promise<number>;
  /** Appends an audit record. */
  appendAudit(record: AuditRecord): Promise<void>;
}

/** Options of {@link Store.transaction}. */
export interface TransactionOptions {
  /**
   * Run only where no other daemon sharing the store runs a transaction
   * with the same `exclusive` name at the same time; when one does, the
   * function is not run and the transaction resolves to undefined. (The
   * expiry sweep: once, not once per daemon.)
   */
  exclusive?: string;
}

/** The daemon's durable state. */
export interface Store extends StoreReads {
  /** Which engine. */
  readonly engine: "sqlite" | "postgresql";
  /** Where the state is, for messages: a file path, or a database URL without its password. */
  readonly location: string;
  /**
   * Runs `fn` in one transaction and resolves to its result once that has
   * committed durably; rolls back and rejects if `fn` throws. `fn` must
   * await nothing but `tx` (an engine may hold its write lock meanwhile).
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  transaction<T>(
    fn: (tx: StoreTransaction) => Promise<T>,
    options: TransactionOptions & { exclusive: string },
  ): Promise<T | undefined>;
  /**
   * Why the store cannot commit, or undefined when it can: proven with a
   * real commit at most once per `intervalMs` of `now`, and from the
   * commits of real calls in between.
   */
  writeHealth(now: number, intervalMs?: number): Promise<string | undefined>;
  /**
   * Calls `listener` with the id of each request another daemon sharing the
   * store changed, after that change committed; with `undefined` when
   * changes may have been missed (a lost connection), so that every waiter
   * looks again. Never called for a store only this daemon uses.
   */
  watch(listener: (requestId: string | undefined) => void): void;
  /** Commits what is queued, then closes. */
  close(): Promise<void>;
}

/** The stored state cannot be opened or used. */
export class StoreError extends CondorError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** SQLite's words for a write the storage could not take (full, I/O error, read-only, locked). */
const SQLITE_STORAGE_FAILURE =
  /database or disk is full|disk I\/O error|readonly database|unable to open database file|database disk image is malformed|database is locked/;

/**
 * True when `err` is the storage failing, not a refusal or a constraint:
 * SQLite unable to write (node:sqlite gives no result code, only SQLite's
 * message), or the database server out of reach or out of space. The
 * daemon cannot take changes until that is fixed; a caller may retry.
 */
export function isStorageFailure(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === "STORE_UNAVAILABLE";
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (code === "ERR_SQLITE_ERROR") return SQLITE_STORAGE_FAILURE.test(err.message);
  return false;
}

/** What opening a store may need besides its location. */
export interface OpenStoreOptions {
  /** The environment (PG* variables for PostgreSQL). */
  env?: (name: string) => string | undefined;
  /** A file holding the database password (TOKEND_DATABASE_PASSWORD_FILE). */
  passwordFile?: string;
  /** One line per event; never a password. */
  log?: (line: string) => void;
}

/** True when `location` names a PostgreSQL database rather than a file. */
export function isDatabaseUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location.trim());
}

/**
 * Opens the store at `location`: a `postgresql://` URL (the PostgreSQL
 * engine) or a file path (SQLite). Throws StoreError naming the location
 * (never a password). Needs --allow-read and --allow-write of the file, or
 * --allow-net (and --allow-env of PG* variables) for PostgreSQL.
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (isDatabaseUrl(location)) {
    // Loaded only when used: a daemon on SQLite, and the other tools of the
    // same binary, do not load the driver.
    const { PostgresStore } = await import("./postgres/postgres_store.ts");
    return await PostgresStore.open(location, options);
  }
  return await SqliteStore.open(location);
}
