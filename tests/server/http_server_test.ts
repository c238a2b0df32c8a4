/**
 * The daemon's HTTP server in this process, over real loopback sockets:
 * keep-alive, pipelining, 100-continue, refusals that close the
 * connection, request.signal on disconnect, every deadline, the connection
 * caps, a graceful shutdown, and swapping the TLS identity.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { CondorError } from "../../src/errors.ts";
import { selfSignedIdentity, type TlsIdentity } from "../../src/server/certificate.ts";
import type { Handler } from "../../src/server/handler.ts";
import {
  type HttpServer,
  type ServerCounters,
  type ServerLimits,
  startHttpServer,
} from "../../src/server/http_server.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";

const LIMITS: ServerLimits = {
  maxConnections: 100,
  maxConnectionsPerPeer: 50,
  handshakeMs: 5_000,
  headerMs: 5_000,
  bodyMs: 5_000,
  idleMs: 5_000,
  writeMs: 5_000,
  maxHeadBytes: 4096,
  maxBodyBytes: 1024,
};

/** Answers with what it saw: method, path, body, peer, and some headers. */
const echo: Handler = async (req, info) => {
  const body = await req.text();
  return Response.json({
    method: req.method,
    url: req.url,
    body,
    peer: (info.remoteAddr as Deno.NetAddr).hostname,
    forwarded: req.headers.get("x-deno-client-address"),
  });
};

/** Counters that remember what happened. */
function recorder() {
  const events: string[] = [];
  const counters: ServerCounters = {
    connectionOpened: () => {},
    connectionClosed: () => {},
    connectionRefused: (reason) => events.push(`refused ${reason}`),
    connectionTimedOut: (phase) => events.push(`timeout ${phase}`),
    acceptFailed: () => events.push("accept failed"),
    tlsFailed: () => events.push("tls failed"),
    rejected: (code) => events.push(`rejected ${code}`),
  };
  return { events, counters };
}

/** A self-signed identity for 127.0.0.1 and localhost, kept in `dir`. */
function localIdentity(dir: string) {
  return selfSignedIdentity({
    stateDirectory: dir,
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    now: Date.now(),
  });
}

/** A TLS server on 127.0.0.1 presenting `tls`, logging nowhere. */
function startTlsServer(
  tls: TlsIdentity,
  options: { handler: Handler; limits: ServerLimits; counters?: ServerCounters },
): HttpServer {
  return startHttpServer({
    listener: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    tls,
    ...options,
    log: () => {},
  });
}

/** Runs `fn` with a plain-HTTP server on 127.0.0.1, shut down afterwards. */
async function withServer(
  options: { handler?: Handler; limits?: Partial<ServerLimits>; counters?: ServerCounters },
  fn: (server: HttpServer, logs: string[]) => Promise<void>,
): Promise<void> {
  const logs: string[] = [];
  const server = startHttpServer({
    listener: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    tls: undefined,
    handler: options.handler ?? echo,
    limits: { ...LIMITS, ...options.limits },
    counters: options.counters,
    log: (line) => logs.push(line),
  });
  try {
    await fn(server, logs);
  } finally {
    await server.shutdown();
  }
}

/** A raw TCP client: write bytes, read what comes back, see when the server closes. */
class RawClient {
  readonly conn: Deno.Conn;
  #text = "";
  #closed = false;
  readonly #done: Promise<void>;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.#done = (async () => {
      const buffer = new Uint8Array(65536);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          this.#text += String.fromCharCode(...buffer.subarray(0, n));
        }
      } catch {
        // Reset by the server, or closed by the test.
      }
      this.#closed = true;
    })();
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  get text(): string {
    return this.#text;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async send(text: string): Promise<void> {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    for (let n = 0; n < bytes.length;) n += await this.conn.write(bytes.subarray(n));
  }

  /** Waits until `pattern` has arrived. */
  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<void> {
    await until(`${pattern}`, () => pattern.test(this.#text), {
      timeoutMs,
      describe: () => JSON.stringify(this.#text.slice(-300)),
    });
  }

  /** Waits until the server has closed the connection. */
  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await until("the server to close the connection", () => this.#closed, { timeoutMs });
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        this.conn.close();
      } catch (err) {
        if (!(err instanceof Deno.errors.BadResource)) throw err;
      }
    }
    await this.#done;
  }
}

