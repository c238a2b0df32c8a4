/**
 * HTCondor's SSL authentication method, as a client with no certificate:
 * a TLS handshake whose records travel inside CEDAR messages. The daemon
 * proves itself with its host certificate; we stay anonymous
 * (`unauthenticated@unmapped`), which is all a token request needs.
 *
 * Messages: a status message is `[int status]`; a data message is
 * `[int status][int length][bytes]`. The daemon sends its status first and
 * we answer; then handshake messages alternate, ours first, until both last
 * said HOLDING; then the daemon sends 256 random bytes through TLS and we
 * answer with an empty HOLDING message.
 *
 * @module
 */
import { DaemonError, TrustError } from "../../errors.ts";
import { DAEMON_ERRORS } from "../daemon_client.ts";
import { type AuthMethod, AuthMethodFailed } from "./handshake.ts";
import type { PacketStream } from "./packet_stream.ts";
import { TlsTunnel, type TunnelPeer } from "./tls_tunnel.ts";
import { isIpAddress } from "../_host_names.ts";
import { prefetchNodeTls } from "../_node_tls.ts";

/** SSL method statuses. */
const OK = 0;
const RECEIVING = 2;
const QUITTING = 3;
const HOLDING = 4;
/** Random bytes the daemon sends through TLS once the handshake is done. */
const KEY_PHASE_BYTES = 256;
/** Most handshake messages we exchange before giving up. */
const MAX_ROUNDS = 16;

/** How the SSL method checks the daemon. */
export interface SslOptions {
  /** The host name to check the certificate against and to send as SNI. */
  hostName: string | undefined;
  /** PEM text of the CAs to verify against (AUTH_SSL_CLIENT_CAFILE). */
  caPem?: string;
  /** Decides trust in the certificate; throws (e.g. TrustError) when not trusted. */
  verify: (peer: TunnelPeer) => Promise<void>;
}

/** The SSL method (bit 256). */
export function sslMethod(options: SslOptions): AuthMethod {
  return {
    name: "SSL",
    async run(stream) {
      // The daemon now sets up its TLS side (tens of milliseconds for a
      // collector): load ours meanwhile.
      prefetchNodeTls();
      const daemonStatus = (await stream.receive()).int();
      if (daemonStatus !== OK) {
        await stream.send(stream.message().int(QUITTING));
        throw new AuthMethodFailed("the daemon could not set up TLS (no host certificate?)");
      }
      await stream.send(stream.message().int(OK));
      const servername = options.hostName !== undefined && !isIpAddress(options.hostName)
        ? options.hostName
        : undefined;
      const tunnel = await TlsTunnel.open({ servername, ca: options.caPem });
      try {
        await handshake(stream, tunnel);
        const peer = tunnel.peer();
        if (!peer) {
          throw new DaemonError(
            DAEMON_ERRORS.TLS,
            `Cannot authenticate the daemon at ${stream.peer}: it presented no certificate`,
          );
        }
        // Trust failures end the connection: nothing more is sent to an untrusted daemon.
        await options.verify(peer);
        const keyPhase = await receiveData(stream);
        if (keyPhase.status !== HOLDING) {
          throw new AuthMethodFailed(`the daemon ended TLS with status ${keyPhase.status}`);
        }
        tunnel.push(keyPhase.bytes);
        await tunnel.read(KEY_PHASE_BYTES);
        await sendData(stream, HOLDING, new Uint8Array(0));
      } catch (err) {
        if (
          !(err instanceof Error) || err instanceof DaemonError || err instanceof TrustError ||
          err instanceof AuthMethodFailed
        ) throw err;
        throw new DaemonError(
          DAEMON_ERRORS.TLS,
          `Cannot authenticate the daemon at ${stream.peer}: the TLS handshake failed: ${err.message}`,
          undefined,
          { cause: err },
        );
      } finally {
        tunnel.close();
      }
    },
  };
}

async function handshake(stream: PacketStream, tunnel: TlsTunnel): Promise<void> {
  let ours = await tunnel.step();
  let ourStatus = RECEIVING;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    await sendData(stream, ourStatus, ours);
    const theirs = await receiveData(stream);
    if (theirs.status === QUITTING) {
      throw new AuthMethodFailed("the daemon gave up the TLS handshake");
    }
    tunnel.push(theirs.bytes);
    if (ourStatus === HOLDING && theirs.status === HOLDING) return;
    ours = await tunnel.step();
    ourStatus = tunnel.secure ? HOLDING : RECEIVING;
    if (theirs.status === HOLDING && ourStatus === HOLDING) {
      await sendData(stream, ourStatus, ours);
      return;
    }
  }
  throw new AuthMethodFailed("the TLS handshake did not finish");
}

async function sendData(stream: PacketStream, status: number, bytes: Uint8Array): Promise<void> {
  await stream.send(stream.message().int(status).int(bytes.length).raw(bytes));
}

async function receiveData(stream: PacketStream): Promise<{ status: number; bytes: Uint8Array }> {
  const reader = await stream.receive();
  const status = reader.int();
  const length = reader.int();
  if (length < 0 || length > reader.remaining) {
    throw new DaemonError(
      DAEMON_ERRORS.BAD_RESPONSE,
      `Cannot authenticate the daemon at ${stream.peer}: a TLS message has a bad length`,
    );
  }
  return { status, bytes: reader.raw(length) };
}
