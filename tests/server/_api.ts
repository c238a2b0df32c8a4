/** Test helpers: call a test daemon's API over real HTTPS, trusting its certificate. */
import type { EnqueueRequest } from "../../src/api/protocol.ts";

/** One answer: status, parsed JSON (or text) body, headers. */
export interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Headers;
}

/** A small API client; close() it at the end of the test. */
export interface Api {
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
  const call: Api["call"] = async (method, path, request = {}) => {
    const headers: Record<string, string> = {};
    if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
    let body: string | undefined = request.raw;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers["content-type"] = "application/json";
    }
    const response = await fetch(daemon.url + path, {
      method,
      body,
      headers,
      client,
      signal: AbortSignal.timeout(timeoutMs),
    });
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
    close: () => client.close(),
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