/** Responses in `text`: status and body of each, in order. */
function responses(text: string): { status: number; headers: string; body: string }[] {
  const out = [];
  let rest = text;
  while (rest.startsWith("HTTP/1.1 ")) {
    const end = rest.indexOf("\r\n\r\n");
    const headers = rest.slice(0, end);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(headers)?.[1] ?? 0);
    out.push({
      status: Number(headers.slice(9, 12)),
      headers,
      body: rest.slice(end + 4, end + 4 + length),
    });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

Deno.test("startHttpServer() keeps a connection alive across requests and closes it on Connection: close", async () => {
  await withServer({}, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    try {
      await client.send(GET("/one"));
      await client.waitFor(/http:\/\/t\/one/);
      await client.send(
        'POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}',
      );
      await client.waitClosed();
      const [one, two] = responses(client.text);
      assert.equal(one.status, 200);
      assert.doesNotMatch(one.headers, /connection: close/i);
      assert.match(one.headers, /\r\ncontent-length: \d+/);
      assert.equal(JSON.parse(one.body).url, "http://t/one");
      assert.deepEqual(JSON.parse(two.body).body, '{"a":1}');
      assert.match(two.headers, /\r\nconnection: close/);
    } finally {
      await client.close();
    }
  });
});

Deno.test("startHttpServer() answers pipelined requests in order", async () => {
  await withServer({}, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    try {
      const body = '{"n":2}';
      await client.send(
        GET("/1") + `POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
          GET("/3") + GET("/4", "Connection: close\r\n") + GET("/never"),
      );
      await client.waitClosed();
      const answers = responses(client.text).map((r) => JSON.parse(r.body));
      assert.deepEqual(answers.map((a) => new URL(a.url).pathname), ["/1", "/2", "/3", "/4"]);
      assert.equal(answers[1].body, body);
    } finally {
      await client.close();
    }
  });
});

Deno.test("startHttpServer() keeps pipelined requests intact when more arrive while a handler runs", async () => {
  const handler: Handler = async (req, info) => {
    if (new URL(req.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 200));
    return await echo(req, info);
  };
  await withServer({ handler }, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    try {
      const post = (path: string, body: string, extra = "") =>
        `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;
      // Two at once, both slow: a read is pending while the first is
      // answered, and still pending when the second is taken from the buffer.
      await client.send(GET("/slow") + post("/slow", '{"n":2}'));
      await client.waitFor(/http:\/\/t\/slow.*http:\/\/t\/slow/s);
      // Two more arrive into that read.
      await client.send(post("/3", '{"n":3}') + GET("/4", "Connection: close\r\n"));
      await client.waitClosed();
      const answers = responses(client.text).map((r) => JSON.parse(r.body));
      assert.deepEqual(answers.map((a) => new URL(a.url).pathname), ["/slow", "/slow", "/3", "/4"]);
      assert.deepEqual(answers.map((a) => a.body), ["", '{"n":2}', '{"n":3}', ""]);
    } finally {
      await client.close();
    }
  });
});

Deno.test("startHttpServer() sends 100 Continue before reading a body the client holds back", async () => {
  await withServer({}, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    try {
      await client.send(
        "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
      );
      await client.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
      await client.send("body");
      await client.waitFor(/"body":"body"/);
      assert.match(client.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    } finally {
      await client.close();
    }
  });
});

