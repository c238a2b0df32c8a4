/**
 * The HTTPS transport: {@link TokenDaemonClient} over HTTP/1.1 on TLS
 * connections from a {@link TlsDialer}, one JSON call per method (paths and
 * bodies from src/api/protocol.ts). Every connection is judged by the
 * daemon's trust session before a byte of a call is written to it, so a
 * request, a secret or a credential only ever travels on a connection that
 * showed the certificate that was trusted. Every call has a timeout, every
 * answer is checked against the protocol's shapes, and every failure becomes
 * a DaemonError with a stable code and the daemon's own message when it
 * gave one.
 *
 * @module
 */
import {
  type AutoApproveRequest,
  type AutoApproveResponse,
  type CancelRequest,
  type CollectRequest,
  type CollectResponse,
  type DaemonAd,
  type DaemonInfo,
  type DenyRequest,
  type EnqueueRequest,
  type EnqueueResponse,
  type FetchTokenRequest,
  type FetchTokenResponse,
  isRefusalCode,
  ISSUED_PAGE_MAX,
  type IssuedHow,
  type IssuedTokenInfo,
  type IssuedTokenListResponse,
  PATHS,
  type RequestInfo,
  type RequestState,
  type RequestStateResponse,
  type RuleInfo,
  type WatchResponse,
} from "../api/protocol.ts";
import { DaemonError, type DaemonErrorCode, TrustError } from "../errors.ts";
import {
  exchange,
  Http1Failure,
  type Http1Response,
  MAX_BODY_BYTES,
  MAX_LIST_BODY_BYTES,
} from "./_http1.ts";
import { printable } from "./_printable.ts";
import {
  type CredentialSource,
  DAEMON_ERRORS,
  type DaemonQuery,
  type IssuedQuery,
  type TokenDaemonClient,
} from "./daemon_client.ts";
import type { TlsDialer } from "./tls_dialer.ts";
import type { TrustJudgement } from "./trust.ts";

/** How to reach one daemon over HTTPS. */
export interface HttpsClientOptions {
  /** The daemon's base URL, `https://host:port` (a path prefix is kept). */
  baseUrl: URL | string;
  /** Opens judged TLS connections to the daemon (tls_dialer.ts). */
  dialer: TlsDialer;
  /** Credential for authenticated calls; those calls fail without one. */
  credential?: CredentialSource;
  /** Timeout of each call in milliseconds, on top of a long poll's wait (default 15 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/**
 * An idle connection older than this is not reused: the daemon may have
 * closed it meanwhile, and a fresh one costs one handshake.
 */
const REUSE_IDLE_MS = 2_000;

/**
 * Largest page of issued tokens accepted: {@link ISSUED_PAGE_MAX} tokens of
 * up to 4 KiB each. The tool gathers up to a thousand pages in memory, so
 * a page may not be as large as a list of pending requests.
 */
export const MAX_ISSUED_PAGE_BYTES = ISSUED_PAGE_MAX * 4096;

/** Every way a token may have been issued. */
const ISSUED_HOWS: readonly IssuedHow[] = ["approved", "auto-approval", "fetch"];

const STATES: readonly RequestState[] = [
  "pending",
  "approved",
  "collected",
  "denied",
  "expired",
  "cancelled",
];

interface Call {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** What the call does, for messages: "Cannot <action> at <address>: ...". */
  action: string;
  body?: unknown;
  query?: Record<string, string | undefined>;
  authenticated?: boolean;
  /** Extra time on top of the timeout, for long polls. */
  extraMs?: number;
  /** Largest answer accepted (default MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  signal?: AbortSignal;
}

/** Creates an HTTPS client for one daemon. Needs --allow-net to the daemon. */
export function httpsDaemonClient(options: HttpsClientOptions): HttpsDaemonClient {
  return new HttpsDaemonClient(options);
}

/** {@link TokenDaemonClient} over HTTPS. */
export class HttpsDaemonClient implements TokenDaemonClient {
  readonly address: string;
  readonly #base: URL;
  readonly #dialer: TlsDialer;
  #idle: { socket: import("node:tls").TLSSocket; since: number } | undefined;
  #closed = false;
  readonly #credential: CredentialSource | undefined;
  readonly #timeoutMs: number;
  #bearer: Promise<string> | undefined;

