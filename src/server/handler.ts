/**
 * The HTTP API of src/api/protocol.ts as a plain `Request -> Response`
 * function: route, limit, parse and validate the body, authenticate, then
 * hand the call to the request state machine or the daemon directory.
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
  MAX_REASON_LENGTH,
  MAX_WAIT_SECONDS,
  PATHS,
  type RefusalCode,
  REQUEST_ID_PATTERN,
  RULE_ID_PATTERN,
  type RuleListResponse,
  WATCH_CURSOR_PATTERN,
} from "../api/protocol.ts";
import { hiddenCharacter, hiddenCharacterReason } from "../api/hidden_character.ts";
import { CondorError } from "../errors.ts";
import { type Authorization, parseAuthorization, uniqueAuthz } from "../token/authz.ts";
import type { KeyResolver } from "../token/idtoken.ts";
import { assertPlainKeyId } from "../token/signing_key.ts";
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
import { badRequest, Refusal } from "./refusal.ts";
import type { TokenRequests } from "./requests.ts";
import { canonicalPeer, peerGroup } from "./rules.ts";
import { isStorageFailure, type Store } from "./store/store.ts";
import type { Waiters } from "./waiters.ts";

/** Largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Longest lifetime (seconds) a request may ask for: ten years. */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 86_400;

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

/** Builds the API handler. */
export function createHandler(deps: HandlerDeps): Handler {
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
      return refusalResponse(err, req, url, peer, deps);
    }
  };
}