Deno.test("startHttpServer() refuses smuggling shapes with a JSON error, never calls the handler, and closes", async () => {
  let calls = 0;
  const handler: Handler = (req, info) => {
    calls++;
    return echo(req, info);
  };
  const { events, counters } = recorder();
  await withServer({ handler, counters }, async (server, logs) => {
    const cases: [string, number, string][] = [
      [
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "BAD_HTTP",
      ],
      [
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
        411,
        "LENGTH_REQUIRED",
      ],
      [
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody",
        400,
        "BAD_HTTP",
      ],
      ["GET / HTTP/1.1\r\nHost: t\r\nX-A: a\u0000b\r\n\r\n", 400, "BAD_HTTP"],
      [`GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${"b".repeat(5000)}\r\n\r\n`, 431, "HEADERS_TOO_LARGE"],
      ["POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n", 413, "BODY_TOO_LARGE"],
      ["GET http://evil.example/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, "BAD_HTTP"],
      ["GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n folded\r\n\r\n", 400, "BAD_HTTP"],
    ];
    for (const [request, status, code] of cases) {
      const client = await RawClient.connect(server.addr.port);
      try {
        // A request that should follow on the same connection is never answered.
        await client.send(request + GET("/after"));
        await client.waitClosed();
        const answers = responses(client.text);
        assert.equal(answers.length, 1, JSON.stringify(client.text));
        assert.equal(answers[0].status, status);
        assert.match(answers[0].headers, /\r\nconnection: close/);
        assert.deepEqual(JSON.parse(answers[0].body).error.code, code);
      } finally {
        await client.close();
      }
    }
    assert.equal(calls, 0);
    assert.equal(events.filter((e) => e.startsWith("rejected ")).length, cases.length);
    // Logged at most once per kind per interval, however many came.
    assert.deepEqual(logs.filter((l) => l.includes("BAD_HTTP")).length, 1);
  });
});

Deno.test("startHttpServer() aborts request.signal when the client goes away during the handler", async () => {
  let aborted: () => void = () => {};
  const sawAbort = new Promise<void>((resolve) => aborted = resolve);
  const handler: Handler = (req) =>
    new Promise((resolve) => {
      req.signal.addEventListener("abort", () => {
        aborted();
        resolve(new Response("late"));
      });
    });
  await withServer({ handler }, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    await client.send(GET("/wait"));
    await until("the handler to run", () => server.connections === 1);
    await new Promise((r) => setTimeout(r, 50));
    await client.close();
    await sawAbort;
  });
});

Deno.test("startHttpServer() does not abort request.signal for a client that sends its next request early", async () => {
  const handler: Handler = async (req) => {
    await new Promise((r) => setTimeout(r, 100));
    return new Response(req.signal.aborted ? "aborted" : "live");
  };
  await withServer({ handler }, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    try {
      await client.send(GET("/1"));
      await new Promise((r) => setTimeout(r, 20));
      await client.send(GET("/2", "Connection: close\r\n"));
      await client.waitClosed();
      assert.deepEqual(responses(client.text).map((r) => r.body), ["live", "live"]);
    } finally {
      await client.close();
    }
  });
});

Deno.test("startHttpServer() closes connections whose head, body or next request is late", async () => {
  const { events, counters } = recorder();
  const limits = { headerMs: 300, bodyMs: 300, idleMs: 300 };
  await withServer({ limits, counters }, async (server) => {
    const halfHead = await RawClient.connect(server.addr.port);
    const halfBody = await RawClient.connect(server.addr.port);
    const idle = await RawClient.connect(server.addr.port);
    const silent = await RawClient.connect(server.addr.port);
    const started = performance.now();
    try {
      await halfHead.send("GET / HTTP/1.1\r\nHost: t\r\n");
      await halfBody.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf");
      await idle.send(GET("/first"));
      await idle.waitFor(/http:\/\/t\/first/);
      await Promise.all([halfHead, halfBody, idle, silent].map((c) => c.waitClosed(3_000)));
      assert.ok(performance.now() - started < 2_500, "closed by the deadlines, not later");
      assert.equal(responses(halfHead.text).length, 0);
      assert.equal(responses(halfBody.text).length, 0);
      assert.equal(responses(idle.text).length, 1);
      assert.equal(silent.text, "");
      for (const phase of ["header", "body", "idle"]) {
        assert.ok(events.includes(`timeout ${phase}`), `${phase} in ${events}`);
      }
    } finally {
      await Promise.all([halfHead, halfBody, idle, silent].map((c) => c.close()));
    }
  });
});

