/**
 * The HTTP API between condor_tokend and its clients: paths, bodies and
 * states. The client and the server both import this module and never each
 * other. docs/protocol.md explains the same contract in prose.
 *
 * All bodies are JSON (`content-type: application/json`). Errors are
 * `{ "error": { "code": "...", "message": "..." } }` with a 4xx/5xx status.
 * Authenticated calls carry `Authorization: Bearer <IDTOKEN>`.
 */

/** API version prefix of every path. */
export const API_PREFIX = "/v1";

/** Paths, relative to the daemon's base URL. */
export const PATHS = {
  /** GET: DaemonInfo. No authentication. */
  info: `${API_PREFIX}/info`,
  /** GET: "ok" health check (text). */
  health: "/healthz",
  /** GET: Prometheus text metrics. */
  metrics: "/metrics",
  /**
   * POST EnqueueRequest -> EnqueueResponse (201, or 200 when it already
   * existed). GET -> ListResponse (authenticated; `?reqid=ID`); with
   * `?watch=1&after=CURSOR&wait=SECONDS` -> WatchResponse (administrators):
   * the long poll for new requests.
   */
  requests: `${API_PREFIX}/token-requests`,
  /** POST CollectRequest -> CollectResponse: long-poll for the outcome. */
  collect: (id: string) => `${API_PREFIX}/token-requests/${id}/collect`,
  /** POST CancelRequest -> RequestStateResponse: the requester withdraws its request. */
  cancel: (id: string) => `${API_PREFIX}/token-requests/${id}/cancel`,
  /** POST (authenticated, empty body) -> RequestStateResponse. */
  approve: (id: string) => `${API_PREFIX}/token-requests/${id}/approve`,
  /** POST DenyRequest (authenticated) -> RequestStateResponse. */
  deny: (id: string) => `${API_PREFIX}/token-requests/${id}/deny`,
  /**
   * POST AutoApproveRequest (authenticated) -> AutoApproveResponse; GET
   * (authenticated) -> RuleListResponse, the rules in force.
   */
  autoApprovalRules: `${API_PREFIX}/auto-approval-rules`,
  /** DELETE (authenticated) -> RuleInfo of the rule removed. */
  autoApprovalRule: (id: string) => `${API_PREFIX}/auto-approval-rules/${id}`,
  /** POST (administrators, empty body) -> RuleInfo: the circuit breaker lets the rule approve again. */
  resumeRule: (id: string) => `${API_PREFIX}/auto-approval-rules/${id}/resume`,
  /** POST FetchTokenRequest (authenticated) -> FetchTokenResponse. */
  tokens: `${API_PREFIX}/tokens`,
  /**
   * GET (authenticated, administrator) -> IssuedTokenListResponse: the
   * tokens this daemon issued, newest first, never the tokens themselves;
   * `?identity=&peer=NETBLOCK&limit=N&before=CURSOR`.
   */
  issuedTokens: `${API_PREFIX}/issued-tokens`,
  /** GET ?name=&type= -> DaemonListResponse; POST DaemonAd (authenticated, DAEMON) to advertise. */
  daemons: `${API_PREFIX}/daemons`,
} as const;

/** Longest long-poll wait a client may ask for, in seconds; the server caps larger values. */
export const MAX_WAIT_SECONDS = 30;

/** Longest reason a denial may carry, in characters. */
export const MAX_REASON_LENGTH = 1024;

/** States of a token request. */
export type RequestState =
  | "pending"
  | "approved"
  | "collected"
  | "denied"
  | "expired"
  | "cancelled";

/** GET /v1/info: what a client needs before authenticating. */
export interface DaemonInfo {
  /** Daemon software version. */
  version: string;
  /** The pool's TRUST_DOMAIN (issuer of tokens). */
  trustDomain: string;
  /** Names (`kid`s) of the signing keys this daemon holds. */
  issuerKeys: string[];
  /** This daemon's name and type (e.g. "COLLECTOR"). */
  name: string;
  type: string;
  /**
   * The daemon's clock, Unix seconds, when it answered: a client compares
   * it with its own to warn of clock skew. Absent from older daemons.
   */
  time?: number;
}

