/**
 * The HTTPS transport: {@link TokenDaemonClient} over web `fetch`, one JSON
 * call per method (paths and bodies from src/api/protocol.ts). Every call has
 * a timeout, every answer is checked against the protocol's shapes, and every
 * failure becomes a DaemonError with a stable code and the daemon's own
 * message when it gave one.
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
  PATHS,
  type RequestInfo,
  type RequestState,
  type RequestStateResponse,
} from "../api/protocol.ts";
import { DaemonError } from "../errors.ts";
import {
  type CredentialSource,
  DAEMON_ERRORS,
  type DaemonQuery,
  type TokenDaemonClient,
} from "./daemon_client.ts";

/** How to reach one daemon over HTTPS. */
export interface HttpsClientOptions {
  /** The daemon's base URL, `https://host:port` (a path prefix is kept). */
  baseUrl: URL | string;
  /** TLS settings from trust.ts; owned and closed by the client. System CAs when absent. */
  httpClient?: Deno.HttpClient;
  /** Credential for authenticated calls; those calls fail without one. */
  credential?: CredentialSource;
  /** Timeout of each call in milliseconds, on top of a long poll's wait (default 15 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;

const STATES: readonly RequestState[] = [
  "pending",
  "approved",
  "collected",
  "denied",
  "expired",
  "cancelled",
];

interface Call {
  method: "GET" | "POST";
  path: string;
  /** What the call does, for messages: "Cannot <action> at <address>: ...". */
  action: string;
  body?: unknown;
  query?: Record<string, string | undefined>;
  authenticated?: boolean;
  /** Extra time on top of the timeout, for long polls. */
  extraMs?: number;
  signal?: AbortSignal;
}

/** Creates an HTTPS client for one daemon. Needs --allow-net to the daemon. */
export function httpsDaemonClient(options: HttpsClientOptions): TokenDaemonClient {
  return new HttpsDaemonClient(options);
}

class HttpsDaemonClient implements TokenDaemonClient {
  readonly address: string;
  readonly #base: URL;
  readonly #httpClient: Deno.HttpClient | undefined;
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
    this.#httpClient = options.httpClient;
    this.#credential = options.credential;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
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
      signal,
    });
    const bad = this.#badResponse(action);
    return checker(body, bad).objects("requests").map((item) => {
      const check = checker(item, bad);
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
    });
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
    return {
      netblock: check.string("netblock"),
      lifetime: check.number("lifetime"),
      expiresAt: check.number("expiresAt"),
      approved: check.strings("approved"),
    };
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

  close(): void {
    this.#httpClient?.close();
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
    const headers = new Headers({ accept: "application/json" });
    if (call.body !== undefined) headers.set("content-type", "application/json");
    if (call.authenticated) headers.set("authorization", `Bearer ${await this.#bearerToken()}`);

    const timeout = AbortSignal.timeout(this.#timeoutMs + (call.extraMs ?? 0));
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal,
        client: this.#httpClient,
      });
      text = await response.text();
    } catch (err) {
      throw this.#transportError(call, err, timeout);
    }
    if (!response.ok) throw this.#refusal(call.action, response, text);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw this.#badResponse(call.action)(`the answer is not JSON`, err);
    }
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

  #transportError(call: Call, err: unknown, timeout: AbortSignal): DaemonError {
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
    if (!(err instanceof TypeError)) {
      // fetch rejects with TypeError for network failures; anything else is a bug.
      throw err;
    }
    const { tls, reason } = describeFetchFailure(err);
    return new DaemonError(
      tls ? DAEMON_ERRORS.TLS : DAEMON_ERRORS.UNREACHABLE,
      `${where}: ${reason}`,
      undefined,
      { cause: err },
    );
  }

  #refusal(action: string, response: Response, text: string): DaemonError {
    let code = `DAEMON_HTTP_${response.status}`;
    let reason = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    try {
      const body = JSON.parse(text);
      const error = body?.error;
      if (typeof error?.code === "string" && /^[A-Z0-9_]{1,64}$/.test(error.code)) {
        code = error.code;
      }
      if (typeof error?.message === "string" && error.message !== "") reason = error.message;
    } catch {
      // Not the protocol's error body (a proxy, say): the status line is all we have.
    }
    return new DaemonError(code, `Cannot ${action} at ${this.address}: ${reason}`, response.status);
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

/**
 * Turns fetch's TypeError into a short reason, telling TLS failures apart
 * from unreachable daemons. Deno's messages nest the underlying error after
 * the URL; the innermost part is the useful one.
 */
export function describeFetchFailure(err: TypeError): { tls: boolean; reason: string } {
  const text = [err.message, err.cause instanceof Error ? err.cause.message : ""].join(" ");
  // Only certificate problems are TLS failures; a handshake cut short is the
  // network (a restarting daemon, a proxy), worth a retry.
  const tls = /certificate|UnknownIssuer|NotValidForName|CertExpired|alert/i.test(text);
  const known: [RegExp, string][] = [
    [/connection refused/i, "connection refused (is the daemon running on that port?)"],
    [/connection reset/i, "connection reset by the daemon"],
    [
      /handshake eof|connection closed|unexpected eof|broken pipe/i,
      "connection closed by the daemon",
    ],
    [/dns error|failed to lookup|name or service not known|no address/i, "host name not found"],
    [/network is unreachable|no route to host/i, "no route to the host"],
    [/timed out/i, "connection timed out"],
    [/NotValidForName/i, "its certificate is not valid for this host name"],
    [/UnknownIssuer/i, "its certificate is not signed by a trusted certificate authority"],
    [/Expired/i, "its certificate has expired"],
    [/blocked/i, "that port is not allowed for HTTPS"],
  ];
  for (const [pattern, reason] of known) if (pattern.test(text)) return { tls, reason };
  const inner = text.split(/: /).map((s) => s.trim()).filter(Boolean).pop() ?? "";
  return { tls, reason: inner || "network error" };
}

type Bad = (problem: string, cause?: unknown) => DaemonError;

/** Field readers for one JSON object that throw DaemonError naming the bad field. */
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