Deno.test("startHttpServer() closes a connection whose client does not read its answer", async () => {
  const { events, counters } = recorder();
  const big = new Uint8Array(64 * 1024 * 1024);
  await withServer(
    { handler: () => Promise.resolve(new Response(big)), limits: { writeMs: 300 }, counters },
    async (server) => {
      // A client that asks for 64 MiB and never reads: it cannot all fit in the socket buffers.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      try {
        await conn.write(new TextEncoder().encode(GET("/big")));
        await until("the write deadline", () => events.includes("timeout write"), {
          timeoutMs: 5_000,
        });
        await until("the connection to be gone", () => server.connections === 0);
      } finally {
        conn.close();
      }
    },
  );
});

/** Opens a TCP connection from `localAddress` with node:net (Deno.connect cannot pick its source). */
function connectFrom(localAddress: string, port: number) {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  let closed = false;
  let received = "";
  const ended = new Promise<void>((resolve) => {
    socket.on("data", (chunk) => received += chunk.toString("latin1"));
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      resolve();
    });
  });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return {
    socket,
    connected,
    ended,
    get closed() {
      return closed;
    },
    get received() {
      return received;
    },
    async close() {
      socket.destroy();
      await ended;
    },
  };
}

Deno.test("startHttpServer() closes a peer's connection over its cap at once, while another peer is served", async () => {
  const { events, counters } = recorder();
  await withServer(
    { limits: { maxConnectionsPerPeer: 3 }, counters },
    async (server, logs) => {
      const port = server.addr.port;
      const held = Array.from({ length: 3 }, () => connectFrom("127.0.0.2", port));
      const extra = Array.from({ length: 5 }, () => connectFrom("127.0.0.2", port));
      const other = connectFrom("127.0.0.1", port);
      try {
        await Promise.all([...held, ...extra, other].map((c) => c.connected));
        await Promise.all(extra.map((c) => c.ended));
        await until("three held", () => server.connections === 4);
        assert.ok(held.every((c) => !c.closed), "the first three stay open");
        other.socket.write(GET("/other", "Connection: close\r\n"));
        await other.ended;
        assert.equal(JSON.parse(responses(other.received)[0].body).peer, "127.0.0.1");
        assert.equal(events.filter((e) => e === "refused max_connections_per_peer").length, 5);
        const lines = logs.filter((l) => l.includes("TOKEND_MAX_CONNECTIONS_PER_PEER"));
        assert.deepEqual(lines, [
          "refused a connection from 127.0.0.2: TOKEND_MAX_CONNECTIONS_PER_PEER (3) reached",
        ]);
        // A held connection closes: the peer may open another.
        await held[0].close();
        await until("one fewer", () => server.connections === 2);
        const again = connectFrom("127.0.0.2", port);
        await again.connected;
        again.socket.write(GET("/again", "Connection: close\r\n"));
        await again.ended;
        assert.equal(responses(again.received)[0].status, 200);
      } finally {
        await Promise.all([...held, ...extra, other].map((c) => c.close()));
      }
    },
  );
});

