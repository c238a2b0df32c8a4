/**
 * One HTTP/1.1 connection: read a request head and body within their
 * deadlines, hand a `Request` to the handler, write its `Response` with a
 * Content-Length, and keep the connection for the next request or close it.
 * While the handler runs, a read stays pending so that a client who goes
 * away aborts `request.signal` (a long poll must not hand its token to a
 * dead connection).
 *
 * Deadlines are not timers: the connection says which phase it is in and
 * until when (`phase`, `deadline`), and the server's sweep closes those
 * past it. Memory is bounded: one buffer of at most the head and body
 * limits, grown only as bytes arrive.
 *
 * @module
 */
import type { Handler } from "./handler.ts";
import { type HeadScan, HttpError, parseRequestHead, type RequestHead } from "./_http_parse.ts";
import type { ByteStream } from "./_tls_stream.ts";

/** Where a connection is; each phase but "handler" has a deadline. */
export type Phase = "handshake" | "header" | "idle" | "body" | "handler" | "write" | "closed";

/** Deadlines in milliseconds, and the size limits, of one connection. */
export interface ConnectionRules {
  handshakeMs: number;
  /** The whole head, from the connection being ready or the first byte after an answer. */
  headerMs: number;
  /** The whole body, from the end of the head. */
  bodyMs: number;
  /** From an answer to the first byte of the next request. */
  idleMs: number;
  /** Writing one answer. */
  writeMs: number;
  maxHeadBytes: number;
  maxBodyBytes: number;
}

/** What a connection reports to the server. */
export interface ConnectionHooks {
  /** A request refused at the HTTP layer (malformed, too large): its error code. */
  refused(code: string, peer: string): void;
  /** A fault: the handler threw (it should answer every call itself). */
  fault(err: unknown): void;
}

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const INITIAL_BUFFER = 4096;
/** Response headers this layer writes itself. */
const OWN_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  417: "Expectation Failed",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};
const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** One accepted connection, from its handshake to its close. */
export class HttpConnection {
  /** The phase the connection is in. */
  phase: Phase = "handshake";
  /** When the current phase must be over (performance.now() milliseconds); Infinity for none. */
  deadline: number;

  readonly #stream: ByteStream;
  readonly #handler: Handler;
  readonly #info: { remoteAddr: Deno.NetAddr };
  readonly #peer: string;
  readonly #scheme: string;
  readonly #defaultHost: string;
  readonly #rules: ConnectionRules;
  readonly #hooks: ConnectionHooks;
  readonly #now: () => number;
  readonly #capacity: number;
  /** Bytes received and not yet taken are buffer[start, end). */
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #reading: Promise<boolean> | undefined;
  #eof = false;
  #draining = false;

  constructor(options: {
    stream: ByteStream;
    handler: Handler;
    remoteAddr: Deno.NetAddr;
    /** The peer as logged. */
    peer: string;
    /** "https" or "http". */
    scheme: string;
    /** The authority of requests without a Host (HTTP/1.0), e.g. `127.0.0.1:9618`. */
    defaultHost: string;
    rules: ConnectionRules;
    hooks: ConnectionHooks;
    now: () => number;
  }) {
    this.#stream = options.stream;
    this.#handler = options.handler;
    this.#info = { remoteAddr: options.remoteAddr };
    this.#peer = options.peer;
    this.#scheme = options.scheme;
    this.#defaultHost = options.defaultHost;
    this.#rules = options.rules;
    this.#hooks = options.hooks;
    this.#now = options.now;
    this.#capacity = options.rules.maxHeadBytes + options.rules.maxBodyBytes;
    this.deadline = this.#now() + options.rules.handshakeMs;
  }