  constructor(options: HttpsClientOptions) {
    this.#base = new URL(options.baseUrl);
    if (this.#base.protocol !== "https:") {
      throw new DaemonError(
        DAEMON_ERRORS.TLS,
        `Cannot use daemon address ${this.#base.href}: only https:// addresses are supported`,
      );
    }
    this.address = this.#base.origin + this.#base.pathname.replace(/\/+$/, "");
    this.#dialer = options.dialer;
    this.#credential = options.credential;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  trusted(): TrustJudgement | undefined {
    return this.#dialer.trust.judgement;
  }

  authenticatedAs(): string | undefined {
    return undefined;
  }

  /**
   * Opens a connection now, judging the daemon, and closes it unused.
   * Throws DaemonError or TrustError.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    await this.#dialer.probe(signal);
  }

  async info(signal?: AbortSignal): Promise<DaemonInfo> {
    const body = await this.#call({
      method: "GET",
      path: PATHS.info,
      action: "read daemon information",
      signal,
    });
    const check = checker(body, this.#badResponse("read daemon information"));
    return {
      version: check.string("version"),
      trustDomain: check.string("trustDomain"),
      issuerKeys: check.strings("issuerKeys"),
      name: check.string("name"),
      type: check.string("type"),
    };
  }

  async enqueue(request: EnqueueRequest, signal?: AbortSignal): Promise<EnqueueResponse> {
    const action = "enqueue token request";
    const body = await this.#call({
      method: "POST",
      path: PATHS.requests,
      action,
      body: request,
      signal,
    });
    const check = checker(body, this.#badResponse(action));
    const reply: EnqueueResponse = {
      requestId: check.string("requestId"),
      state: check.state("state"),
      expiresAt: check.number("expiresAt"),
    };
    const token = check.optionalString("token");
    if (token !== undefined) reply.token = token;
    return reply;
  }

  async collect(
    requestId: string,
    secret: string,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<CollectResponse> {
    const action = `collect token request ${requestId}`;
    const body = await this.#call({
      method: "POST",
      path: PATHS.collect(encodeURIComponent(requestId)),
      action,
      body: { secret, waitSeconds } satisfies CollectRequest,
      extraMs: waitSeconds * 1000,
      signal,
    });
    const check = checker(body, this.#badResponse(action));
    const reply: CollectResponse = {
      requestId: check.string("requestId"),
      state: check.state("state"),
      expiresAt: check.number("expiresAt"),
    };
    const token = check.optionalString("token");
    if (token !== undefined) reply.token = token;
    const reason = check.optionalString("reason");
    if (reason !== undefined) reply.reason = reason;
    return reply;
  }

  async cancel(
    requestId: string,
    secret: string,
    signal?: AbortSignal,
  ): Promise<RequestStateResponse> {
    return await this.#stateCall(`cancel token request ${requestId}`, {
      path: PATHS.cancel(encodeURIComponent(requestId)),
      body: { secret } satisfies CancelRequest,
      signal,
    });
  }

  async list(requestId?: string, signal?: AbortSignal): Promise<RequestInfo[]> {
    const action = "list token requests";
    const body = await this.#call({
      method: "GET",
      path: PATHS.requests,
      action,
      query: { reqid: requestId },
      authenticated: true,
      // Thousands of pending requests make a list of megabytes.
      maxBodyBytes: MAX_LIST_BODY_BYTES,
      signal,
    });
    const bad = this.#badResponse(action);
    return checker(body, bad).objects("requests").map((item) => requestInfo(checker(item, bad)));
  }

  async watch(
    after: string | undefined,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<WatchResponse> {
    const action = "watch token requests";
    const body = await this.#call({
      method: "GET",
      path: PATHS.requests,
      action,
      query: { watch: "1", after, wait: String(waitSeconds) },
      authenticated: true,
      maxBodyBytes: MAX_LIST_BODY_BYTES,
      extraMs: waitSeconds * 1000,
      signal,
    });
    const bad = this.#badResponse(action);
    const check = checker(body, bad);
    return {
      requests: check.objects("requests").map((item) => requestInfo(checker(item, bad))),
      cursor: check.string("cursor"),
    };
  }

  async approve(requestId: string, signal?: AbortSignal): Promise<RequestStateResponse> {
    return await this.#stateCall(`approve token request ${requestId}`, {
      path: PATHS.approve(encodeURIComponent(requestId)),
      authenticated: true,
      signal,
    });
  }

  async deny(
    requestId: string,
    reason?: string,
    signal?: AbortSignal,
  ): Promise<RequestStateResponse> {
    return await this.#stateCall(`deny token request ${requestId}`, {
      path: PATHS.deny(encodeURIComponent(requestId)),
      body: (reason === undefined ? {} : { reason }) satisfies DenyRequest,
      authenticated: true,
      signal,
    });
  }

  async autoApprove(
    netblock: string,
    lifetime: number,
    signal?: AbortSignal,
  ): Promise<AutoApproveResponse> {
    const action = "install auto-approval rule";
    const body = await this.#call({
      method: "POST",
      path: PATHS.autoApprovalRules,
      action,
      body: { netblock, lifetime } satisfies AutoApproveRequest,
      authenticated: true,
      signal,
    });
    const check = checker(body, this.#badResponse(action));
    const response: AutoApproveResponse = {
      netblock: check.string("netblock"),
      lifetime: check.number("lifetime"),
      expiresAt: check.number("expiresAt"),
      approved: check.strings("approved"),
    };
    const ruleId = check.optionalNumber("ruleId");
    if (ruleId !== undefined) response.ruleId = ruleId;
    return response;
  }

  async rules(signal?: AbortSignal): Promise<RuleInfo[]> {
    const action = "list auto-approval rules";
    const body = await this.#call({
      method: "GET",
      path: PATHS.autoApprovalRules,
      action,
      authenticated: true,
      signal,
    });
    const bad = this.#badResponse(action);
    return checker(body, bad).objects("rules").map((item) => ruleInfo(checker(item, bad)));
  }

  async removeRule(ruleId: number, signal?: AbortSignal): Promise<RuleInfo> {
    const action = `remove auto-approval rule ${ruleId}`;
    const body = await this.#call({
      method: "DELETE",
      path: PATHS.autoApprovalRule(String(ruleId)),
      action,
      authenticated: true,
      signal,
    });
    return ruleInfo(checker(body, this.#badResponse(action)));
  }

  async resumeRule(ruleId: number, signal?: AbortSignal): Promise<RuleInfo> {
    const action = `resume auto-approval rule ${ruleId}`;
    const body = await this.#call({
      method: "POST",
      path: PATHS.resumeRule(String(ruleId)),
      action,
      authenticated: true,
      signal,
    });
    return ruleInfo(checker(body, this.#badResponse(action)));
  }

  async issued(query: IssuedQuery, signal?: AbortSignal): Promise<IssuedTokenListResponse> {
    const action = "list issued tokens";
    const body = await this.#call({
      method: "GET",
      path: PATHS.issuedTokens,
      action,
      query: {
        identity: query.identity,
        peer: query.peer,
        before: query.before,
        limit: query.limit === undefined ? undefined : String(query.limit),
      },
      authenticated: true,
      maxBodyBytes: MAX_ISSUED_PAGE_BYTES,
      signal,
    });
    const bad = this.#badResponse(action);
    const check = checker(body, bad);
    const listed = check.objects("tokens");
    if (listed.length > ISSUED_PAGE_MAX) {
      throw bad(`it lists ${listed.length} tokens on one page, more than ${ISSUED_PAGE_MAX}`);
    }
    const tokens = listed.map((item): IssuedTokenInfo => {
      const c = checker(item, bad);
      const how = c.string("how");
      if (!ISSUED_HOWS.includes(how as IssuedHow)) throw bad(`field "how" is ${printable(how)}`);
      const info: IssuedTokenInfo = {
        jti: c.string("jti"),
        identity: c.string("identity"),
        authorizations: c.strings("authorizations"),
        issuedAt: c.number("issuedAt"),
        expiresAt: c.nullableNumber("expiresAt"),
        requestId: c.optionalString("requestId") ?? null,
        peer: c.optionalString("peer") ?? null,
        how: how as IssuedHow,
        approvedBy: c.optionalString("approvedBy") ?? null,
      };
      const ruleId = c.optionalNumber("ruleId");
      if (ruleId !== undefined) info.ruleId = ruleId;
      return info;
    });
    const next = check.optionalString("next");
    return next === undefined ? { tokens } : { tokens, next };
  }

  async fetchToken(request: FetchTokenRequest, signal?: AbortSignal): Promise<FetchTokenResponse> {
    const action = "fetch token";
    const body = await this.#call({
      method: "POST",
      path: PATHS.tokens,
      action,
      body: request,
      authenticated: true,
      signal,
    });
    return { token: checker(body, this.#badResponse(action)).string("token") };
  }

  async daemons(query: DaemonQuery, signal?: AbortSignal): Promise<DaemonAd[]> {
    const action = "list daemons";
    const body = await this.#call({
      method: "GET",
      path: PATHS.daemons,
      action,
      query: { name: query.name, type: query.type },
      signal,
    });
    const bad = this.#badResponse(action);
    return checker(body, bad).objects("daemons").map((item) => {
      const check = checker(item, bad);
      const ad: DaemonAd = {
        name: check.string("name"),
        type: check.string("type"),
        address: check.string("address"),
      };
      const lifetime = check.optionalNumber("lifetime");
      if (lifetime !== undefined) ad.lifetime = lifetime;
      return ad;
    });
  }

  /**
   * Advertises a daemon in this (collector-role) daemon's directory, with
   * the configured credential (it needs DAEMON authorization).
   */
  async advertise(ad: DaemonAd, signal?: AbortSignal): Promise<void> {
    await this.#call({
      method: "POST",
      path: PATHS.daemons,
      action: `advertise ${ad.type} "${ad.name}"`,
      body: ad,
      authenticated: true,
      signal,
    });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  close(): void {
    this.#closed = true;
    this.#idle?.socket.destroy();
    this.#idle = undefined;
  }