Deno.test("startHttpServer() closes connections over TOKEND_MAX_CONNECTIONS at once", async () => {
  const { events, counters } = recorder();
  await withServer({ limits: { maxConnections: 2 }, counters }, async (server) => {
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => RawClient.connect(server.addr.port)),
    );
    try {
      await until("two refused", () => clients.filter((c) => c.closed).length === 2);
      assert.equal(server.connections, 2);
      assert.deepEqual(events, ["refused max_connections", "refused max_connections"]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

Deno.test("startHttpServer() takes the peer address from the socket, never from a header", async () => {
  await withServer({}, async (server) => {
    const client = await RawClient.connect(server.addr.port);
    try {
      await client.send(
        GET(
          "/",
          "X-Deno-Client-Address: 192.0.2.1:9\r\nForwarded: for=192.0.2.1\r\nConnection: close\r\n",
        ),
      );
      await client.waitClosed();
      const answer = JSON.parse(responses(client.text)[0].body);
      assert.equal(answer.peer, "127.0.0.1");
      assert.equal(answer.forwarded, "192.0.2.1:9");
    } finally {
      await client.close();
    }
  });
});

Deno.test("startHttpServer() shutdown closes idle connections at once and lets answers in progress finish", async () => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  let slowStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => slowStarted = resolve);
  const handler: Handler = async (req, info) => {
    if (new URL(req.url).pathname === "/slow") {
      slowStarted();
      await released;
    }
    return await echo(req, info);
  };
  const server = startHttpServer({
    listener: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    tls: undefined,
    handler,
    limits: LIMITS,
    log: () => {},
  });
  const idle = await RawClient.connect(server.addr.port);
  const busy = await RawClient.connect(server.addr.port);
  try {
    await idle.send(GET("/first"));
    await idle.waitFor(/http:\/\/t\/first/);
    await busy.send(GET("/slow"));
    await started;
    let stopped = false;
    const stopping = server.shutdown().then(() => stopped = true);
    await idle.waitClosed();
    assert.equal(stopped, false, "waits for the answer in progress");
    release();
    await stopping;
    await busy.waitClosed();
    const [answer] = responses(busy.text);
    assert.equal(answer.status, 200);
    assert.match(answer.headers, /\r\nconnection: close/);
    await server.finished;
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
  } finally {
    await Promise.all([idle.close(), busy.close()]);
    await server.shutdown();
  }
});

Deno.test("startHttpServer() over TLS closes a connection that never sends its ClientHello", async () => {
  await withTempDir(async (dir) => {
    const identity = await localIdentity(dir);
    const { events, counters } = recorder();
    const server = startTlsServer(identity, {
      handler: echo,
      limits: { ...LIMITS, handshakeMs: 300 },
      counters,
    });
    const silent = await RawClient.connect(server.addr.port);
    const halfHello = await RawClient.connect(server.addr.port);
    try {
      // A TLS record header announcing a ClientHello that never comes in full.
      await halfHello.send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
      await Promise.all([silent.waitClosed(3_000), halfHello.waitClosed(3_000)]);
      assert.deepEqual(events, ["timeout handshake", "timeout handshake"]);
      assert.equal(server.connections, 0);
    } finally {
      await Promise.all([silent.close(), halfHello.close()]);
      await server.shutdown();
    }
  });
});

Deno.test("startHttpServer() over TLS frees a connection whose client leaves before its ClientHello at once", async () => {
  await withTempDir(async (dir) => {
    const identity = await localIdentity(dir);
    const server = startTlsServer(identity, {
      handler: echo,
      limits: { ...LIMITS, handshakeMs: 10_000 },
    });
    try {
      const client = await RawClient.connect(server.addr.port);
      await until("accepted", () => server.connections === 1);
      await client.close();
      // Found by the process test: only the handshake deadline freed it.
      await until("freed", () => server.connections === 0, { timeoutMs: 1_000 });
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("startHttpServer() over TLS stops reading a client that sends ahead of its answer", async () => {
  await withTempDir(async (dir) => {
    const identity = await localIdentity(dir);
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => release = resolve);
    const server = startTlsServer(identity, {
      handler: async () => {
        await released;
        return new Response("late");
      },
      limits: LIMITS,
    });
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: server.addr.port,
      caCerts: [identity.certPem],
    });
    let sent = 0;
    try {
      await conn.write(new TextEncoder().encode(GET("/wait")));
      const chunk = new Uint8Array(64 * 1024);
      const flooding = (async () => {
        try {
          while (sent < 256 * 1024 * 1024) sent += await conn.write(chunk);
        } catch {
          // Closed by the test below.
        }
      })();
      await new Promise((r) => setTimeout(r, 1_000));
      // Without a bound the daemon would take it all (Deno's node:tls reads
      // on while paused); with one, only the socket buffers fill.
      assert.ok(sent < 32 * 1024 * 1024, `${sent} bytes taken`);
      conn.close();
      await flooding;
    } finally {
      release();
      await server.shutdown();
    }
  });
});

Deno.test("startHttpServer() over TLS closes a connection whose client does not read its answer", async () => {
  await withTempDir(async (dir) => {
    const identity = await localIdentity(dir);
    const { events, counters } = recorder();
    const big = new Uint8Array(64 * 1024 * 1024);
    const server = startTlsServer(identity, {
      handler: () => Promise.resolve(new Response(big)),
      limits: { ...LIMITS, writeMs: 300 },
      counters,
    });
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: server.addr.port,
      caCerts: [identity.certPem],
    });
    try {
      await conn.write(new TextEncoder().encode(GET("/big")));
      await until("the write deadline", () => events.includes("timeout write"));
      await until("the connection to be gone", () => server.connections === 0);
    } finally {
      conn.close();
      await server.shutdown();
    }
  });
});

Deno.test("startHttpServer() setTlsIdentity() serves new connections with the new certificate", async () => {
  await withTempDir(async (dir) => {
    const make = (name: string) => localIdentity(`${dir}/${name}`);
    const [first, second] = [await make("a"), await make("b")];
    const server = startTlsServer(first, {
      handler: echo,
      limits: LIMITS,
    });
    const url = `https://127.0.0.1:${server.addr.port}/`;
    const trusting = (pem: string) => Deno.createHttpClient({ caCerts: [pem] });
    const [a, b, a2] = [trusting(first.certPem), trusting(second.certPem), trusting(first.certPem)];
    try {
      const before = await fetch(url, { client: a });
      assert.equal((await before.json()).peer, "127.0.0.1");
      assert.throws(
        () => server.setTlsIdentity({ certPem: second.certPem, keyPem: first.keyPem }),
        (err) => err instanceof CondorError && err.code === "TLS_IDENTITY",
      );
      server.setTlsIdentity(second);
      assert.equal((await fetch(url, { client: b })).status, 200);
      await assert.rejects(fetch(url, { client: a2 }));
      // The connection made before the swap keeps its certificate.
      assert.equal((await fetch(url, { client: a })).status, 200);
    } finally {
      a.close();
      b.close();
      a2.close();
      await server.shutdown();
    }
  });
});

Deno.test("startHttpServer() over TLS tells plain HTTP to use HTTPS, and another protocol with a TLS alert", async () => {
  await withTempDir(async (dir) => {
    const identity = await localIdentity(dir);
    const server = startTlsServer(identity, {
      handler: echo,
      limits: LIMITS,
    });
    try {
      const answer = async (bytes: Uint8Array) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
        await conn.write(bytes);
        const chunks: number[] = [];
        const buffer = new Uint8Array(4096);
        for (let n; (n = await conn.read(buffer)) !== null;) chunks.push(...buffer.subarray(0, n));
        conn.close();
        return new Uint8Array(chunks);
      };
      const http = new TextDecoder().decode(
        await answer(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n")),
      );
      assert.match(http, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"WRONG_SCHEME"/);
      // HTCondor's DC_AUTHENTICATE header: the answer is a fatal TLS alert record.
      const cedar = await answer(new Uint8Array([1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0xea, 0x6a]));
      assert.deepEqual([...cedar.subarray(0, 2)], [0x15, 0x03]);
    } finally {
      await server.shutdown();
    }
  });
});