  /**
   * Serves requests until the client closes, a deadline passes, a request is
   * refused, or the server drains. Never rejects: every failure of the
   * network ends the connection, which is always closed on return.
   */
  async serve(): Promise<void> {
    try {
      for (let first = true;; first = false) {
        const parsed = await this.#readHead(first);
        if (!parsed) return;
        if (!(await this.#exchange(parsed.head, parsed.length))) return;
      }
    } catch (err) {
      if (err instanceof HttpError && this.phase !== "closed") await this.#refuse(err);
      // Anything else is the network failing or the connection closed under
      // us (deadline, shutdown): nothing to answer, nothing to log.
    } finally {
      this.close();
    }
  }

  /** Closes the connection now if its deadline has passed; returns the phase it expired in. */
  expire(now: number): Phase | undefined {
    if (now <= this.deadline || this.phase === "closed") return undefined;
    const phase = this.phase;
    this.close();
    return phase;
  }

  /**
   * For a shutdown: closes the connection now unless a request is being
   * answered, in which case it closes after that answer.
   */
  drain(): void {
    this.#draining = true;
    if (this.phase !== "handler" && this.phase !== "write") this.close();
  }

  /** Closes the connection now. Idempotent. */
  close(): void {
    if (this.phase === "closed") return;
    this.#enter("closed");
    try {
      this.#stream.close();
    } catch (err) {
      // Already closed by the runtime after a failure: nothing left to free.
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }

  /** Enters `phase`, with its deadline from now. */
  #enter(phase: Phase): void {
    this.phase = phase;
    const ms = phase === "header"
      ? this.#rules.headerMs
      : phase === "idle"
      ? this.#rules.idleMs
      : phase === "body"
      ? this.#rules.bodyMs
      : phase === "write"
      ? this.#rules.writeMs
      : phase === "handshake"
      ? this.#rules.handshakeMs
      : Infinity;
    this.deadline = this.#now() + ms;
  }

  /** The next request head, or undefined when the client closed (or the server drains) between requests. */
  async #readHead(first: boolean): Promise<{ head: RequestHead; length: number } | undefined> {
    this.#enter(first || this.#end > this.#start ? "header" : "idle");
    // Each read goes on where the last one's parse stopped.
    const scan: HeadScan = { start: 0, lineStart: 0, lines: 0, searched: 0 };
    while (true) {
      if (this.#end > this.#start) {
        if (this.phase === "idle") this.#enter("header");
        const parsed = parseRequestHead(this.#buffer.subarray(this.#start, this.#end), {
          maxHeadBytes: this.#rules.maxHeadBytes,
          maxBodyBytes: this.#rules.maxBodyBytes,
        }, scan);
        if (parsed) return parsed;
      } else if (this.#draining) {
        return undefined;
      }
      if (!(await this.#fill())) {
        // Closed between requests, or in the middle of a head: either way nothing to answer.
        return undefined;
      }
    }
  }

  /** Reads the body, runs the handler, writes its answer; true when the connection stays open. */
  async #exchange(head: RequestHead, headLength: number): Promise<boolean> {
    const length = head.contentLength;
    if (length > 0) {
      if (head.expectContinue && this.#end - this.#start - headLength < length) {
        this.#enter("write");
        await this.#stream.write(CONTINUE);
      }
      this.#enter("body");
      while (this.#end - this.#start - headLength < length) {
        if (!(await this.#fill())) return false;
      }
    }
    const from = this.#start + headLength;
    const body = length > 0 ? this.#buffer.slice(from, from + length) : null;
    this.#consume(headLength + length);

    const controller = new AbortController();
    const request = this.#request(head, body, controller.signal);
    this.#enter("handler");
    this.#watch(controller).catch(() => controller.abort());
    let response: Response;
    try {
      response = await this.#handler(request, this.#info);
    } catch (err) {
      this.#hooks.fault(err);
      response = errorResponse(
        500,
        "INTERNAL",
        "Cannot complete the call: internal error; see the daemon's log",
      );
    }
    const keepAlive = head.keepAlive && !this.#draining && !this.#eof;
    const bytes = await responseBytes(response, head.method === "HEAD", !keepAlive);
    if (this.phase === "closed") return false;
    this.#enter("write");
    await this.#stream.write(bytes);
    return keepAlive && !this.#draining;
  }

  /** The Request the handler gets. Throws HttpError for what the Request type refuses. */
  #request(head: RequestHead, body: Uint8Array<ArrayBuffer> | null, signal: AbortSignal): Request {
    const hasBody = body !== null && head.method !== "GET" && head.method !== "HEAD";
    try {
      return new ServerRequest(
        `${this.#scheme}://${head.host ?? this.#defaultHost}${head.target}`,
        { method: head.method, headers: head.headers, body: hasBody ? body : null },
        signal,
      );
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      throw new HttpError(400, "BAD_HTTP", "Cannot parse request: not a valid HTTP request");
    }
  }

  /**
   * While the handler of the request with `controller` runs, keeps a read
   * pending; aborts `controller` when the client closes or resets. Stops
   * when the buffer is full (a client sending more than a request's worth
   * ahead is not read further until it is answered).
   */
  async #watch(controller: AbortController): Promise<void> {
    // Never rejects in practice (#fill reports failures as false); if it did, the caller aborts.
    while (this.phase === "handler" && !controller.signal.aborted) {
      if (this.#end - this.#start >= this.#capacity) return;
      if (!(await this.#fill())) {
        controller.abort();
        return;
      }
      // Bytes after the request: keep them for the next one and go on watching.
      if (this.phase !== "handler") return;
    }
  }

  /**
   * Reads more bytes into the buffer; false at the end of the stream or when
   * it failed. One read at a time: callers share the read in flight.
   */
  #fill(): Promise<boolean> {
    if (this.#eof) return Promise.resolve(false);
    this.#reading ??= this.#readMore().finally(() => this.#reading = undefined);
    return this.#reading;
  }

  async #readMore(): Promise<boolean> {
    // Taken bytes are dropped only here, with no read in flight: a read
    // writes where the buffer ended when it was issued.
    if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buffer.length) {
      if (this.#buffer.length >= this.#capacity) {
        throw new HttpError(
          431,
          "HEADERS_TOO_LARGE",
          "Cannot read request: the header is too large",
        );
      }
      const grown = new Uint8Array(
        Math.min(this.#capacity, Math.max(INITIAL_BUFFER, this.#buffer.length * 2)),
      );
      grown.set(this.#buffer.subarray(0, this.#end));
      this.#buffer = grown;
    }
    let n: number | null;
    try {
      n = await this.#stream.read(this.#buffer.subarray(this.#end));
    } catch {
      // A reset, or the stream closed by a deadline or shutdown: the end of this connection.
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** Takes the first `n` bytes (a request). */
  #consume(n: number): void {
    this.#start += n;
  }

  /** Answers a request refused at the HTTP layer, then the connection closes. */
  async #refuse(err: HttpError): Promise<void> {
    this.#hooks.refused(err.code, this.#peer);
    const bytes = await responseBytes(
      errorResponse(err.status, err.code, err.message),
      false,
      true,
    );
    this.#enter("write");
    try {
      await this.#stream.write(bytes);
    } catch {
      // The client is gone: the refusal has nobody to reach.
    }
  }
}

/**
 * A Request whose `signal` is the connection's own. Passing the signal to
 * the Request constructor instead makes it build a second signal that
 * follows the first, which cost more than the rest of the Request together
 * (about 20 us of a call's 100 in a profile of the daemon).
 */
class ServerRequest extends Request {
  readonly #signal: AbortSignal;

  constructor(url: string, init: RequestInit, signal: AbortSignal) {
    super(url, init);
    this.#signal = signal;
  }

  override get signal(): AbortSignal {
    return this.#signal;
  }
}

/** A JSON error answer in the shape of every refusal (`{ error: { code, message } }`). */
export function errorResponse(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

/** The bytes of an answer: status line, headers with Content-Length, and the body. */
async function responseBytes(
  response: Response,
  head: boolean,
  close: boolean,
): Promise<Uint8Array> {
  const status = response.status;
  const body = new Uint8Array(await response.arrayBuffer());
  const bodyless = status === 204 || status === 304 || status < 200;
  let text = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) {
    if (!OWN_HEADERS.has(name)) text += `${name}: ${value}\r\n`;
  }
  if (!bodyless) text += `content-length: ${body.length}\r\n`;
  text += `date: ${new Date().toUTCString()}\r\n`;
  if (close) text += "connection: close\r\n";
  text += "\r\n";
  const sent = head || bodyless ? 0 : body.length;
  const bytes = new Uint8Array(text.length + sent);
  if (NON_ASCII.test(text)) {
    // Header values are byte strings: one byte per character, never UTF-8.
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  } else {
    encoder.encodeInto(text, bytes);
  }
  if (sent > 0) bytes.set(body, text.length);
  return bytes;
}