/** POST /v1/token-requests. */
export interface EnqueueRequest {
  /** Requested identity, `user@domain` (the requester fills in HTCondor's default). */
  identity: string;
  /** Requested authorization levels; empty for an unrestricted token. */
  authz: string[];
  /** Requested token lifetime in seconds; null for "no lifetime requested". */
  lifetime: number | null;
  /** Human-readable client id (host name plus a short random number). */
  clientId: string;
  /**
   * Requester secret (at least 32 characters, base64url). Chosen by the
   * requester, stored by the daemon only as a SHA-256 hash, and needed to
   * collect or cancel. Re-sending the same secret returns the same request.
   */
  secret: string;
}

/** Reply to an enqueue. */
export interface EnqueueResponse {
  /** 7-digit, zero-padded request id. */
  requestId: string;
  state: RequestState;
  /** Epoch seconds when the pending request expires. */
  expiresAt: number;
  /** Present when an auto-approval rule matched and the token was issued at once. */
  token?: string;
}

/** POST /v1/token-requests/{id}/collect. */
export interface CollectRequest {
  secret: string;
  /** Seconds to wait for a state change (0..MAX_WAIT_SECONDS). */
  waitSeconds: number;
}

/** Reply to a collect: the token when approved, otherwise the current state. */
export interface CollectResponse {
  requestId: string;
  state: RequestState;
  expiresAt: number;
  /** The token, returned exactly once (state becomes "collected"). */
  token?: string;
  /** The administrator's reason when denied. */
  reason?: string;
}

/** POST /v1/token-requests/{id}/cancel. */
export interface CancelRequest {
  secret: string;
}

/** POST /v1/token-requests/{id}/deny. */
export interface DenyRequest {
  reason?: string;
}

/** Reply to approve, deny and cancel. */
export interface RequestStateResponse {
  requestId: string;
  state: RequestState;
}

/** One pending request as administrators see it (stable field names; see docs/protocol.md). */
export interface RequestInfo {
  requestId: string;
  requestedIdentity: string;
  authenticatedIdentity: string;
  peerLocation: string;
  clientId: string;
  /** Requested (and allowed) authorization levels; empty = unrestricted. */
  authorizations: string[];
  /** Requested lifetime in seconds, null if none. */
  lifetime: number | null;
  state: RequestState;
  /** Epoch seconds. */
  requestedAt: number;
  expiresAt: number;
}

/** GET /v1/token-requests. */
export interface ListResponse {
  requests: RequestInfo[];
}

/**
 * GET /v1/token-requests?watch=1: every pending request, answered as soon
 * as the set of pending requests differs from the one `after` names (at
 * once without `after`), else when the wait ends.
 */
export interface WatchResponse {
  requests: RequestInfo[];
  /** Names this set of pending requests: pass as `after` to wait for a change. */
  cursor: string;
}

/** A watch cursor: 32 lower-case hex digits. */
export const WATCH_CURSOR_PATTERN = /^[0-9a-f]{32}$/;

/** Most administrators one daemon lets watch at once (each holds a connection). */
export const MAX_WATCHERS = 16;

/** POST /v1/auto-approval-rules. */
export interface AutoApproveRequest {
  /** CIDR netblock, IPv4 or IPv6, e.g. "192.0.2.0/24". */
  netblock: string;
  /** Rule lifetime in seconds (> 0, at most TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME). */
  lifetime: number;
}

/** Reply to installing a rule. */
export interface AutoApproveResponse {
  /** The rule's ID, for listing and removing it (absent from HTCondor daemons). */
  ruleId?: number;
  netblock: string;
  lifetime: number;
  /** Epoch seconds. */
  expiresAt: number;
  /** Pending requests the new rule approved at once. */
  approved: string[];
}

