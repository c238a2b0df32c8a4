/**
 * The daemon's HTTP/1.1 server: it owns the listening socket, accepts in a
 * loop that no error ends, caps connections in total and per peer before
 * any TLS work, enforces a deadline on every phase of a connection, and
 * hands each request to the handler unchanged (`Request -> Response`).
 *
 * Why not `Deno.serve`: on "too many open files" its listener ends for
 * good, and it has no handshake or header deadline and no connection cap,
 * so idle connections alone could stop the daemon. Why not
 * `Deno.listenTls`: see _tls_stream.ts (a connection stuck in its
 * handshake cannot be closed). The peer address is the accepted socket's,
 * and nothing in a request or the environment changes it.
 *
 * @module
 */
import type { SecureContext } from "node:tls";
import type { Handler } from "./handler.ts";
import { type ConnectionRules, HttpConnection } from "./_http_connection.ts";
import { ThrottledLog } from "./_throttled_log.ts";
import { type ByteStream, PlainStream, tlsContext, TlsStream } from "./_tls_stream.ts";

/** Caps and deadlines of the server (deadlines in milliseconds). */
export interface ServerLimits extends ConnectionRules {
  /** Connections open at once, all peers together. */
  maxConnections: number;
  /** Connections open at once from one peer (see `peerKey`). */
  maxConnectionsPerPeer: number;
}

/** What the server counts; the daemon's Metrics has these. */
export interface ServerCounters {
  connectionOpened(): void;
  connectionClosed(): void;
  connectionRefused(reason: "max_connections" | "max_connections_per_peer"): void;
  connectionTimedOut(phase: string): void;
  acceptFailed(): void;
  tlsFailed(): void;
  /** A request refused at the HTTP layer, by its error code. */
  rejected(code: string): void;
}

/** What startHttpServer needs. */
export interface HttpServerOptions {
  /** The bound listener to serve on (Deno.listen); the server owns and closes it. */
  listener: Deno.TcpListener;
  /** Certificate chain and key (PEM); plain HTTP when undefined. */
  tls: { certPem: string; keyPem: string } | undefined;
  handler: Handler;
  limits: ServerLimits;
  /** The key a peer's connections are counted under (default: its address, IPv4-mapped as IPv4). */
  peerKey?: (addr: Deno.NetAddr) => string;
  counters?: ServerCounters;
  /** One line per event; events any peer can cause are logged at most once per LOG_INTERVAL_MS. */
  log: (line: string) => void;
  /** Monotonic clock in milliseconds, for deadlines (default performance.now). */
  now?: () => number;
}

/** A running server. */
export interface HttpServer {
  /** The address listened on. */
  addr: Deno.NetAddr;
  /** Connections open now. */
  readonly connections: number;
  /** Resolves once the server has shut down and every connection is closed. */
  finished: Promise<void>;
  /**
   * Uses a new certificate chain and key for connections accepted from now
   * on (those open keep theirs). Throws, changing nothing, when the PEM is
   * unusable. No rebinding: the TLS context is chosen per connection.
   */
  setTlsIdentity(identity: { certPem: string; keyPem: string }): void;
  /**
   * Stops accepting, closes connections that are not answering a request,
   * lets those that are finish (and then closes them), and resolves once
   * every connection is closed.
   */
  shutdown(): Promise<void>;
}

/** How often at most a line about the same kind of peer-caused event is logged. */
export const LOG_INTERVAL_MS = 10_000;
/** Pause after a failed accept: the failure (EMFILE) usually lasts, and retrying at once spins. */
const ACCEPT_BACKOFF_MS = 75;

/**
 * Serves on `options.listener` until shutdown (binding is the caller's, so
 * a port can be taken before anything else is set up). Throws a TLS
 * context error for an unusable certificate. Needs --allow-net.
 */