async function route(req: Request, url: URL, peer: string, deps: HandlerDeps): Promise<Response> {
  const path = url.pathname;
  const method = req.method;
  if (path === PATHS.health) {
    allow(method, ["GET", "HEAD"]);
    const failure = await deps.store.writeHealth(deps.now());
    if (failure !== undefined) throw storeUnwritable(failure);
    return new Response("ok\n", {
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
    });
  }
  if (path === PATHS.metrics) {
    allow(method, ["GET"]);
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
  if (path === PATHS.info) {
    allow(method, ["GET"]);
    return json(200, await deps.info());
  }
  if (path === PATHS.requests) {
    allow(method, ["GET", "POST"]);
    if (method === "GET") {
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
  const action = /^\/v1\/token-requests\/([^/]*)\/(collect|cancel|approve|deny)$/.exec(path);
  if (action) {
    allow(method, ["POST"]);
    const id = decodePathSegment(action[1]);
    if (id === undefined || !REQUEST_ID_PATTERN.test(id)) {
      throw badRequest("BAD_REQUEST_ID", "Unable to convert request ID to integer.");
    }
    switch (action[2]) {
      case "collect": {
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
      case "cancel": {
        limit(deps.collectLimiter, peer);
        const body = await readJson(req);
        return json(200, await deps.requests.cancel(id, secretField(body)));
      }
      case "approve": {
        const caller = await callerOf(req, peer, deps);
        await readJson(req, true);
        return json(200, await deps.requests.approve(id, caller));
      }
      default: {
        const caller = await callerOf(req, peer, deps);
        const body = await readJson(req, true);
        return json(200, await deps.requests.deny(id, caller, reasonField(body.reason)));
      }
    }
  }
  if (path === PATHS.autoApprovalRules) {
    allow(method, ["GET", "POST"]);
    const caller = await callerOf(req, peer, deps);
    if (method === "GET") {
      return json(200, { rules: await deps.requests.listRules(caller) } satisfies RuleListResponse);
    }
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
  const resume = /^\/v1\/auto-approval-rules\/([^/]*)\/resume$/.exec(path);
  if (resume) {
    allow(method, ["POST"]);
    const id = decodePathSegment(resume[1]);
    if (id === undefined || !RULE_ID_PATTERN.test(id)) {
      throw badRequest(
        "BAD_RULE_ID",
        "Cannot resume auto-approval rule: its ID is a positive integer",
      );
    }
    const caller = await callerOf(req, peer, deps);
    await readJson(req, true);
    return json(200, await deps.requests.resumeRule(caller, Number(id)));
  }
  const rule = /^\/v1\/auto-approval-rules\/([^/]*)$/.exec(path);
  if (rule) {
    allow(method, ["DELETE"]);
    const id = decodePathSegment(rule[1]);
    if (id === undefined || !RULE_ID_PATTERN.test(id)) {
      throw badRequest(
        "BAD_RULE_ID",
        "Cannot remove auto-approval rule: its ID is a positive integer",
      );
    }
    const caller = await callerOf(req, peer, deps);
    return json(200, await deps.requests.removeRule(caller, Number(id)));
  }
  if (path === PATHS.tokens) {
    allow(method, ["POST"]);
    const caller = await callerOf(req, peer, deps);
    const body = await readJson(req);
    let key: string | undefined;
    if (body.key !== undefined && body.key !== null) {
      if (typeof body.key !== "string") {
        throw badRequest("BAD_KEY", "Cannot fetch token: key must be a string");
      }
      visibleText(body.key, "BAD_KEY", "Cannot fetch token: key");
      try {
        assertPlainKeyId(body.key);
      } catch {
        throw badRequest("BAD_KEY", "Cannot fetch token: key must be a plain key name");
      }
      key = body.key;
    }
    const token = await deps.requests.fetch(caller, {
      authz: authzField(body.authz, "authz"),
      lifetime: lifetimeField(body.lifetime),
      key,
    });
    return json(200, { token });
  }
  if (path === PATHS.issuedTokens) {
    allow(method, ["GET"]);
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
  if (path === PATHS.daemons) {
    allow(method, ["GET", "POST"]);
    if (method === "GET") {
      const name = url.searchParams.get("name") || undefined;
      const type = url.searchParams.get("type") || undefined;
      return json(
        200,
        { daemons: await deps.directory.list({ name, type }) } satisfies DaemonListResponse,
      );
    }
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
  throw new Refusal(
    404,
    "NOT_FOUND",
    path.startsWith(API_PREFIX) || path === "/"
      ? `Cannot find ${JSON.stringify(path)}: no such API path`
      : `Cannot find ${JSON.stringify(path)}: the API lives under ${API_PREFIX}/`,
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

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new Refusal(
      405,
      "METHOD_NOT_ALLOWED",
      `Cannot ${method} this path: use ${methods.join(" or ")}`,
      {
        headers: { allow: methods.join(", ") },
      },
    );
  }
}

function limit(limiter: RateLimiter, peer: string): void {
  const wait = limiter.take(peerGroup(peer));
  if (wait > 0) {
    throw new Refusal(429, "RATE_LIMITED", "Request rate limit hit.", {
      headers: { "retry-after": String(wait) },
    });
  }
}

/** Reads a JSON object body of at most MAX_BODY_BYTES; an empty body is `{}` when `optional`. */
async function readJson(req: Request, optional = false): Promise<Record<string, unknown>> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  let bytes: Uint8Array;
  try {
    if (declared !== null && /^\d+$/.test(declared)) {
      // The HTTP layer delivers exactly the declared length (or fails the
      // call), so a declared body within the limit is read in one go.
      bytes = new Uint8Array(await req.arrayBuffer());
    } else {
      bytes = await readLimited(req);
    }
  } catch (err) {
    // The client broke off or garbled the body (bad chunking, a reset, a
    // lying length): its failure, not ours, and no reason to log a fault.
    if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Http) {
      throw badRequest("BAD_JSON", "Cannot parse request body: it did not arrive in full");
    }
    throw err;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw badRequest("BAD_JSON", "Cannot parse request body: it is not UTF-8");
  }
  if (text.trim() === "" && optional) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest("BAD_JSON", "Cannot parse request body: it is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("BAD_JSON", "Cannot parse request body: it must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Reads a body of undeclared length, refusing it as soon as it passes MAX_BODY_BYTES. */
async function readLimited(req: Request): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > MAX_BODY_BYTES) {
          await reader.cancel().catch(() => {});
          throw tooLarge();
        }
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
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

function tooLarge(): Refusal {
  return new Refusal(
    413,
    "BODY_TOO_LARGE",
    `Cannot accept request body: it is larger than ${MAX_BODY_BYTES} bytes`,
  );
}

function identityField(body: Record<string, unknown>): string {
  const value = body.identity;
  if (value === undefined || value === null || value === "") {
    throw badRequest("NO_IDENTITY", "No identity request.");
  }
  visibleText(value, "BAD_IDENTITY", "Cannot enqueue token request: identity");
  if (typeof value !== "string" || value.length > 256 || !/^[^\s@,]+@[^\s@,]+$/.test(value)) {
    throw badRequest(
      "BAD_IDENTITY",
      `Cannot enqueue token request: identity ${shown(value)} is not of the form user@domain`,
    );
  }
  return value;
}

/**
 * A value from a request body, quoted and cut short for a message. Never
 * String(value): a body like {"toString": 1} makes that throw.
 */
function shown(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? typeof value;
  return JSON.stringify(text.slice(0, 64));
}

function clientIdField(body: Record<string, unknown>): string {
  const value = body.clientId;
  if (typeof value !== "string" || value === "") {
    throw badRequest("NO_CLIENT_ID", "No client ID provided.");
  }
  visibleText(value, "BAD_CLIENT_ID", "Cannot enqueue token request: client id");
  if (value.length > 256) {
    throw badRequest(
      "BAD_CLIENT_ID",
      "Cannot enqueue token request: client id is longer than 256 characters",
    );
  }
  return value;
}

/**
 * Refuses a string that would not show as itself (see hiddenCharacter):
 * a 400 with `code` saying "<what> contains U+XXXX, ...". Other values pass
 * to the field's own checks.
 */
function visibleText(value: unknown, code: RefusalCode, what: string): void {
  if (typeof value !== "string") return;
  const hidden = hiddenCharacter(value);
  if (hidden !== undefined) throw badRequest(code, `${what} ${hiddenCharacterReason(hidden)}`);
}

function secretField(body: Record<string, unknown>): string {
  const value = body.secret;
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]{32,512}$/.test(value)) {
    throw badRequest(
      "BAD_SECRET",
      "Cannot use token request: the requester secret must be 32 to 512 base64url characters",
    );
  }
  return value;
}

function authzField(value: unknown, name: string): Authorization[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > 32) {
    throw badRequest(
      "BAD_AUTHZ",
      `Cannot use "${name}": it must be a list of authorization levels`,
    );
  }
  return uniqueAuthz(value.map((item) => {
    const level = typeof item === "string" ? parseAuthorization(item) : undefined;
    if (!level) {
      throw badRequest(
        "BAD_AUTHZ",
        `Cannot use "${name}": ${shown(item)} is not an authorization level`,
      );
    }
    return level;
  }));
}

function lifetimeField(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (
    typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 ||
    value > MAX_LIFETIME_SECONDS
  ) {
    throw badRequest(
      "BAD_LIFETIME",
      `Cannot use "lifetime": it must be null or a whole number of seconds from 0 to ${MAX_LIFETIME_SECONDS}`,
    );
  }
  return value;
}

function waitField(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw badRequest(
      "BAD_WAIT",
      `Cannot use "waitSeconds": it must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`,
    );
  }
  return Math.min(value, MAX_WAIT_SECONDS);
}

function reasonField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length > MAX_REASON_LENGTH) {
    throw badRequest(
      "BAD_REASON",
      `Cannot deny token request: reason must be text of at most ${MAX_REASON_LENGTH} characters`,
    );
  }
  // Refused rather than cleaned: the requester is shown exactly what was stored.
  visibleText(value, "BAD_REASON", "Cannot deny token request: reason");
  return value;
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
): Response {
  let refusal: Refusal;
  if (err instanceof Refusal) {
    refusal = err;
  } else if (isStorageFailure(err)) {
    // Not a bug to report as 500: the daemon cannot take changes until the
    // storage recovers, and a requester may retry (it does on 503).
    deps.log(`error ${req.method} ${url.pathname} from ${peer}: ${(err as Error).message}`);
    refusal = storeUnwritable((err as Error).message);
  } else {
    // Not a refusal: a fault of ours. The caller learns nothing more.
    const what = err instanceof CondorError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
      ? `${err.name}: ${err.message}`
      : String(err);
    deps.log(`error ${req.method} ${url.pathname} from ${peer}: ${what}`);
    refusal = new Refusal(
      500,
      "INTERNAL",
      "Cannot complete the call: internal error; see the daemon's log",
    );
  }
  deps.metrics.rejected(refusal.code);
  if (refusal.status !== 500) {
    deps.log(`refused ${req.method} ${url.pathname} from ${peer}: ${refusal.code}`);
  }
  return new Response(
    JSON.stringify({ error: { code: refusal.code, message: refusal.message } } satisfies ErrorBody),
    { status: refusal.status, headers: { ...JSON_HEADERS, ...refusal.headers } },
  );
}
