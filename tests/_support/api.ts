/**
 * Test helpers: call a test daemon's API over real HTTPS, trusting its
 * certificate (apiFor), or straight through its handler (handlerApi).
 */
import type { EnqueueRequest } from "../../src/api/protocol.ts";
import type { Handler } from "../../src/server/handler.ts";

/** One answer: status, parsed JSON (or text) body, headers. */
export interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Headers;
}

/** A small API client; close() it at the end of the test (or `using api = apiFor(...)`). */
export interface Api extends Disposable {
  call(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string; raw?: string },
  ): Promise<Answer>;
  get(path: string, token?: string): Promise<Answer>;
  post(path: string, body?: unknown, token?: string): Promise<Answer>;
  /** Enqueues a request with defaults (condor@..., ADVERTISE_STARTD, fresh secret). */
  enqueue(overrides?: Partial<EnqueueRequest>): Promise<Answer & { secret: string }>;
  close(): void;
}

/**
 * An Api for the daemon at `url` presenting `certPem`, on an HTTP client (and
 * so connections) of its own; each call gives up after `timeoutMs` (default
 * 45 s). `localAddress` (e.g. "127.0.0.2") makes the calls come from that
 * address, to act as several peers over loopback.
 */
export function apiFor(
  daemon: { url: string; certPem: string },
  options: { timeoutMs?: number; localAddress?: string } = {},
): Api {
  const timeoutMs = options.timeoutMs ?? 45_000;
  const client = Deno.createHttpClient({
    caCerts: [daemon.certPem],
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  return apiOver(
    (request) => fetch(request, { client, signal: AbortSignal.timeout(timeoutMs) }),
    daemon.url,
    () => client.close(),
  );
}

/**
 * An Api that calls the daemon's handler directly with `new Request(...)`,
 * as the server would after TLS, from the peer address `peer` (default
 * 127.0.0.1): for what needs no network, without a socket or a handshake.
 */
export function handlerApi(
  daemon: { url: string; handler: Handler },
  options: { peer?: string } = {},
): Api {
  const remoteAddr: Deno.NetAddr = {
    transport: "tcp",
    hostname: options.peer ?? "127.0.0.1",
    port: 40000,
  };
  return apiOver((request) => daemon.handler(request, { remoteAddr }), daemon.url, () => {});
}

function apiOver(
  send: (request: Request) => Promise<Response>,
  baseUrl: string,
  close: () => void,
): Api {
  const call: Api["call"] = async (method, path, request = {}) => {
    const headers: Record<string, string> = {};
    if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
    let body: string | undefined = request.raw;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers["content-type"] = "application/json";
    }
    const response = await send(new Request(baseUrl + path, { method, body, headers }));
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (health, metrics): keep the text.
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return {
    call,
    get: (path, token) => call("GET", path, { token }),
    post: (path, body, token) => call("POST", path, { body, token }),
    async enqueue(overrides = {}) {
      const secret = overrides.secret ?? newSecret();
      const answer = await call("POST", "/v1/token-requests", {
        body: {
          identity: "condor@tokend-test.example.org",
          authz: ["ADVERTISE_STARTD"],
          lifetime: 600,
          clientId: "worker-17",
          ...overrides,
          secret,
        },
      });
      return { ...answer, secret };
    },
    close,
    [Symbol.dispose]: close,
  };
}

/** A fresh 43-character base64url requester secret. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** Decodes a token's payload (tests only; no verification). */
export function payloadOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
}

/** A fake clock in milliseconds that tests move by hand. */
export class FakeClock {
  ms: number;
  constructor(start = Date.now()) {
    this.ms = start;
  }
  now = (): number => this.ms;
  /** Moves the clock forward by `seconds`. */
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