export function startHttpServer(options: HttpServerOptions): HttpServer {
  let context: SecureContext | undefined = options.tls ? tlsContext(options.tls) : undefined;
  const listener = options.listener;
  const addr = listener.addr;
  const limits = options.limits;
  const counters = options.counters ?? NO_COUNTERS;
  const now = options.now ?? (() => performance.now());
  const peerKey = options.peerKey ?? ((a: Deno.NetAddr) => plainAddress(a.hostname));
  const throttled = new ThrottledLog(options.log, LOG_INTERVAL_MS, now);
  const scheme = context ? "https" : "http";
  const defaultHost = addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;

  const open = new Map<HttpConnection, Promise<void>>();
  const perPeer = new Map<string, number>();
  let stopping = false;
  let wakeBackoff: (() => void) | undefined;

  const sweeper = setInterval(() => {
    const at = now();
    for (const connection of open.keys()) {
      const phase = connection.expire(at);
      if (phase !== undefined) counters.connectionTimedOut(phase);
    }
  }, sweepInterval(limits));

  const admit = (conn: Deno.Conn) => {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const key = peerKey(remote);
    const held = perPeer.get(key) ?? 0;
    const over = open.size >= limits.maxConnections
      ? "max_connections" as const
      : held >= limits.maxConnectionsPerPeer
      ? "max_connections_per_peer" as const
      : undefined;
    if (over) {
      // Closed before any TLS work: the refusal costs a file descriptor for microseconds.
      closeQuietly(conn);
      counters.connectionRefused(over);
      const knob = over === "max_connections"
        ? `TOKEND_MAX_CONNECTIONS (${limits.maxConnections})`
        : `TOKEND_MAX_CONNECTIONS_PER_PEER (${limits.maxConnectionsPerPeer})`;
      throttled.note(over, `refused a connection from ${key}: ${knob} reached`);
      return;
    }
    // Answers go out in one write each: no reason to hold them back (Nagle).
    (conn as Deno.TcpConn).setNoDelay(true);
    const stream: ByteStream = context ? new TlsStream(conn, context) : new PlainStream(conn);
    perPeer.set(key, held + 1);
    counters.connectionOpened();
    const connection = new HttpConnection({
      stream,
      handler: options.handler,
      remoteAddr: remote,
      peer: plainAddress(remote.hostname),
      scheme,
      defaultHost,
      rules: limits,
      now,
      hooks: {
        refused: (code, peer) => {
          counters.rejected(code);
          throttled.note(`refused ${code}`, `refused a request from ${peer}: ${code}`);
        },
        fault: (err) =>
          options.log(
            `error in the request handler: ${err instanceof Error ? err.message : String(err)}`,
          ),
      },
    });
    const served = (async () => {
      if (stream instanceof TlsStream) {
        try {
          await stream.handshake();
        } catch {
          // A failed handshake or one cut by its deadline: the peer gets nothing more.
          if (connection.phase !== "closed") counters.tlsFailed();
          connection.close();
          return;
        }
      }
      if (connection.phase !== "closed") await connection.serve();
    })().catch((err) => {
      // serve() never rejects; anything here is a fault of ours, and must
      // not become an unhandled rejection that ends the process.
      options.log(`error serving a connection: ${err instanceof Error ? err.message : err}`);
      connection.close();
    }).finally(() => {
      open.delete(connection);
      const left = (perPeer.get(key) ?? 1) - 1;
      if (left === 0) perPeer.delete(key);
      else perPeer.set(key, left);
      counters.connectionClosed();
    });
    open.set(connection, served);
    if (stopping) connection.drain();
  };

  const acceptLoop = (async () => {
    while (!stopping) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (stopping) return;
        // EMFILE, ENFILE, ECONNABORTED or anything else: the listener is
        // still there, and connections close and free descriptors all the
        // time. Say so once in a while, wait a little, and go on.
        counters.acceptFailed();
        throttled.note(
          "accept",
          `cannot accept a connection: ${
            err instanceof Error ? err.message : String(err)
          }; retrying`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ACCEPT_BACKOFF_MS);
          wakeBackoff = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeBackoff = undefined;
        continue;
      }
      try {
        admit(conn);
      } catch (err) {
        // One connection that cannot be set up (reset before its socket
        // options were set, say) must not end the loop for all others.
        throttled.note(
          "setup",
          `cannot serve a connection: ${err instanceof Error ? err.message : String(err)}`,
        );
        closeQuietly(conn);
      }
    }
  })();

  let finished: Promise<void> | undefined;
  let resolveFinished: () => void = () => {};
  const whenFinished = new Promise<void>((resolve) => resolveFinished = resolve);
  const shutdown = () => {
    finished ??= (async () => {
      stopping = true;
      listener.close();
      wakeBackoff?.();
      await acceptLoop;
      for (const connection of open.keys()) connection.drain();
      await Promise.all(open.values());
      clearInterval(sweeper);
      resolveFinished();
    })();
    return finished;
  };

  return {
    addr,
    get connections() {
      return open.size;
    },
    finished: whenFinished,
    setTlsIdentity(identity) {
      if (!context) throw new TypeError("Cannot set a TLS identity: this server serves plain HTTP");
      context = tlsContext(identity);
    },
    shutdown,
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (err) {
    // Closed already (by a TLS stream that failed to start): nothing left to free.
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}

/** An address without brackets or zone, an IPv4-mapped IPv6 address as IPv4. */
export function plainAddress(hostname: string): string {
  const bare = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  return mapped ? mapped[1] : bare.toLowerCase();
}

/** The sweep's period: a quarter of the shortest deadline, from 50 ms to 1 s. */
function sweepInterval(limits: ConnectionRules): number {
  const shortest = Math.min(
    limits.handshakeMs,
    limits.headerMs,
    limits.bodyMs,
    limits.idleMs,
    limits.writeMs,
  );
  return Math.max(50, Math.min(1_000, shortest / 4));
}

const NO_COUNTERS: ServerCounters = {
  connectionOpened() {},
  connectionClosed() {},
  connectionRefused() {},
  connectionTimedOut() {},
  acceptFailed() {},
  tlsFailed() {},
  rejected() {},
};