/** An auto-approval rule in force (GET /v1/auto-approval-rules). */
export interface RuleInfo {
  /** A positive integer, never reused by this daemon. */
  ruleId: number;
  netblock: string;
  /** Who installed it. */
  createdBy: string;
  /** Epoch seconds. */
  createdAt: number;
  expiresAt: number;
  /** How many requests it approved so far. */
  approved: number;
  /**
   * True while the circuit breaker holds it: it (or all rules together)
   * made the most auto-approvals allowed in the current window, and the
   * requests it matches wait for a human. Absent from older daemons.
   */
  held?: boolean;
  /** When it was held (epoch seconds), while `held`. */
  heldSince?: number;
  /** Which limit holds it, while `held`: "rule" (its own) or "total" (all rules together). */
  heldBy?: "rule" | "total";
  /** Auto-approvals it made in the current window. */
  windowApproved?: number;
}

/** GET /v1/auto-approval-rules. */
export interface RuleListResponse {
  rules: RuleInfo[];
}

/** How an issued token came to be: an approved request, an auto-approval rule, or a fetch. */
export type IssuedHow = "approved" | "auto-approval" | "fetch";

/** One token the daemon issued, as its audit trail records it (never the token). */
export interface IssuedTokenInfo {
  /** The token's ID (its `jti` claim). */
  jti: string;
  /** The identity it was issued to (its `sub` claim). */
  identity: string;
  /** Its authorization levels; empty = every authorization of the identity. */
  authorizations: string[];
  /** Epoch seconds (its `iat` claim, to the second). */
  issuedAt: number;
  /** Epoch seconds (its `exp` claim); null when it does not expire. */
  expiresAt: number | null;
  /** The token request it was issued for; null for a fetch. */
  requestId: string | null;
  /** The address the request (or fetch) came from; null when the record predates it. */
  peer: string | null;
  how: IssuedHow;
  /** Who approved it: the administrator's (or owner's) identity, or the rule. */
  approvedBy: string | null;
  /** The auto-approval rule's ID, when a rule approved it and the trail names it. */
  ruleId?: number;
}

/** GET /v1/issued-tokens. */
export interface IssuedTokenListResponse {
  tokens: IssuedTokenInfo[];
  /** When more may follow: pass as `before` for the next page. */
  next?: string;
}

/** Most issued tokens one page lists; the default page is {@link ISSUED_PAGE_DEFAULT}. */
export const ISSUED_PAGE_MAX = 1000;
/** Issued tokens in a page when `limit` is not given. */
export const ISSUED_PAGE_DEFAULT = 200;

/** A rule ID in a path: a positive decimal integer. */
export const RULE_ID_PATTERN = /^[1-9]\d{0,14}$/;

/** POST /v1/tokens: an authenticated caller's token for its own identity. */
export interface FetchTokenRequest {
  authz: string[];
  lifetime: number | null;
  /** Signing key to use; the daemon's SEC_TOKEN_ISSUER_KEY when absent. */
  key?: string;
}

/** Reply to a fetch. */
export interface FetchTokenResponse {
  token: string;
}

/** A token-issuing daemon as listed in the collector-role daemon's directory. */
export interface DaemonAd {
  name: string;
  /** Daemon type, upper case: COLLECTOR, SCHEDD, STARTD, MASTER, ... */
  type: string;
  /** Base URL, e.g. "https://host.example.org:9618". */
  address: string;
  /** Seconds the ad stays valid without being re-advertised. */
  lifetime?: number;
}

/** GET /v1/daemons. */
export interface DaemonListResponse {
  daemons: DaemonAd[];
}

/**
 * Whether a daemon named `name` answers to `-name wanted`, as in HTCondor:
 * case-insensitive, and a plain host name `wanted` (no `@`) also matches a
 * daemon named `something@wanted` (`-name bird.cs.wisc.edu` finds
 * `schedd@bird.cs.wisc.edu`). `GET /v1/daemons?name=` matches this way.
 */