  async #stateCall(
    action: string,
    call: Pick<Call, "path" | "body" | "authenticated" | "signal">,
  ): Promise<RequestStateResponse> {
    const body = await this.#call({ method: "POST", action, ...call });
    const check = checker(body, this.#badResponse(action));
    return { requestId: check.string("requestId"), state: check.state("state") };
  }

  /** Makes one call and returns its parsed JSON body, or throws DaemonError. */
  async #call(call: Call): Promise<unknown> {
    const url = new URL(this.#base.pathname.replace(/\/+$/, "") + call.path, this.#base);
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    const headers: [string, string][] = [["accept", "application/json"]];
    if (call.body !== undefined) headers.push(["content-type", "application/json"]);
    if (call.authenticated) headers.push(["authorization", `Bearer ${await this.#bearerToken()}`]);

    const timeout = AbortSignal.timeout(this.#timeoutMs + (call.extraMs ?? 0));
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    const request = {
      method: call.method,
      target: url.pathname + url.search,
      host: url.host,
      headers,
      body: call.body === undefined
        ? undefined
        : new TextEncoder().encode(JSON.stringify(call.body)),
    };
    let response: Http1Response;
    try {
      response = await this.#send(request, signal, call.maxBodyBytes ?? MAX_BODY_BYTES);
    } catch (err) {
      throw this.#transportError(call, err, timeout);
    }
    const text = new TextDecoder().decode(response.body);
    if (response.status < 200 || response.status > 299) {
      throw this.#refusal(call.action, response, text);
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw this.#badResponse(call.action)(`the answer is not JSON`, err);
    }
  }

  /**
   * Sends one request on the idle connection when there is a fresh one,
   * else on a new judged connection. A reused connection the daemon closed
   * before answering anything is replaced once by a new one.
   */
  async #send(
    request: Parameters<typeof exchange>[1],
    signal: AbortSignal,
    maxBody: number,
  ): Promise<Http1Response> {
    if (this.#closed) throw new DaemonError(DAEMON_ERRORS.ABORTED, "the client is closed");
    const idle = this.#idle;
    this.#idle = undefined;
    if (idle && !idle.socket.destroyed && performance.now() - idle.since < REUSE_IDLE_MS) {
      try {
        return this.#keep(idle.socket, await exchange(idle.socket, request, signal, maxBody));
      } catch (err) {
        if (!(err instanceof Http1Failure) || err.kind !== "no_response" || signal.aborted) {
          throw err;
        }
      }
    } else {
      idle?.socket.destroy();
    }
    const socket = await this.#dialer.dial(signal);
    return this.#keep(socket, await exchange(socket, request, signal, maxBody));
  }

  #keep(socket: import("node:tls").TLSSocket, response: Http1Response): Http1Response {
    if (response.reusable && !this.#closed) {
      this.#idle?.socket.destroy();
      this.#idle = { socket, since: performance.now() };
    }
    return response;
  }

  #bearerToken(): Promise<string> {
    if (!this.#credential) {
      return Promise.reject(
        new DaemonError(
          DAEMON_ERRORS.NO_CREDENTIALS,
          `Cannot authenticate to ${this.address}: no credential was configured for this call`,
        ),
      );
    }
    this.#bearer ??= this.#credential(this);
    return this.#bearer;
  }

