/**
 * TLS connections to condor_tokend whose certificate has been judged before
 * they are handed out: the dialer connects, completes the handshake without
 * letting the TLS library decide anything, shows the certificate to the
 * daemon's {@link TrustSession}, and only then returns the socket. No byte of
 * a request is written to a connection that has not passed.
 *
 * @module
 */
import type tls from "node:tls";
import { DaemonError, type DaemonTransportCode } from "../errors.ts";
import { bracketed, isIpAddress, unbracketed } from "./_host_names.ts";
import { connectFailure } from "./_network_failure.ts";
import { nodeTlsModules } from "./_node_tls.ts";
import { socketPeerCertificate } from "./_peer_certificate.ts";
import { DAEMON_ERRORS } from "./daemon_client.ts";
import type { TrustSession } from "./trust.ts";

/** Handshake timeout when the policy names none. */
const DEFAULT_HANDSHAKE_MS = 10_000;

/** Opens judged TLS connections to one daemon. */
export interface TlsDialer {
  /** `host:port` as shown in messages. */
  readonly address: string;
  /** The daemon's trust for this run. */
  readonly trust: TrustSession;
  /**
   * A connected TLS socket whose certificate passed the trust decision;
   * nothing has been written to it. Throws DaemonError (unreachable, not
   * TLS) or TrustError. Needs --allow-net.
   */
  dial(signal?: AbortSignal): Promise<tls.TLSSocket>;
  /**
   * Dials now, judging the daemon (asking the user, if need be), and closes
   * the connection unused: a tool learns at once whether it can talk to
   * the daemon, before it prepares a request.
   */
  probe(signal?: AbortSignal): Promise<void>;
}

/** A dialer for `host:port`, judging every connection with `trust`. */
export function tlsDialer(host: string, port: number, trust: TrustSession): TlsDialer {
  const address = `${bracketed(host)}:${port}`;
  const open = async (signal?: AbortSignal) => {
    const socket = await handshake(host, port, address, trust, signal);
    try {
      const cert = await socketPeerCertificate(socket);
      if (!cert) {
        throw cannotConnect(DAEMON_ERRORS.TLS, address, "the daemon presented no certificate");
      }
      await trust.judge(cert);
      return socket;
    } catch (err) {
      socket.destroy();
      throw err;
    }
  };
  return {
    address,
    trust,
    dial: open,
    async probe(signal) {
      (await open(signal)).destroy();
    },
  };
}

/** Connects and completes a TLS handshake, rejecting nothing: the caller judges. */
async function handshake(
  host: string,
  port: number,
  address: string,
  trust: TrustSession,
  signal: AbortSignal | undefined,
): Promise<tls.TLSSocket> {
  const { tls } = await nodeTlsModules();
  const timeoutMs = trust.policy.timeoutMs ?? DEFAULT_HANDSHAKE_MS;
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(cannotConnect(DAEMON_ERRORS.ABORTED, address, "interrupted"));
      return;
    }
    const caPem = trust.policy.caPem;
    const socket = tls.connect({
      host: unbracketed(host),
      port,
      // SNI carries host names only, never addresses.
      servername: isIpAddress(host) ? undefined : host,
      rejectUnauthorized: false,
      ca: caPem === undefined ? undefined : [caPem],
    });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      outcome();
    };
    const fail = (err: DaemonError) =>
      settle(() => {
        // Settle only once the socket is closed, so no resource outlives the call.
        socket.once("close", () => reject(err));
        socket.destroy();
      });
    const timer = setTimeout(
      () =>
        fail(
          cannotConnect(
            DAEMON_ERRORS.UNREACHABLE,
            address,
            `no TLS handshake within ${timeoutMs / 1000} s`,
          ),
        ),
      timeoutMs,
    );
    const onAbort = () => fail(cannotConnect(DAEMON_ERRORS.ABORTED, address, "interrupted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    const onError = (err: Error) => {
      fail(
        connectFailure(address, err) ??
          cannotConnect(DAEMON_ERRORS.TLS, address, err.message, err),
      );
    };
    socket.on("error", onError);
    socket.once("secureConnect", () =>
      settle(() => {
        // Until the caller listens, a failure must not go unhandled.
        socket.on("error", () => {});
        resolve(socket);
      }));
  });
}

/** "Cannot connect to ADDRESS: reason", with the reason apart (HTTPS says it of its call). */
function cannotConnect(
  code: DaemonTransportCode,
  address: string,
  reason: string,
  cause?: unknown,
): DaemonError {
  return new DaemonError(code, `Cannot connect to ${address}: ${reason}`, undefined, {
    reason,
    ...(cause === undefined ? {} : { cause }),
  });
}
