/**
 * What anyone who can connect can hold of condor_tokend, against the real
 * daemon in its own process (shipped permission flags) under an open-file
 * limit as systemd sets one:
 *
 * - 1,100 idle connections from one address while another address runs a
 *   whole request -> approve -> token flow with the real tools, under
 *   `ulimit -n 1024`: the daemon stays up and serves, before and after;
 * - connections that never start TLS, or send half a request head, are
 *   closed at their deadlines;
 * - the (cap+1)th connection from one address is closed at once while
 *   another address is served;
 * - accept failing with "too many open files" (`ulimit -n 64`) ends
 *   neither the daemon nor its accepting.
 *
 * Idle connections come from 127.0.0.2 (node:net can choose its source
 * address, Deno.connect cannot); the tools and API calls come from
 * 127.0.0.1, the kernel's choice for a loopback destination.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { type SpawnedTestDaemon, spawnTestDaemon } from "../_support/daemon.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { withRequester } from "../e2e/_token_request.ts";
import { apiFor } from "../_support/api.ts";
import { withSeed } from "./_support.ts";

const IDLE_SCRIPT = new URL("./_idle_connections.ts", import.meta.url).pathname;

/** Idle connections held by a process of their own (see _idle_connections.ts). */
interface IdleConnections {
  opened: number;
  failed: number;
  closedByServer: number;
  /** Closes them all and waits for the process to end. */
  close(): Promise<void>;
}

/** Opens `count` idle connections to `port` from `localAddress`, in a process allowed 4096 files. */
async function holdIdleConnections(
  port: number,
  count: number,
  localAddress: string,
): Promise<IdleConnections> {
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n 4096 && exec "$@"',
      "bash",
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-net",
      IDLE_SCRIPT,
      String(port),
      String(count),
      localAddress,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) {
      await child.status;
      throw new Error(`the idle connections' process ended early: ${JSON.stringify(text)}`);
    }
    text += value;
  }
  const counts = JSON.parse(text);
  return {
    ...counts,
    async close() {
      await child.stdin.close();
      await lines.cancel();
      await child.status;
    },
  };
}

/** One value of the daemon's /metrics, or 0 when the series has no sample yet. */
async function metric(daemon: { url: string; certPem: string }, series: string): Promise<number> {
  const api = apiFor(daemon, { timeoutMs: 10_000 });
  try {
    const text = (await api.get("/metrics")).body as string;
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  } finally {
    api.close();
  }
}

/** A whole request -> approve -> token flow with the real tools, from 127.0.0.1. */
async function requestApproveCollect(daemon: SpawnedTestDaemon): Promise<void> {
  await withRequester(["-authz", "READ", "-lifetime", "600"], daemon.env, async (requester) => {
    const id = await requester.requestId();
    const approved = await runTool("condor_token_request_approve", ["-reqid", id, "-yes"], {
      env: daemon.env,
      timeoutMs: 20_000,
    });
    assert.equal(approved.code, 0, approved.stderr);
    const done = await requester.done;
    assert.equal(done.code, EXIT.OK, done.stderr);
    assert.match(done.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });
}

/** Stops the daemon, asserting it was still running and stops cleanly, with its log on failure. */
async function stopCleanly(daemon: SpawnedTestDaemon): Promise<string> {
  const status = await daemon.stop();
  const log = daemon.stderr();
  assert.equal(status.code, 0, `the daemon stops cleanly:\n${log.slice(-3000)}`);
  assert.doesNotMatch(log, /Uncaught|panicked|RUST_BACKTRACE/, log.slice(-3000));
  return log;
}

Deno.test("condor_tokend under ulimit -n 1024 serves a whole flow from one address while another holds 1,100 idle connections", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir, fdLimit: 1024 });
    let log = "";
    try {
      const port = Number(new URL(daemon.url).port);
      const started = performance.now();
      const idle = await holdIdleConnections(port, 1_100, "127.0.0.2");
      try {
        assert.equal(idle.failed, 0, "every connection was made");
        await requestApproveCollect(daemon);
        // The per-peer cap holds 32 and closes the rest at once, before any
        // TLS work (stragglers the full listen backlog held back come later).
        const refused =
          'condor_tokend_refused_connections_total{reason="max_connections_per_peer"}';
        assert.ok(await metric(daemon, refused) >= 1_000);
        const open = await metric(daemon, "condor_tokend_open_connections");
        // The 32, the one asking for /metrics, perhaps the requester's closing.
        assert.ok(open >= 33 && open <= 34, `${open} open`);
      } finally {
        await idle.close();
      }
      await until(
        "the idle connections to be gone",
        async () => await metric(daemon, "condor_tokend_open_connections") <= 1,
      );
      await requestApproveCollect(daemon);
      assert.ok(performance.now() - started < 25_000, "bounded in time");
    } finally {
      log = await stopCleanly(daemon);
    }
    const refusals = log.split("\n").filter((l) => l.includes("refused a connection from"));
    assert.ok(refusals.length >= 1 && refusals.length <= 3, `throttled:\n${refusals.join("\n")}`);
    assert.match(refusals[0], /from 127\.0\.0\.2: TOKEND_MAX_CONNECTIONS_PER_PEER \(32\) reached/);
    assert.doesNotMatch(log, /Too many open files/);
  });
});

