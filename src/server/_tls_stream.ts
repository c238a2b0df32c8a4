/**
 * The server side of TLS over a TCP connection this module owns, so that
 * closing it always frees the socket at once.
 *
 * Why not `Deno.listenTls`: closing one of its connections before the TLS
 * handshake has finished waits for the handshake to finish first, and a
 * peer that never sends its ClientHello never lets it, so the socket stays
 * open for as long as that peer likes (rustls-tokio-stream's close and drop
 * both await the handshake task, which holds the socket and has no
 * deadline). A handshake deadline is then impossible to enforce. Here the
 * TCP connection comes from `Deno.listen`, node:tls does the TLS on bytes
 * we move, and `close()` closes the TCP connection itself.
 *
 * Reading is bounded: Deno's node:tls keeps reading from its transport
 * while the TLS socket is paused, so the transport below stops reading from
 * the network whenever decrypted bytes not yet taken pass a limit.
 *
 * @module
 */
import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { CondorError } from "../errors.ts";

/** A byte stream as the HTTP connection uses it. */
export interface ByteStream {
  /** Reads into `into`; resolves to the count, or null at the end of the stream. */
  read(into: Uint8Array): Promise<number | null>;
  /** Writes all of `bytes`. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the stream and its socket now; pending reads and writes fail. Idempotent. */
  close(): void;
}

/** Decrypted bytes held for the reader before the network is no longer read. */
const HELD_LIMIT = 16 * 1024;
const READ_CHUNK = 16 * 1024;

/**
 * A TLS server context for a certificate chain and key (PEM). Throws a
 * CondorError TLS_IDENTITY when they are unusable: node:tls would take them
 * and then fail every handshake, so they are first loaded the way Deno's
 * own TLS loads a certificate and key (which checks that the key is the
 * certificate's), without opening a socket.
 */
export function tlsContext(identity: { certPem: string; keyPem: string }): SecureContext {
  try {
    Deno.createHttpClient({ cert: identity.certPem, key: identity.keyPem }).close();
  } catch (err) {
    throw new CondorError(
      "TLS_IDENTITY",
      `Cannot use the TLS certificate and key: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
  return createSecureContext({ cert: identity.certPem, key: identity.keyPem });
}

/** A TCP connection as a plain ByteStream. */
export class PlainStream implements ByteStream {
  readonly #conn: Deno.Conn;
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  read(into: Uint8Array): Promise<number | null> {
    return this.#conn.read(into);
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }
}

/** TLS (server side) over an accepted TCP connection. */
export class TlsStream implements ByteStream {
  readonly #transport: Transport;
  readonly #socket: TLSSocket;
  readonly #secure: Promise<void>;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #pendingWrites = new Set<(err: Error) => void>();

  constructor(conn: Deno.Conn, context: SecureContext) {
    this.#transport = new Transport(conn);
    this.#socket = new TLSSocket(this.#transport, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ["http/1.1"],
    });
    this.#secure = new Promise((resolve, reject) => {
      this.#socket.once("secure", () => resolve());
      // A peer that leaves before the handshake ends only the stream ("end"),
      // not the socket: fail the handshake on either, and on an error.
      const fail = () => reject(this.#failure ?? new ClosedError());
      this.#socket.once("end", fail);
      this.#socket.once("close", fail);
      this.#socket.once("error", fail);
    });
    // Nobody may be waiting for the handshake when it fails.
    this.#secure.catch(() => {});
    this.#socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= HELD_LIMIT) this.#transport.hold(true);
      this.#notify();
    });
    this.#socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    // Errors of either stream end this one; without listeners they would be thrown.
    const fail = (err: Error) => {
      this.#failure ??= err;
      this.#notify();
    };
    this.#socket.on("error", fail);
    this.#transport.on("error", fail);
    this.#socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  /** Resolves once the TLS handshake has completed; rejects when it fails or the stream closes. */
  handshake(): Promise<void> {
    return this.#secure;
  }

  async read(into: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#failure) throw this.#failure;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < into.length && this.#queue.length > 0) {
      const chunk = this.#queue[0];
      const take = Math.min(chunk.length, into.length - n);
      into.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) this.#queue.shift();
      else this.#queue[0] = chunk.subarray(take);
    }
    this.#queued -= n;
    if (this.#queued < HELD_LIMIT) this.#transport.hold(false);
    return n;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#socket.destroyed) return Promise.reject(new ClosedError());
    return new Promise((resolve, reject) => {
      // Settled by close() too: the connection's deadlines rely on a
      // closed stream's pending write failing, whatever node:tls does.
      this.#pendingWrites.add(reject);
      this.#socket.write(bytes, (err?: Error | null) => {
        this.#pendingWrites.delete(reject);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#transport.destroy();
    for (const reject of this.#pendingWrites) reject(new ClosedError());
    this.#pendingWrites.clear();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Raised for reads and writes on a stream that closed before they could happen. */
class ClosedError extends Error {
  constructor() {
    super("The connection is closed");
    this.name = "ClosedError";
  }
}

/** A fatal TLS alert record, protocol_version: what a TLS server says to a client speaking something else. */
const PROTOCOL_VERSION_ALERT = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);
/** The answer to plain HTTP on the HTTPS port. */
const HTTPS_ONLY = JSON.stringify({
  error: { code: "WRONG_SCHEME", message: "This port speaks HTTPS: use https://" },
});

/** The TCP connection as node:tls's transport, reading the network only while allowed. */
class Transport extends Duplex {
  readonly #conn: Deno.Conn;
  readonly #scratch = new Uint8Array(READ_CHUNK);
  #reading = false;
  #wanted = false;
  #held = false;
  #closed = false;
  #first = true;

  constructor(conn: Deno.Conn) {
    super();
    this.#conn = conn;
  }

  /** Stops (true) or resumes (false) reading from the network. */
  hold(held: boolean): void {
    this.#held = held;
    this.#pump();
  }

  override _read(): void {
    this.#wanted = true;
    this.#pump();
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (err?: Error | null) => void,
  ): void {
    this.#writeAll(chunk).then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#close();
    callback(err);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  #pump(): void {
    if (this.#reading || this.#held || !this.#wanted || this.#closed) return;
    this.#reading = true;
    this.#conn.read(this.#scratch).then((n) => {
      this.#reading = false;
      if (n === null) {
        this.push(null);
        return;
      }
      if (this.#first) {
        this.#first = false;
        // A TLS client's first record is a handshake (22). Anything else is
        // another protocol on the HTTPS port: say so, as TLS servers do,
        // rather than hang up without a word (HTCondor's tools, a browser).
        if (n > 0 && this.#scratch[0] !== 22) {
          this.#refuseOtherProtocol(this.#scratch.slice(0, n));
          return;
        }
      }
      this.#wanted = this.push(this.#scratch.slice(0, n));
      this.#pump();
    }, (err: Error) => {
      this.#reading = false;
      this.destroy(err);
    });
  }

  /** Answers plain HTTP with a 400 saying to use HTTPS, anything else with a TLS alert; then closes. */
  #refuseOtherProtocol(first: Uint8Array): void {
    const text = new TextDecoder().decode(first.subarray(0, 8));
    const answer = /^[A-Z]{3,7} /.test(text)
      ? new TextEncoder().encode(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n" +
          `content-length: ${HTTPS_ONLY.length}\r\n\r\n${HTTPS_ONLY}`,
      )
      : PROTOCOL_VERSION_ALERT;
    this.#writeAll(answer).catch(() => {}).finally(() => this.destroy());
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }
}
