/**
 * A TCP port in front of a test daemon that lets a set number of connections
 * through and then stops listening, so later connections are refused as if
 * the daemon had gone away. Tools read the daemon's certificate over a
 * connection of its own before any request, so a gate that lets one
 * connection through puts a tool past its trust check and makes its very
 * first request fail with "connection refused".
 */

/** A gate listening on 127.0.0.1; `close()` it when done. */
export class DaemonGate {
  /** The gate's port: connect here instead of to the daemon. */
  readonly port: number;
  readonly #target: number;
  #listener: Deno.TcpListener | undefined;
  #passes = 0;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();

  /** Forwards to the daemon at `targetUrl`; lets `passes` connections through, then refuses. */
  constructor(targetUrl: string, passes = 1) {
    this.#target = Number(new URL(targetUrl).port);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listener = listener;
    this.port = listener.addr.port;
    this.#passes = passes;
    this.#serve(this.#listener);
  }

  /** `https://127.0.0.1:PORT`, the daemon's address through the gate. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** `127.0.0.1:PORT`, for `-pool` or COLLECTOR_HOST. */
  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Whether the gate still accepts connections. */
  get open(): boolean {
    return this.#listener !== undefined;
  }

  /** Listens again on the same port and lets every connection through: the daemon is back. */
  reopen(): void {
    if (this.#listener) return;
    this.#passes = Infinity;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#serve(this.#listener);
  }

  /** Stops listening and cuts every forwarded connection. */
  async close(): Promise<void> {
    this.#stopListening();
    for (const conn of this.#conns) closeQuietly(conn);
    await Promise.all(this.#tasks);
  }

  #stopListening(): void {
    const listener = this.#listener;
    this.#listener = undefined;
    if (listener) closeQuietly(listener);
  }

  #serve(listener: Deno.TcpListener): void {
    this.#track((async () => {
      while (true) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (err) {
          if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
            return; // closed
          }
          throw err;
        }
        // Stop listening before forwarding, so the very next connection is refused.
        if (--this.#passes <= 0) this.#stopListening();
        this.#track(this.#forward(conn));
        if (this.#listener !== listener) return;
      }
    })());
  }

  async #forward(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
      this.#conns.add(upstream);
      // Either side ending (or failing) ends both.
      const pumps = [pump(client, upstream), pump(upstream, client)].map((p) => p.catch(() => {}));
      await Promise.race(pumps);
      closeQuietly(client);
      closeQuietly(upstream);
      await Promise.all(pumps);
    } catch (err) {
      // The daemon is gone: the forwarded connection just ends.
      if (!(err instanceof Deno.errors.ConnectionRefused)) throw err;
    } finally {
      for (const conn of [client, upstream]) {
        if (conn === undefined) continue;
        closeQuietly(conn);
        this.#conns.delete(conn);
      }
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    // A failure surfaces where close() awaits the task.
    const done = () => void this.#tasks.delete(task);
    task.then(done, done);
  }
}

/** Copies `from` to `to` until `from` ends or either fails. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) return;
    let written = 0;
    while (written < n) written += await to.write(buffer.subarray(written, n));
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err; // already closed
  }
}
