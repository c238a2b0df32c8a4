/**
 * A small, strict HTTP/1.1 client for one already-trusted TLS socket: one
 * request, one response, with limits on everything the server controls
 * (header size, body size). The HTTPS transport uses it so that the
 * connection carrying a request is exactly the one whose certificate was
 * judged; web `fetch` cannot say which certificate it talked to.
 *
 * @module
 */
import type { Duplex } from "node:stream";

/** Largest response header block accepted. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Largest response body accepted by default: the protocol's answers are small JSON. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Largest list of pending requests accepted (about 200,000 requests). */
export const MAX_LIST_BODY_BYTES = 64 * 1024 * 1024;

/** One request. */
export interface Http1Request {
  method: "GET" | "POST" | "DELETE";
  /** Origin-form target: path and query. */
  target: string;
  /** The Host header's value. */
  host: string;
  headers: readonly [string, string][];
  body?: Uint8Array;
}

/** One response, its body read whole. */
export interface Http1Response {
  status: number;
  statusText: string;
  /** Header values by lower-case name (repeated headers joined with ", "). */
  headers: Map<string, string>;
  body: Uint8Array;
  /** Whether the connection may carry another request. */
  reusable: boolean;
}

/** Why an exchange failed. */
export type Http1FailureKind =
  /** The connection closed (or failed) before any byte of a response arrived. */
  | "no_response"
  /** It closed in the middle of the response. */
  | "truncated"
  /** What arrived is not HTTP/1.x, or breaks a limit. */
  | "malformed";

/** A failed exchange; the socket is destroyed. */
export class Http1Failure extends Error {
  readonly kind: Http1FailureKind;
  constructor(kind: Http1FailureKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

/**
 * Sends `request` on `socket` and reads the response. Destroys the socket
 * on any failure, and when the response does not allow reuse. Throws
 * Http1Failure. Aborting `signal` destroys the socket (the caller tells the
 * abort apart).
 */
export async function exchange(
  socket: Duplex,
  request: Http1Request,
  signal?: AbortSignal,
  maxBodyBytes = MAX_BODY_BYTES,
): Promise<Http1Response> {
  const reader = new SocketReader(socket, maxBodyBytes);
  const onAbort = () => socket.destroy();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (signal?.aborted) throw new Http1Failure("no_response", "interrupted");
    socket.write(requestBytes(request));
    const response = await readResponse(reader, maxBodyBytes);
    if (!response.reusable) socket.destroy();
    return response;
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.detach();
  }
}

function requestBytes(request: Http1Request): Uint8Array {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, `host: ${request.host}`];
  for (const [name, value] of request.headers) {
    if (/[\r\n]/.test(name + value)) throw new TypeError("header with a line break");
    lines.push(`${name}: ${value}`);
  }
  const body = request.body ?? new Uint8Array(0);
  if (request.body !== undefined || request.method === "POST") {
    lines.push(`content-length: ${body.length}`);
  }
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

async function readResponse(reader: SocketReader, maxBody: number): Promise<Http1Response> {
  for (;;) {
    const head = await reader.readHead();
    const { status, statusText, headers, http11 } = parseHead(head);
    // 1xx answers (100 Continue) precede the real one.
    if (status >= 100 && status < 200) {
      if (status === 101) throw new Http1Failure("malformed", "the server switched protocols");
      continue;
    }
    const connection = (headers.get("connection") ?? "").toLowerCase();
    const close = connection.split(/\s*,\s*/).includes("close") ||
      (!http11 && !connection.split(/\s*,\s*/).includes("keep-alive"));
    let body: Uint8Array;
    let framed = true;
    const encoding = headers.get("transfer-encoding");
    const length = headers.get("content-length");
    if (status === 204 || status === 304) {
      body = new Uint8Array(0);
    } else if (encoding !== undefined) {
      if (encoding.toLowerCase() !== "chunked") {
        throw new Http1Failure("malformed", `unsupported transfer-encoding "${encoding}"`);
      }
      body = await readChunked(reader, maxBody);
    } else if (length !== undefined) {
      if (!/^\d{1,10}$/.test(length)) {
        throw new Http1Failure("malformed", `bad content-length "${length}"`);
      }
      const n = Number(length);
      if (n > maxBody) {
        throw new Http1Failure("malformed", `a response body of ${n} bytes is too large`);
      }
      body = await reader.readExactly(n);
    } else {
      framed = false;
      body = await reader.readToEnd(maxBody);
    }
    return {
      status,
      statusText,
      headers,
      body,
      reusable: framed && !close && reader.idle(),
    };
  }
}

function parseHead(
  head: string,
): { status: number; statusText: string; headers: Map<string, string>; http11: boolean } {
  const lines = head.split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Http1Failure("malformed", "the answer is not HTTP/1.x");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0 || /[\s\0]/.test(line.slice(0, colon))) {
      throw new Http1Failure("malformed", "a response header line is malformed");
    }
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    if (name === "content-length" && earlier !== undefined && earlier !== value) {
      throw new Http1Failure("malformed", "conflicting content-length headers");
    }
    headers.set(
      name,
      earlier === undefined || name === "content-length" ? value : `${earlier}, ${value}`,
    );
  }
  return { status: Number(m[2]), statusText: m[3] ?? "", headers, http11: m[1] === "1" };
}