export function daemonNameMatches(name: string, wanted: string): boolean {
  const have = name.toLowerCase();
  const want = wanted.toLowerCase();
  return have === want || (!want.includes("@") && have.endsWith(`@${want}`));
}

/**
 * Every `error.code` condor_tokend answers with (docs/protocol.md lists
 * when): a closed set, so a refusal the daemon makes up without a code here
 * does not compile. A client meets codes outside it only from another
 * version or another program, and reads those by their HTTP status.
 */
export const REFUSAL_CODES = [
  // HTTP framing (the daemon's own HTTP/1.1 server).
  "BAD_HTTP",
  "METHOD_NOT_ALLOWED",
  "LENGTH_REQUIRED",
  "BODY_TOO_LARGE",
  "URI_TOO_LONG",
  "EXPECTATION_FAILED",
  "HEADERS_TOO_LARGE",
  "WRONG_SCHEME",
  "NOT_FOUND",
  // 400: a malformed body or parameter.
  "BAD_JSON",
  "NO_IDENTITY",
  "BAD_IDENTITY",
  "NO_CLIENT_ID",
  "BAD_CLIENT_ID",
  "BAD_SECRET",
  "BAD_AUTHZ",
  "BAD_LIFETIME",
  "BAD_WAIT",
  "BAD_REQUEST_ID",
  "BAD_REASON",
  "RULE_BAD_LIFETIME",
  "RULE_BAD_NETBLOCK",
  "BAD_RULE_ID",
  "BAD_KEY",
  "BAD_DAEMON_AD",
  "BAD_QUERY",
  "BAD_NETBLOCK",
  // 401: no valid token.
  "NOT_AUTHENTICATED",
  "AUTH_SCHEME",
  "TOKEN_MALFORMED",
  "TOKEN_BAD_ALG",
  "TOKEN_NO_KID",
  "TOKEN_UNKNOWN_KEY",
  "TOKEN_BAD_SIGNATURE",
  "TOKEN_WRONG_ISSUER",
  "TOKEN_EXPIRED",
  "TOKEN_BAD_SUBJECT",
  // 403: not allowed.
  "TOKEN_REQUEST_DISABLED",
  "AUTHZ_ELIMINATED",
  "SECRET_INCORRECT",
  "NOT_AUTHORIZED",
  "SCOPE_RESTRICTED",
  "LIFETIME_EXCEEDED",
  "TOKEN_FETCH_DISABLED",
  "AUTHZ_NOT_ALLOWED",
  "KEY_NOT_ALLOWED",
  "KEY_UNAVAILABLE",
  // 404, 409: no such thing, or not in a state for this.
  "REQUEST_UNKNOWN",
  "RULE_UNKNOWN",
  "WRONG_STATE",
  // 429, 503: come back later.
  "RATE_LIMITED",
  "TOO_MANY_PENDING_FROM_PEER",
  "TOO_MANY_REQUESTS",
  "NO_REQUEST_ID",
  "NO_SIGNING_KEY",
  "STORE_UNWRITABLE",
  "TOO_MANY_WATCHERS",
  // 500: a fault of the daemon's.
  "INTERNAL",
] as const;

/** One of {@link REFUSAL_CODES}. */
export type RefusalCode = typeof REFUSAL_CODES[number];

const REFUSAL_CODE_SET: ReadonlySet<string> = new Set(REFUSAL_CODES);

/** Whether `code` is one of condor_tokend's {@link REFUSAL_CODES}. */
export function isRefusalCode(code: string): code is RefusalCode {
  return REFUSAL_CODE_SET.has(code);
}

/**
 * Error body of every failed call. `code` is a {@link RefusalCode} when
 * condor_tokend sends it; a reader takes any string (see REFUSAL_CODES).
 */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** 7-digit zero-padded request id. */
export const REQUEST_ID_PATTERN = /^\d{7}$/;
