/**
 * One wording for every way a connection to a daemon fails before the
 * daemon has said anything: refused, unreachable, reset, or answered in
 * another protocol. Both transports (HTTPS to condor_tokend, HTCondor's
 * protocol) report them the same way and with the same codes.
 *
 * @module
 */
import { DaemonError, type DaemonTransportCode } from "../errors.ts";
import { DAEMON_ERRORS } from "./daemon_client.ts";

/** A Node-style socket error (node:net, node:tls). */
type NodeError = Error & { code?: string };

/**
 * The DaemonError for a failed connection to `address` ("Cannot connect to
 * ADDRESS: reason"), from a node:net/node:tls error or a Deno.errors one.
 * DAEMON_UNREACHABLE (worth a retry), DAEMON_NOT_TLS (it answered, but not
 * in TLS) or DAEMON_TLS (the TLS handshake itself failed). Undefined for an
 * error that is no network failure (a bug, to be rethrown).
 */
export function connectFailure(address: string, err: unknown): DaemonError | undefined {
  const found = classify(err);
  if (found === undefined) return undefined;
  const [code, reason] = found;
  return new DaemonError(code, `Cannot connect to ${address}: ${reason}`, undefined, {
    cause: err,
    reason,
  });
}

/** Reason texts, shared with messages that add their own context. */
export const REASONS = {
  refused: "connection refused (is the daemon running on that port?)",
  notFound: "host name not found",
  noRoute: "no route to the host",
  timedOut: "connection timed out",
  reset: "connection reset by the daemon",
  hungUpOnTls:
    "it closed the connection instead of answering TLS (an HTCondor daemon? address it as cedar://HOST:PORT or HOST:PORT)",
  notTls:
    "it answered in a protocol other than TLS (a plain HTTP server, or not a daemon at all?); condor_tokend speaks HTTPS and HTCondor daemons their own protocol",
} as const;

/**
 * Whether `err` (or an error it was caused by) is the peer hanging up: a
 * reset connection or a broken pipe, rather than an answer in another
 * protocol. At the first contact with a daemon that is starting, or behind
 * a proxy whose back end is down, a hang-up is worth another try.
 */
export function isHangUp(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe) {
      return true;
    }
    const code = (e as NodeError).code;
    if (code === "ECONNRESET" || code === "EPIPE") return true;
    e = e.cause;
  }
  return false;
}

function classify(err: unknown): [DaemonTransportCode, string] | undefined {
  if (err instanceof Deno.errors.ConnectionRefused) {
    return [DAEMON_ERRORS.UNREACHABLE, REASONS.refused];
  }
  if (err instanceof Deno.errors.NotFound) return [DAEMON_ERRORS.UNREACHABLE, REASONS.notFound];
  if (err instanceof Deno.errors.TimedOut) return [DAEMON_ERRORS.UNREACHABLE, REASONS.timedOut];
  if (err instanceof Deno.errors.ConnectionReset) return [DAEMON_ERRORS.UNREACHABLE, REASONS.reset];
  if (err instanceof Deno.errors.NetworkUnreachable) {
    return [DAEMON_ERRORS.UNREACHABLE, REASONS.noRoute];
  }
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeError).code ?? "";
  switch (code) {
    case "ECONNREFUSED":
      return [DAEMON_ERRORS.UNREACHABLE, REASONS.refused];
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return [DAEMON_ERRORS.UNREACHABLE, REASONS.notFound];
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return [DAEMON_ERRORS.UNREACHABLE, REASONS.noRoute];
    case "ETIMEDOUT":
      return [DAEMON_ERRORS.UNREACHABLE, REASONS.timedOut];
    case "ECONNRESET":
    case "EPIPE":
      return [DAEMON_ERRORS.NOT_TLS, REASONS.hungUpOnTls];
  }
  if (
    /WRONG_VERSION_NUMBER|InvalidContentType|packet length too long|http request/i.test(
      `${code} ${err.message}`,
    )
  ) {
    return [DAEMON_ERRORS.NOT_TLS, REASONS.notTls];
  }
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || /ssl|tls/i.test(err.message)) {
    return [DAEMON_ERRORS.TLS, `TLS handshake failed: ${err.message}`];
  }
  return undefined;
}
