/**
 * A TLS client whose records travel inside another protocol's messages:
 * node:tls over an in-memory duplex stream. The caller hands in what the
 * server sent and takes out what the client wants to send, one message at a
 * time, as HTCondor's SSL authentication carries TLS inside CEDAR messages.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import type tls from "node:tls";
import { type NodeTls, nodeTlsModules } from "../_node_tls.ts";
import { issuersOf } from "../_peer_certificate.ts";
import { concat } from "./packet_stream.ts";

/** How long one TLS step may take before the tunnel gives up. */
const STEP_TIMEOUT_MS = 10_000;
/** Quiet time after the last output byte that ends a step's output. */
const SETTLE_MS = 2;
/** How long a completed handshake may take to write its last flight. */
const SECURE_GRACE_MS = 20;

/** What the server's certificate looked like to the TLS client. */
export interface TunnelPeer {
  /** DER bytes of the leaf certificate. */
  raw: Uint8Array;
  /** Node's subjectaltname text, e.g. "DNS:cm.example.org, IP Address:10.0.0.1". */
  subjectAltName: string;
  /** Node's valid_to text. */
  validTo: string | undefined;
  /** Whether the chain verified against `ca` (or the system's CAs). */
  authorized: boolean;
  authorizationError: string | undefined;
  /** DER of the certificates above the leaf that the server sent. */
  chain: Uint8Array[];
}

/** A TLS client driven by hand: push what the server sent, take what to send back. */
export class TlsTunnel {
  #duplex: Duplex;
  #socket: tls.TLSSocket;
  #output: Uint8Array[] = [];
  #data: Uint8Array[] = [];
  #secure = false;
  #failure: Error | undefined;
  #wake: () => void = () => {};
  #lastWrite = 0;

  /**
   * Starts the handshake (loading node:tls first if need be). `servername`
   * is sent as SNI (host names only); `ca` replaces the system's trust
   * anchors for `authorized`. The certificate is never rejected here: the
   * caller decides trust.
   */
  static async open(options: { servername?: string; ca?: string }): Promise<TlsTunnel> {
    return new TlsTunnel(options, await nodeTlsModules());
  }

  private constructor(
    options: { servername?: string; ca?: string },
    { tls, Duplex }: NodeTls,
  ) {
    this.#duplex = new Duplex({
      read() {},
      write: (chunk: Uint8Array, _encoding, done) => {
        this.#output.push(new Uint8Array(chunk));
        this.#lastWrite = performance.now();
        this.#wake();
        done();
      },
    });
    this.#socket = tls.connect({
      socket: this.#duplex,
      servername: options.servername,
      rejectUnauthorized: false,
      ca: options.ca === undefined ? undefined : [options.ca],
    });
    this.#socket.on("secureConnect", () => {
      this.#secure = true;
      this.#wake();
    });
    this.#socket.on("data", (chunk: Uint8Array) => {
      this.#data.push(new Uint8Array(chunk));
      this.#wake();
    });
    this.#socket.on("error", (err: Error) => {
      this.#failure = err;
      this.#wake();
    });
  }

  /** Whether the handshake has completed on the client's side. */
  get secure(): boolean {
    return this.#secure;
  }

  /** Feeds bytes the server sent. */
  push(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#duplex.push(bytes);
  }

  /**
   * Waits until the client has answered what was pushed: it finished the
   * handshake, or wrote records and then fell quiet. Returns the records to
   * send (possibly none). Throws the TLS library's error when the handshake
   * failed.
   */
  async step(): Promise<Uint8Array> {
    const started = performance.now();
    const deadline = started + STEP_TIMEOUT_MS;
    let secureSince: number | undefined;
    for (;;) {
      if (this.#failure) throw this.#failure;
      const now = performance.now();
      if (this.#output.length > 0) {
        if (now - this.#lastWrite >= SETTLE_MS) break;
      } else if (this.#secure) {
        // The handshake may complete before the client's last flight is
        // written (TLS 1.3 sends Finished after it): wait briefly for it.
        secureSince ??= now;
        if (now - secureSince >= SECURE_GRACE_MS) break;
      }
      if (now > deadline) throw new Error("the TLS handshake stalled");
      await this.#sleep(this.#output.length > 0 || this.#secure ? SETTLE_MS : 50);
    }
    return this.takeOutput();
  }

  /** Records the client wrote and nobody took yet. */
  takeOutput(): Uint8Array {
    const out = concat(this.#output);
    this.#output = [];
    return out;
  }

  /** Waits for `length` bytes of application data from the server. */
  async read(length: number): Promise<Uint8Array> {
    const deadline = performance.now() + STEP_TIMEOUT_MS;
    while (this.#data.reduce((n, d) => n + d.length, 0) < length) {
      if (this.#failure) throw this.#failure;
      if (performance.now() > deadline) throw new Error("no data arrived through TLS");
      await this.#sleep(50);
    }
    const all = concat(this.#data);
    this.#data = [all.slice(length)];
    return all.slice(0, length);
  }

  /** The server's certificate; only after the handshake. */
  peer(): TunnelPeer | undefined {
    const cert = this.#socket.getPeerCertificate(true);
    if (!cert?.raw) return undefined;
    const error = this.#socket.authorizationError;
    return {
      raw: new Uint8Array(cert.raw),
      subjectAltName: cert.subjectaltname ?? "",
      validTo: cert.valid_to || undefined,
      authorized: this.#socket.authorized,
      authorizationError: error === undefined || error === null ? undefined : String(error),
      chain: issuersOf(cert),
    };
  }

  /** Drops the TLS state; nothing more is sent. */
  close(): void {
    this.#socket.destroy();
    this.#duplex.destroy();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
