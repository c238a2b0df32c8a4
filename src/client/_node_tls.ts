/**
 * node:tls and node:stream, loaded when a connection first needs them rather
 * than when the program starts. Deno compiles its Node compatibility
 * modules on first use: node:tls with what it pulls in costs about 35 ms of
 * CPU on the main thread. A requester talking HTCondor's protocol needs
 * them only for its SSL authentication, several round trips after its
 * first packet, and starts loading them while it waits for the daemon
 * ({@link prefetchNodeTls}); nothing that only parses options or prints
 * help loads them at all.
 *
 * @module
 */
import type nodeTls from "node:tls";
import type { Duplex } from "node:stream";

/** What TLS connections are made with. */
export interface NodeTls {
  tls: typeof nodeTls;
  Duplex: typeof Duplex;
}

let loading: Promise<NodeTls> | undefined;

/** node:tls and node:stream, loaded once (on the first call). */
export function nodeTlsModules(): Promise<NodeTls> {
  return loading ??= Promise.all([import("node:tls"), import("node:stream")]).then((
    [tls, stream],
  ) => ({ tls: tls.default, Duplex: stream.Duplex }));
}

/** Starts loading them now, so that the connection that needs them later does not wait. */
export function prefetchNodeTls(): void {
  nodeTlsModules().catch(() => {});
}