  #transportError(call: Call, err: unknown, timeout: AbortSignal): DaemonError | TrustError {
    const where = `Cannot ${call.action} at ${this.address}`;
    if (call.signal?.aborted) {
      return new DaemonError(DAEMON_ERRORS.ABORTED, `${where}: interrupted`, undefined, {
        cause: err,
      });
    }
    if (timeout.aborted) {
      const seconds = Math.round((this.#timeoutMs + (call.extraMs ?? 0)) / 1000);
      return new DaemonError(
        DAEMON_ERRORS.TIMEOUT,
        `${where}: no answer within ${seconds} s`,
        undefined,
        { cause: err },
      );
    }
    if (err instanceof TrustError) return err;
    if (err instanceof DaemonError) {
      if (err.code === DAEMON_ERRORS.NOT_TLS) {
        // This daemon spoke TLS before: a hang-up now is a restart or the
        // network, worth a retry; never a reason to change protocol.
        return new DaemonError(
          DAEMON_ERRORS.UNREACHABLE,
          `${where}: the connection was closed during the TLS handshake`,
          undefined,
          { cause: err },
        );
      }
      // The dialer's "Cannot connect to HOST:PORT: reason", said of this call.
      return new DaemonError(err.code, `${where}: ${err.reason}`, err.status, {
        cause: err,
        reason: err.reason,
      });
    }
    if (err instanceof Http1Failure) {
      if (err.kind === "malformed") {
        return this.#badResponse(call.action)(err.message, err);
      }
      return new DaemonError(
        DAEMON_ERRORS.UNREACHABLE,
        `${where}: ${err.kind === "no_response" ? "connection closed by the daemon" : err.message}`,
        undefined,
        { cause: err },
      );
    }
    throw err;
  }

  #refusal(action: string, response: Http1Response, text: string): DaemonError {
    let code: DaemonErrorCode = `DAEMON_HTTP_${response.status}`;
    let reason = `HTTP ${response.status}${
      response.statusText ? ` ${printable(response.statusText, 100)}` : ""
    }`;
    try {
      const body = JSON.parse(text);
      const error = body?.error;
      // A code condor_tokend does not send (another version's, a proxy's) is
      // read by the status alone.
      if (typeof error?.code === "string" && isRefusalCode(error.code)) code = error.code;
      if (typeof error?.message === "string" && error.message !== "") {
        reason = printable(error.message);
      }
    } catch {
      // Not the protocol's error body (a proxy, say): the status line is all we have.
    }
    return new DaemonError(
      code,
      `Cannot ${action} at ${this.address}: ${reason}`,
      response.status,
      {
        reason,
      },
    );
  }