/** `promise`, or a failure naming `what` after `ms`: old daemons never close these connections. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Still waiting after ${ms} ms for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP connection from `localAddress`; resolves `ended` when the daemon closes it. */
function connectFrom(localAddress: string, port: number) {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  let closedAt: number | undefined;
  socket.on("error", () => {});
  const ended = new Promise<void>((resolve) =>
    socket.on("close", () => {
      closedAt ??= performance.now();
      resolve();
    })
  );
  const connected = new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return {
    connected,
    ended,
    get closedAt() {
      return closedAt;
    },
    async close() {
      socket.destroy();
      await ended;
    },
  };
}

Deno.test("condor_tokend closes connections that never start TLS or send half a head, at their deadlines", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({
      dir,
      extraConfig: "TOKEND_HANDSHAKE_TIMEOUT = 1\nTOKEND_HEADER_TIMEOUT = 1",
    });
    try {
      const { hostname, port } = new URL(daemon.url);
      const raw = await Deno.connect({ hostname, port: Number(port) });
      const tls = await Deno.connectTls({
        hostname,
        port: Number(port),
        caCerts: [daemon.certPem],
      });
      try {
        const started = performance.now();
        await tls.write(new TextEncoder().encode(`GET /healthz HTTP/1.1\r\nHost: ${hostname}\r\n`));
        // Still served meanwhile, from the same address.
        const api = apiFor(daemon);
        assert.equal((await api.get("/healthz")).status, 200);
        api.close();
        const buffer = new Uint8Array(1024);
        const [rawEnd, tlsEnd] = await within(
          5_000,
          "the daemon to close both connections",
          Promise.all([raw.read(buffer).catch(() => null), tls.read(buffer).catch(() => null)]),
        );
        assert.deepEqual([rawEnd, tlsEnd], [null, null], "closed without an answer");
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 900 && elapsed < 4_000, `closed after ${elapsed} ms`);
        assert.equal(
          await metric(daemon, 'condor_tokend_connection_timeouts_total{phase="handshake"}'),
          1,
        );
        assert.equal(
          await metric(daemon, 'condor_tokend_connection_timeouts_total{phase="header"}'),
          1,
        );
      } finally {
        raw.close();
        tls.close();
      }
    } finally {
      await stopCleanly(daemon);
    }
  });
});

Deno.test("condor_tokend closes a peer's connection over TOKEND_MAX_CONNECTIONS_PER_PEER at once while another peer is served", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({
      dir,
      extraConfig: "TOKEND_MAX_CONNECTIONS_PER_PEER = 4",
    });
    const port = Number(new URL(daemon.url).port);
    const held = Array.from({ length: 4 }, () => connectFrom("127.0.0.2", port));
    let extra: ReturnType<typeof connectFrom> | undefined;
    try {
      // Accepted in the order they connect: the fifth comes after the four.
      await Promise.all(held.map((c) => c.connected));
      extra = connectFrom("127.0.0.2", port);
      await extra.connected;
      const opened = performance.now();
      await within(5_000, "the daemon to close the fifth connection", extra.ended);
      assert.ok(extra.closedAt! - opened < 1_000, "closed at once, not at a deadline");
      assert.ok(held.every((c) => c.closedAt === undefined), "the first four stay open");
      // The four, and the one asking for /metrics.
      assert.ok(await metric(daemon, "condor_tokend_open_connections") >= 5);
      // Another address is served, and the whole flow works.
      await requestApproveCollect(daemon);
      assert.equal(
        await metric(
          daemon,
          'condor_tokend_refused_connections_total{reason="max_connections_per_peer"}',
        ),
        1,
      );
    } finally {
      await Promise.all([...held, ...(extra ? [extra] : [])].map((c) => c.close()));
      await stopCleanly(daemon);
    }
  });
});

