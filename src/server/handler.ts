/**
 * The HTTP API of src/api/protocol.ts as a plain `Request -> Response`
 * function: a route table (ROUTES) from path and method to one endpoint
 * each, which limits, reads and checks the body (_request_body.ts),
 * authenticates, then hands the call to the request state machine or the
 * daemon directory.
 * Refusals become `{ error: { code, message } }` with a 4xx status (503
 * when the daemon cannot take more); nothing else ever leaves the handler,
 * and no answer carries a stack trace.
 *
 * @module
 */
import {
  API_PREFIX,
  type DaemonInfo,
  type DaemonListResponse,
  type ErrorBody,
  ISSUED_PAGE_DEFAULT,
  ISSUED_PAGE_MAX,
  type ListResponse,
  MAX_WAIT_SECONDS,
  PATHS,
  REQUEST_ID_PATTERN,
  RULE_ID_PATTERN,
  type RuleListResponse,
  WATCH_CURSOR_PATTERN,
} from "../api/protocol.ts";
import { CondorError } from "../errors.ts";
import type { KeyResolver } from "../token/idtoken.ts";
import {
  ANONYMOUS_PLAIN,
  ANONYMOUS_TLS,
  authenticate,
  type AuthPolicy,
  type Caller,
} from "./auth.ts";
import type { DaemonDirectory } from "./directory.ts";
import type { Metrics } from "./metrics.ts";
import type { RateLimiter } from "./rate_limit.ts";
import { ThrottledLog } from "./_throttled_log.ts";
import {
  authzField,
  clientIdField,
  identityField,
  keyField,
  lifetimeField,
  readJson,
  reasonField,
  secretField,
  visibleText,
  waitField,
} from "./_request_body.ts";
import { badRequest, Refusal } from "./refusal.ts";
import type { TokenRequests } from "./requests.ts";
import { canonicalPeer, peerGroup } from "./rules.ts";
import { isStorageFailure, type Store } from "./store/store.ts";
import type { Waiters } from "./waiters.ts";

export { MAX_BODY_BYTES, MAX_LIFETIME_SECONDS } from "./_request_body.ts";

/** What the handler needs. */
export interface HandlerDeps {
  requests: TokenRequests;
  directory: DaemonDirectory;
  store: Store;
  waiters: Waiters;
  metrics: Metrics;
  keys: KeyResolver;
  policy: AuthPolicy;
  /** GET /v1/info's answer. */
  info: () => Promise<DaemonInfo>;
  /** Webhook notifications waiting to be sent (a /metrics gauge). */
  notifyQueue?: () => number;
  enqueueLimiter: RateLimiter;
  collectLimiter: RateLimiter;
  /** Whether the daemon serves plain HTTP (then callers without a token are `unauthenticated@unmapped`). */
  plainHttp: boolean;
  /** Wall clock in milliseconds. */
  now: () => number;
  /** One line per event, never a token or secret. */
  log: (line: string) => void;
}

/** The connection facts the handler uses (Deno.serve's handler info). */
export interface ConnectionInfo {
  remoteAddr: Deno.Addr;
}

/** An HTTP handler. */
export type Handler = (req: Request, info: ConnectionInfo) => Promise<Response>;