  #badResponse(action: string) {
    return (problem: string, cause?: unknown) =>
      new DaemonError(
        DAEMON_ERRORS.BAD_RESPONSE,
        `Cannot ${action} at ${this.address}: ${problem}; is this a condor_tokend?`,
        undefined,
        cause === undefined ? undefined : { cause },
      );
  }
}

type Bad = (problem: string, cause?: unknown) => DaemonError;

/** A RuleInfo read with `check`. */
function ruleInfo(check: ReturnType<typeof checker>): RuleInfo {
  const rule: RuleInfo = {
    ruleId: check.number("ruleId"),
    netblock: check.string("netblock"),
    createdBy: check.string("createdBy"),
    createdAt: check.number("createdAt"),
    expiresAt: check.number("expiresAt"),
    approved: check.number("approved"),
  };
  // The circuit breaker's fields (absent from older daemons).
  const held = check.optionalBoolean("held");
  if (held !== undefined) rule.held = held;
  const heldSince = check.optionalNumber("heldSince");
  if (heldSince !== undefined) rule.heldSince = heldSince;
  const heldBy = check.optionalString("heldBy");
  if (heldBy === "rule" || heldBy === "total") rule.heldBy = heldBy;
  const windowApproved = check.optionalNumber("windowApproved");
  if (windowApproved !== undefined) rule.windowApproved = windowApproved;
  return rule;
}