Deno.test("condor_tokend keeps accepting after running out of file descriptors (ulimit -n 64)", async () => {
  await withTempDir(async (dir) => {
    // Caps above the limit, so that accept itself fails with EMFILE.
    const daemon = await spawnTestDaemon({
      dir,
      fdLimit: 64,
      extraConfig: "TOKEND_MAX_CONNECTIONS = 1000\nTOKEND_MAX_CONNECTIONS_PER_PEER = 1000\n" +
        "TOKEND_HANDSHAKE_TIMEOUT = 2",
    });
    let log = "";
    try {
      const port = Number(new URL(daemon.url).port);
      const idle = await holdIdleConnections(port, 100, "127.0.0.2");
      try {
        await until(
          "accept to fail with too many open files",
          () => /cannot accept a connection: Too many open files/.test(daemon.stderr()),
          { timeoutMs: 10_000 },
        );
        // While the idle ones are still open (the handshake deadline frees
        // their descriptors, and queued ones are accepted in turn), another
        // address is served.
        const api = apiFor(daemon, { timeoutMs: 15_000 });
        try {
          assert.equal((await api.get("/healthz")).status, 200);
        } finally {
          api.close();
        }
      } finally {
        await idle.close();
      }
      await requestApproveCollect(daemon);
      assert.ok(await metric(daemon, "condor_tokend_accept_errors_total") > 0);
    } finally {
      log = await stopCleanly(daemon);
    }
    const acceptLines = log.split("\n").filter((l) => l.includes("cannot accept a connection"));
    assert.ok(acceptLines.length <= 3, `logged at most once per 10 s:\n${acceptLines.join("\n")}`);
  });
});

Deno.test("condor_tokend survives seeded garbage and hang-ups before and during the TLS handshake", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir, extraConfig: "TOKEND_HANDSHAKE_TIMEOUT = 2" });
    try {
      const { hostname, port } = new URL(daemon.url);
      await withSeed("handshake garbage", async (random) => {
        const attempt = async () => {
          const conn = await Deno.connect({ hostname, port: Number(port) });
          try {
            const length = random.int(2_000);
            const bytes = crypto.getRandomValues(new Uint8Array(length + 5));
            if (random.chance(0.5)) {
              // A TLS handshake record header, then junk of another length.
              bytes.set([0x16, 0x03, random.int(4), random.int(256), random.int(256)]);
            }
            await conn.write(bytes).catch(() => 0);
            if (random.chance(0.5)) {
              // Hear the refusal, or hang up after a moment (a partial record waits for more).
              const read = conn.read(new Uint8Array(4096)).catch(() => null);
              await Promise.race([read, new Promise((r) => setTimeout(r, 100))]);
            }
          } finally {
            conn.close();
          }
        };
        const abandoned = async () => {
          // A real ClientHello, then gone before the handshake ends.
          const tls = await Deno.connectTls({
            hostname,
            port: Number(port),
            caCerts: [daemon.certPem],
          });
          const handshake = tls.handshake().catch(() => {});
          await new Promise((r) => setTimeout(r, random.int(5)));
          tls.close();
          await handshake;
        };
        for (let round = 0; round < 10; round++) {
          await Promise.all(
            Array.from({ length: 30 }, () => random.chance(0.8) ? attempt() : abandoned()),
          );
        }
      });
      await requestApproveCollect(daemon);
      await until(
        "every connection to be closed",
        async () => await metric(daemon, "condor_tokend_open_connections") <= 1,
      );
    } finally {
      const log = await stopCleanly(daemon);
      const faults = log.split("\n").filter((l) => / condor_tokend: (error|cannot)/.test(l));
      assert.deepEqual(faults, [], "no fault logged");
    }
  });
});