const JSON_HEADERS = {
  "content-type": "application/json",
  // Answers may carry tokens: never cache them.
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

/** How often one peer's refusals of one kind are logged, at most. */
const REFUSED_LOG_INTERVAL_MS = 10_000;

/** Builds the API handler. */
export function createHandler(deps: HandlerDeps): Handler {
  const refusedLog = new ThrottledLog(deps.log, REFUSED_LOG_INTERVAL_MS);
  const expectedScheme = deps.plainHttp ? "http:" : "https:";
  return async (req, info) => {
    const url = new URL(req.url);
    const peer = peerOf(info.remoteAddr);
    try {
      if (url.protocol !== expectedScheme) {
        // Our server answers plain HTTP on the HTTPS port itself; this guards the handler alone.
        throw new Refusal(
          421,
          "WRONG_SCHEME",
          `Cannot serve ${url.protocol.slice(0, -1)} requests: this daemon serves ${
            expectedScheme.slice(0, -1)
          } only`,
        );
      }
      return await route(req, url, peer, deps);
    } catch (err) {
      return refusalResponse(err, req, url, peer, deps, refusedLog);
    }
  };
}

/** One call as an endpoint sees it: `params` are the route pattern's captures. */
interface Call {
  req: Request;
  url: URL;
  peer: string;
  deps: HandlerDeps;
  params: string[];
}

/** What answers one method on one path. */
type Endpoint = (call: Call) => Promise<Response>;

/** A path (exact, or a pattern whose groups become `params`) and its methods. */
interface Route {
  path: string | RegExp;
  methods: Readonly<Record<string, Endpoint>>;
}

/**
 * Every path the daemon answers, in the order they are matched; see
 * docs/protocol.md for each. A path that matches but not its method is 405
 * with an Allow header; a path that matches nothing is 404.
 */
const ROUTES: readonly Route[] = [
  { path: PATHS.health, methods: { GET: health, HEAD: health } },
  { path: PATHS.metrics, methods: { GET: metrics } },
  { path: PATHS.info, methods: { GET: async ({ deps }) => json(200, await deps.info()) } },
  { path: PATHS.requests, methods: { GET: listRequests, POST: enqueue } },
  { path: /^\/v1\/token-requests\/([^/]*)\/collect$/, methods: { POST: collect } },
  { path: /^\/v1\/token-requests\/([^/]*)\/cancel$/, methods: { POST: cancel } },
  { path: /^\/v1\/token-requests\/([^/]*)\/approve$/, methods: { POST: approve } },
  { path: /^\/v1\/token-requests\/([^/]*)\/deny$/, methods: { POST: deny } },
  { path: PATHS.autoApprovalRules, methods: { GET: listRules, POST: installRule } },
  { path: /^\/v1\/auto-approval-rules\/([^/]*)\/resume$/, methods: { POST: resumeRule } },
  { path: /^\/v1\/auto-approval-rules\/([^/]*)$/, methods: { DELETE: removeRule } },
  { path: PATHS.tokens, methods: { POST: fetchToken } },
  { path: PATHS.issuedTokens, methods: { GET: listIssued } },
  { path: PATHS.daemons, methods: { GET: listDaemons, POST: advertise } },
];

async function route(req: Request, url: URL, peer: string, deps: HandlerDeps): Promise<Response> {
  const path = url.pathname;
  for (const candidate of ROUTES) {
    let params: string[];
    if (typeof candidate.path === "string") {
      if (path !== candidate.path) continue;
      params = [];
    } else {
      const match = candidate.path.exec(path);
      if (match === null) continue;
      params = match.slice(1);
    }
    const endpoint = Object.hasOwn(candidate.methods, req.method)
      ? candidate.methods[req.method]
      : undefined;
    if (endpoint === undefined) {
      const methods = Object.keys(candidate.methods);
      throw new Refusal(
        405,
        "METHOD_NOT_ALLOWED",
        `Cannot ${req.method} this path: use ${methods.join(" or ")}`,
        { headers: { allow: methods.join(", ") } },
      );
    }
    return await endpoint({ req, url, peer, deps, params });
  }
  throw new Refusal(
    404,
    "NOT_FOUND",
    path.startsWith(API_PREFIX) || path === "/"
      ? `Cannot find ${JSON.stringify(path)}: no such API path`
      : `Cannot find ${JSON.stringify(path)}: the API lives under ${API_PREFIX}/`,
  );
}

async function health({ deps }: Call): Promise<Response> {
  const failure = await deps.store.writeHealth(deps.now());
  if (failure !== undefined) throw storeUnwritable(failure);
  return new Response("ok\n", {
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

async function metrics({ deps }: Call): Promise<Response> {
  return new Response(
    deps.metrics.render({
      pending: await deps.store.countPending(),
      live: await deps.store.countLive(),
      waiting: deps.waiters.size,
      rules: (await deps.store.activeRules(deps.requests.nowSeconds())).length,
      notifyQueue: deps.notifyQueue?.() ?? 0,
      ...await deps.requests.breakerGauges(),
    }),
    { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } },
  );
}

/** GET /v1/token-requests: the list (`?reqid=`), or with `?watch=1` a long poll for new ones. */
async function listRequests({ req, url, peer, deps }: Call): Promise<Response> {
  const caller = await callerOf(req, peer, deps);
  if (url.searchParams.has("watch")) {
    const after = url.searchParams.get("after") || undefined;
    if (after !== undefined && !WATCH_CURSOR_PATTERN.test(after)) {
      throw badRequest(
        "BAD_QUERY",
        "Cannot watch token requests: after must be a cursor from an earlier answer",
      );
    }
    const waitText = url.searchParams.get("wait") ?? "";
    if (waitText !== "" && !/^\d{1,6}$/.test(waitText)) {
      throw badRequest(
        "BAD_QUERY",
        `Cannot watch token requests: wait must be whole seconds (at most ${MAX_WAIT_SECONDS} are waited)`,
      );
    }
    const wait = Math.min(Number(waitText || "0"), MAX_WAIT_SECONDS);
    return json(200, await deps.requests.watch(caller, after, wait, req.signal));
  }
  const reqid = url.searchParams.get("reqid");
  if (reqid !== null && reqid !== "" && !REQUEST_ID_PATTERN.test(reqid)) {
    throw badRequest("BAD_REQUEST_ID", "Unable to convert request ID to integer.");
  }
  return json(
    200,
    { requests: await deps.requests.list(caller, reqid || undefined) } satisfies ListResponse,
  );
}

async function enqueue({ req, peer, deps }: Call): Promise<Response> {
  // Limited before authenticating: a flood of enqueues costs no signature checks.
  limit(deps.enqueueLimiter, peer);
  const caller = await callerOf(req, peer, deps);
  const body = await readJson(req);
  const { created, response } = await deps.requests.enqueue({
    identity: identityField(body),
    authz: authzField(body.authz, "authz"),
    lifetime: lifetimeField(body.lifetime),
    clientId: clientIdField(body),
    secret: secretField(body),
    caller,
  });
  return json(created ? 201 : 200, response);
}

/** The request ID of a `/v1/token-requests/ID/...` path. */
function requestIdOf(params: string[]): string {
  const id = decodePathSegment(params[0]);
  if (id === undefined || !REQUEST_ID_PATTERN.test(id)) {
    throw badRequest("BAD_REQUEST_ID", "Unable to convert request ID to integer.");
  }
  return id;
}

async function collect({ req, peer, deps, params }: Call): Promise<Response> {
  const id = requestIdOf(params);
  limit(deps.collectLimiter, peer);
  const body = await readJson(req);
  const waitSeconds = waitField(body.waitSeconds);
  return json(
    200,
    // req.signal aborts when the requester disconnects: its poll must
    // not be the one that takes the token.
    await deps.requests.collect(id, secretField(body), waitSeconds, req.signal),
  );
}

async function cancel({ req, peer, deps, params }: Call): Promise<Response> {
  const id = requestIdOf(params);
  limit(deps.collectLimiter, peer);
  const body = await readJson(req);
  return json(200, await deps.requests.cancel(id, secretField(body)));
}

async function approve({ req, peer, deps, params }: Call): Promise<Response> {
  const id = requestIdOf(params);
  const caller = await callerOf(req, peer, deps);
  await readJson(req, true);
  return json(200, await deps.requests.approve(id, caller));
}

async function deny({ req, peer, deps, params }: Call): Promise<Response> {
  const id = requestIdOf(params);
  const caller = await callerOf(req, peer, deps);
  const body = await readJson(req, true);
  return json(200, await deps.requests.deny(id, caller, reasonField(body.reason)));
}

async function listRules({ req, peer, deps }: Call): Promise<Response> {
  const caller = await callerOf(req, peer, deps);
  return json(200, { rules: await deps.requests.listRules(caller) } satisfies RuleListResponse);
}

async function installRule({ req, peer, deps }: Call): Promise<Response> {
  const caller = await callerOf(req, peer, deps);
  const body = await readJson(req);
  if (typeof body.netblock !== "string" || body.netblock.length > 128) {
    throw badRequest("RULE_BAD_NETBLOCK", "Auto-approval rule netblock invalid.");
  }
  if (typeof body.lifetime !== "number" || !Number.isSafeInteger(body.lifetime)) {
    throw badRequest(
      "RULE_BAD_LIFETIME",
      "Auto-approval rule lifetimes must be greater than zero.",
    );
  }
  return json(200, await deps.requests.installRule(caller, body.netblock, body.lifetime));
}

/** The rule ID of a `/v1/auto-approval-rules/ID[/...]` path. */
function ruleIdOf(params: string[], action: string): number {
  const id = decodePathSegment(params[0]);
  if (id === undefined || !RULE_ID_PATTERN.test(id)) {
    throw badRequest(
      "BAD_RULE_ID",
      `Cannot ${action} auto-approval rule: its ID is a positive integer`,
    );
  }
  return Number(id);
}

async function resumeRule({ req, peer, deps, params }: Call): Promise<Response> {
  const id = ruleIdOf(params, "resume");
  const caller = await callerOf(req, peer, deps);
  await readJson(req, true);
  return json(200, await deps.requests.resumeRule(caller, id));
}

async function removeRule({ req, peer, deps, params }: Call): Promise<Response> {
  const id = ruleIdOf(params, "remove");
  const caller = await callerOf(req, peer, deps);
  return json(200, await deps.requests.removeRule(caller, id));
}

async function fetchToken({ req, peer, deps }: Call): Promise<Response> {
  const caller = await callerOf(req, peer, deps);
  const body = await readJson(req);
  const key = keyField(body.key);
  const token = await deps.requests.fetch(caller, {
    authz: authzField(body.authz, "authz"),
    lifetime: lifetimeField(body.lifetime),
    key,
  });
  return json(200, { token });
}

async function listIssued({ req, url, peer, deps }: Call): Promise<Response> {
  const caller = await callerOf(req, peer, deps);
  const query = url.searchParams;
  const identity = query.get("identity") || undefined;
  const netblock = query.get("peer") || undefined;
  for (const [name, value] of [["identity", identity], ["peer", netblock]]) {
    if (value !== undefined && value.length > 256) {
      throw badRequest(
        "BAD_QUERY",
        `Cannot list issued tokens: ${name} is longer than 256 characters`,
      );
    }
  }
  const limitText = query.get("limit");
  const limit = limitText === null || limitText === ""
    ? ISSUED_PAGE_DEFAULT
    : /^\d{1,7}$/.test(limitText) && Number(limitText) > 0
    ? Math.min(Number(limitText), ISSUED_PAGE_MAX)
    : undefined;
  if (limit === undefined) {
    throw badRequest("BAD_QUERY", "Cannot list issued tokens: limit must be a positive integer");
  }
  const beforeText = query.get("before");
  if (beforeText !== null && beforeText !== "" && !/^[1-9]\d{0,14}$/.test(beforeText)) {
    throw badRequest("BAD_QUERY", "Cannot list issued tokens: before must be a cursor from next");
  }
  return json(
    200,
    await deps.requests.listIssued(caller, {
      identity,
      peer: netblock,
      before: beforeText ? Number(beforeText) : undefined,
      limit,
    }),
  );
}

async function listDaemons({ url, deps }: Call): Promise<Response> {
  const name = url.searchParams.get("name") || undefined;
  const type = url.searchParams.get("type") || undefined;
  return json(
    200,
    { daemons: await deps.directory.list({ name, type }) } satisfies DaemonListResponse,
  );
}

async function advertise({ req, peer, deps }: Call): Promise<Response> {
  const caller = await callerOf(req, peer, deps);
  const body = await readJson(req);
  for (const field of ["name", "type", "address"]) {
    if (typeof body[field] !== "string") {
      throw badRequest("BAD_DAEMON_AD", `Cannot advertise daemon: "${field}" must be a string`);
    }
    visibleText(body[field], "BAD_DAEMON_AD", `Cannot advertise daemon: ${field}`);
  }
  if (body.lifetime !== undefined && !Number.isSafeInteger(body.lifetime)) {
    throw badRequest("BAD_DAEMON_AD", "Cannot advertise daemon: lifetime must be whole seconds");
  }
  return json(
    200,
    await deps.directory.advertise(caller, {
      name: body.name as string,
      type: body.type as string,
      address: body.address as string,
      lifetime: body.lifetime as number | undefined,
    }),
  );
}

/** A percent-decoded path segment, or undefined when its escapes are malformed (`%ZZ`). */
function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
}

/** Authenticates the caller (anonymous when no Authorization header). */
async function callerOf(req: Request, peer: string, deps: HandlerDeps): Promise<Caller> {
  return await authenticate(req, {
    keys: deps.keys,
    policy: deps.policy,
    now: Math.floor(deps.now() / 1000),
    peer,
    anonymousIdentity: deps.plainHttp ? ANONYMOUS_PLAIN : ANONYMOUS_TLS,
  });
}

function peerOf(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") return canonicalPeer(addr.hostname);
  return "local";
}

function limit(limiter: RateLimiter, peer: string): void {
  const wait = limiter.take(peerGroup(peer));
  if (wait > 0) {
    throw new Refusal(429, "RATE_LIMITED", "Request rate limit hit.", {
      headers: { "retry-after": String(wait) },
    });
  }
}

/** 503: the state database cannot commit (disk full, I/O error, ...). */
function storeUnwritable(reason: string): Refusal {
  return new Refusal(
    503,
    "STORE_UNWRITABLE",
    `Cannot commit to the state database: ${reason}`,
    { headers: { "retry-after": "10" } },
  );
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function refusalResponse(
  err: unknown,
  req: Request,
  url: URL,
  peer: string,
  deps: HandlerDeps,
  refusedLog: ThrottledLog,
): Response {
  let refusal: Refusal;
  if (err instanceof Refusal) {
    refusal = err;
  } else if (isStorageFailure(err)) {
    // Not a bug to report as 500: the daemon cannot take changes until the
    // storage recovers, and a requester may retry (it does on 503).
    deps.log(`error ${callLine(req, url)} from ${peer}: ${(err as Error).message}`);
    refusal = storeUnwritable((err as Error).message);
  } else {
    // Not a refusal: a fault of ours. The caller learns nothing more.
    const what = err instanceof CondorError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
      ? `${err.name}: ${err.message}`
      : String(err);
    deps.log(`error ${callLine(req, url)} from ${peer}: ${what}`);
    refusal = new Refusal(
      500,
      "INTERNAL",
      "Cannot complete the call: internal error; see the daemon's log",
    );
  }
  deps.metrics.rejected(refusal.code);
  if (refusal.status !== 500) {
    // Any peer can be refused as fast as it can send: one line per peer
    // (group) and code per interval, the rest counted into the next one.
    refusedLog.note(
      `${refusal.code} ${peerGroup(peer)}`,
      `refused ${callLine(req, url)} from ${peer}: ${refusal.code}`,
      refusal.code,
    );
  }
  return new Response(
    JSON.stringify({ error: { code: refusal.code, message: refusal.message } } satisfies ErrorBody),
    { status: refusal.status, headers: { ...JSON_HEADERS, ...refusal.headers } },
  );
}

/** Longest method or path a log line quotes; the rest is cut to "...". */
const LOGGED_PART_LENGTH = 128;

/**
 * The method and path of a call as a log line names them, each cut short:
 * both are the peer's (up to TOKEND_MAX_HEADER_BYTES), and a log line per
 * refused peer must not carry kilobytes of its choosing.
 */
function callLine(req: Request, url: URL): string {
  const cut = (text: string) =>
    text.length > LOGGED_PART_LENGTH ? `${text.slice(0, LOGGED_PART_LENGTH)}...` : text;
  return `${cut(req.method)} ${cut(url.pathname)}`;
}
