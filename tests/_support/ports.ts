/** TCP ports for tests that need an address where nothing answers. */

/**
 * A port on 127.0.0.1 where nothing listens: bound to port 0, then closed, so
 * connecting is refused (until something else happens to take it). Needs --allow-net.
 */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