/** Field readers for one JSON object that throw DaemonError naming the bad field. */
/** A RequestInfo from a checked object. */
function requestInfo(check: ReturnType<typeof checker>): RequestInfo {
  return {
    requestId: check.string("requestId"),
    requestedIdentity: check.string("requestedIdentity"),
    authenticatedIdentity: check.string("authenticatedIdentity"),
    peerLocation: check.string("peerLocation"),
    clientId: check.string("clientId"),
    authorizations: check.strings("authorizations"),
    lifetime: check.nullableNumber("lifetime"),
    state: check.state("state"),
    requestedAt: check.number("requestedAt"),
    expiresAt: check.number("expiresAt"),
  };
}

function checker(value: unknown, bad: Bad) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad("the answer is not a JSON object");
  }
  const obj = value as Record<string, unknown>;
  const wrong = (name: string, what: string) => bad(`field "${name}" is missing or not ${what}`);
  return {
    string(name: string): string {
      if (typeof obj[name] !== "string") throw wrong(name, "a string");
      return obj[name] as string;
    },
    optionalString(name: string): string | undefined {
      return obj[name] === undefined || obj[name] === null ? undefined : this.string(name);
    },
    number(name: string): number {
      if (typeof obj[name] !== "number" || !Number.isFinite(obj[name])) {
        throw wrong(name, "a number");
      }
      return obj[name] as number;
    },
    optionalNumber(name: string): number | undefined {
      return obj[name] === undefined || obj[name] === null ? undefined : this.number(name);
    },
    optionalBoolean(name: string): boolean | undefined {
      if (obj[name] === undefined || obj[name] === null) return undefined;
      if (typeof obj[name] !== "boolean") throw wrong(name, "true or false");
      return obj[name] as boolean;
    },
    nullableNumber(name: string): number | null {
      return obj[name] === null ? null : this.number(name);
    },
    strings(name: string): string[] {
      const list = obj[name];
      if (!Array.isArray(list) || !list.every((s) => typeof s === "string")) {
        throw wrong(name, "a list of strings");
      }
      return list as string[];
    },
    objects(name: string): unknown[] {
      if (!Array.isArray(obj[name])) throw wrong(name, "a list");
      return obj[name] as unknown[];
    },
    state(name: string): RequestState {
      const state = obj[name];
      if (!STATES.includes(state as RequestState)) throw wrong(name, "a request state");
      return state as RequestState;
    },
  };
}