async function readChunked(reader: SocketReader, maxBody: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const line = await reader.readLine();
    const m = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(line);
    if (!m) throw new Http1Failure("malformed", "a chunk size is malformed");
    const size = parseInt(m[1], 16);
    if (size === 0) {
      // Trailers, up to the empty line.
      while ((await reader.readLine()) !== "");
      break;
    }
    total += size;
    if (total > maxBody) {
      throw new Http1Failure("malformed", "the response body is too large");
    }
    parts.push(await reader.readExactly(size));
    if ((await reader.readLine()) !== "") {
      throw new Http1Failure("malformed", "a chunk is malformed");
    }
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return body;
}

/** Pull-style reading of a push-style socket, with a bound on what it buffers. */
class SocketReader {
  #socket: Duplex;
  #buffer = new Uint8Array(0);
  #ended = false;
  #error: Error | undefined;
  #received = 0;
  #wake: (() => void) | undefined;
  // deno-lint-ignore no-explicit-any
  #listeners: [string, (...args: any[]) => void][];

  #maxBody: number;

  constructor(socket: Duplex, maxBody: number) {
    this.#socket = socket;
    this.#maxBody = maxBody;
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    const onData = (chunk: Uint8Array) => {
      this.#received += chunk.length;
      const next = new Uint8Array(this.#buffer.length + chunk.length);
      next.set(this.#buffer);
      next.set(chunk, this.#buffer.length);
      this.#buffer = next;
      // Bounded: stop reading once more than a response could need is waiting.
      if (this.#buffer.length > MAX_HEADER_BYTES + this.#maxBody + 64) socket.pause();
      wake();
    };
    const onEnd = () => {
      this.#ended = true;
      wake();
    };
    const onError = (err: Error) => {
      this.#error = err;
      this.#ended = true;
      wake();
    };
    this.#listeners = [["data", onData], ["end", onEnd], ["close", onEnd], ["error", onError]];
    for (const [event, fn] of this.#listeners) socket.on(event, fn);
    socket.resume();
    if (socket.destroyed) this.#ended = true;
  }

  /** Stops listening; unread bytes stay unread (none, for a reusable connection). */
  detach(): void {
    for (const [event, fn] of this.#listeners) this.#socket.off(event, fn);
    // A socket kept for reuse must not fail unhandled while it idles.
    if (!this.#socket.destroyed && this.#socket.listenerCount("error") === 0) {
      this.#socket.on("error", () => {});
    }
  }

  /** Whether nothing beyond the response arrived (a reusable connection must be idle). */
  idle(): boolean {
    return this.#buffer.length === 0 && !this.#ended;
  }

  async readHead(): Promise<string> {
    for (;;) {
      const end = indexOfCrlfCrlf(this.#buffer);
      if (end >= 0) {
        const head = new TextDecoder().decode(this.#buffer.subarray(0, end));
        this.#buffer = this.#buffer.slice(end + 4);
        return head;
      }
      if (this.#buffer.length > MAX_HEADER_BYTES) {
        throw new Http1Failure("malformed", "the response headers are too large");
      }
      await this.#more();
    }
  }

  async readLine(): Promise<string> {
    for (;;) {
      const end = this.#buffer.indexOf(0x0a);
      if (end >= 0) {
        const line = new TextDecoder().decode(this.#buffer.subarray(0, end)).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(end + 1);
        return line;
      }
      if (this.#buffer.length > MAX_HEADER_BYTES) {
        throw new Http1Failure("malformed", "a response line is too long");
      }
      await this.#more();
    }
  }

  async readExactly(n: number): Promise<Uint8Array> {
    while (this.#buffer.length < n) await this.#more();
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  async readToEnd(maxBody: number): Promise<Uint8Array> {
    for (;;) {
      if (this.#buffer.length > maxBody) {
        throw new Http1Failure("malformed", "the response body is too large");
      }
      if (this.#ended) {
        const out = this.#buffer;
        this.#buffer = new Uint8Array(0);
        return out;
      }
      await this.#wait();
    }
  }

  /** Waits for more bytes; a close before them is a failure. */
  async #more(): Promise<void> {
    if (this.#ended) {
      const kind = this.#received === 0 ? "no_response" : "truncated";
      throw new Http1Failure(
        kind,
        kind === "no_response"
          ? "the connection closed before an answer"
          : "the answer was cut off",
        this.#error ? { cause: this.#error } : undefined,
      );
    }
    await this.#wait();
  }

  #wait(): Promise<void> {
    this.#socket.resume();
    return new Promise((resolve) => this.#wake = resolve);
  }
}

function indexOfCrlfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}
