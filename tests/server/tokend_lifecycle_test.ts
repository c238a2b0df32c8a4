/**
 * Starting, stopping and restarting the daemon in-process: state that
 * survives a restart, the signing key and TLS identity at start, refusals
 * with clear messages, plain HTTP only when configured, and a prompt clean
 * shutdown.
 */
import assert from "node:assert/strict";
import { CondorError, KeyError } from "../../src/errors.ts";
import { startTokend, type Tokend } from "../../src/server/tokend.ts";
import {
  prepareTestDaemonDir,
  startTestDaemon,
  testDaemonConfig,
  testDaemonPaths,
} from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { untilWaiting } from "../_support/waiting_polls.ts";
import { apiFor, newSecret } from "../_support/api.ts";

/** Starts a daemon straight from the test configuration in `dir`, collecting its log lines. */
async function startDirect(
  dir: string,
  extraConfig = "",
): Promise<{ tokend: Tokend; logs: string[] }> {
  const paths = await prepareTestDaemonDir(dir, extraConfig);
  return await startFromPrepared(paths.configPath, paths.home);
}

async function startFromPrepared(configPath: string, home: string) {
  const config = await testDaemonConfig({ configPath: configPath, home: home });
  const logs: string[] = [];
  const tokend = await startTokend({ config, port: 0, log: (line) => logs.push(line) });
  return { tokend, logs };
}

Deno.test("condor_tokend keeps pending requests, approvals, rules and its certificate across a restart", async () => {
  await withTempDir(async (dir) => {
    let daemon = await startTestDaemon({ dir });
    let api = apiFor(daemon);
    const pending = await api.enqueue({
      identity: "alice@tokend-test.example.org",
      authz: ["READ"],
    });
    const approved = await api.enqueue();
    await api.post(
      `/v1/token-requests/${approved.body.requestId}/approve`,
      undefined,
      daemon.adminToken,
    );
    await api.post(
      "/v1/auto-approval-rules",
      { netblock: "127.0.0.1", lifetime: 600 },
      daemon.adminToken,
    );
    const fingerprint = daemon.fingerprint;
    api.close();
    await daemon.close();

    daemon = await startTestDaemon({ dir });
    api = apiFor(daemon);
    try {
      assert.equal(daemon.fingerprint, fingerprint);
      const listed = await api.get("/v1/token-requests", daemon.adminToken);
      assert.deepEqual(listed.body.requests.map((r: { requestId: string }) => r.requestId), [
        pending.body.requestId,
      ]);
      const collected = await api.post(`/v1/token-requests/${approved.body.requestId}/collect`, {
        secret: approved.secret,
        waitSeconds: 0,
      });
      assert.equal(collected.body.state, "collected");
      assert.ok(collected.body.token);
      const auto = await api.enqueue();
      assert.equal(auto.body.state, "collected", "the rule survived the restart");
      const retry = await api.enqueue({
        secret: pending.secret,
        identity: "alice@tokend-test.example.org",
        authz: ["READ"],
      });
      assert.deepEqual([retry.status, retry.body.requestId], [200, pending.body.requestId]);
    } finally {
      api.close();
      await daemon.close();
    }
  });
});

Deno.test("condor_tokend creates a missing POOL key 0600 and its self-signed certificate", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    await Deno.remove(paths.poolKeyFile);
    const { tokend, logs } = await startFromPrepared(paths.configPath, paths.home);
    try {
      assert.equal((await Deno.stat(paths.poolKeyFile)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(paths.poolKeyFile)).size, 64);
      assert.ok(
        logs.some((l) =>
          l.startsWith(`WARNING: created a new POOL signing key ${paths.poolKeyFile} `)
        ),
      );
      assert.ok(logs.some((l) => l.startsWith("created self-signed certificate ")));
      assert.ok(logs.includes(`listening on ${tokend.url}`));
      assert.ok(logs.includes(`SHA-256 fingerprint: ${tokend.fingerprint}`));
      assert.match(tokend.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await Deno.readTextFile(paths.addressFile)).trim(), tokend.url);
    } finally {
      await tokend.shutdown();
    }
  });
});

Deno.test("condor_tokend refuses to start with an insecure or unreadable signing key", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    await Deno.chmod(paths.poolKeyFile, 0o644);
    await assert.rejects(
      startFromPrepared(paths.configPath, paths.home),
      (err) =>
        err instanceof KeyError && err.code === "KEY_INSECURE" &&
        err.message.includes(paths.poolKeyFile) &&
        err.message.includes("0644"),
    );
    await Deno.chmod(paths.poolKeyFile, 0o600);
    await Deno.writeTextFile(paths.configPath, "SEC_TOKEN_ISSUER_KEY = NOSUCHKEY\n", {
      append: true,
    });
    await assert.rejects(
      startFromPrepared(paths.configPath, paths.home),
      (err) =>
        err instanceof KeyError && err.code === "KEY_MISSING" && /NOSUCHKEY/.test(err.message),
    );
    await assert.rejects(Deno.stat(paths.addressFile), Deno.errors.NotFound);
  });
});

Deno.test("condor_tokend refuses a state database written by a newer version", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    await Deno.mkdir(paths.stateDirectory, { recursive: true });
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(`${paths.stateDirectory}/tokend.sqlite`);
    db.exec("PRAGMA user_version = 99");
    db.close();
    await assert.rejects(
      startFromPrepared(paths.configPath, paths.home),
      (err) =>
        err instanceof CondorError && err.code === "STORE_TOO_NEW" &&
        /version 99/.test(err.message),
    );
  });
});

Deno.test("condor_tokend says when it creates its state database, and refuses an emptied one", async () => {
  await withTempDir(async (dir) => {
    const database = `${testDaemonPaths(dir).stateDirectory}/tokend.sqlite`;
    const first = await startDirect(dir);
    const api = apiFor({ url: first.tokend.url, certPem: first.tokend.certPem! });
    try {
      assert.ok(
        first.logs.includes(`creating new state database ${database}`),
        first.logs.join("\n"),
      );
      assert.equal((await api.enqueue()).status, 201);
    } finally {
      api.close();
      await first.tokend.shutdown();
    }
    const again = await startDirect(dir);
    await again.tokend.shutdown();
    assert.ok(!again.logs.some((l) => l.startsWith("creating new state database")));

    // Emptied behind the daemon's back: its pending request must not vanish silently.
    await Deno.truncate(database, 0);
    await assert.rejects(
      startDirect(dir),
      (err) =>
        err instanceof CondorError && err.code === "STORE_EMPTY" &&
        err.message.startsWith(`Cannot use state database ${database}: it is empty (0 bytes)`),
    );
    assert.equal((await Deno.stat(database)).size, 0);
    // Removing it is how an administrator asks for a fresh state.
    await Deno.remove(database);
    await Deno.remove(`${database}-wal`).catch(() => {});
    await Deno.remove(`${database}-shm`).catch(() => {});
    const fresh = await startDirect(dir);
    await fresh.tokend.shutdown();
    assert.ok(fresh.logs.includes(`creating new state database ${database}`));
  });
});

Deno.test("condor_tokend refuses a state database whose tables are missing", async () => {
  await withTempDir(async (dir) => {
    const database = `${testDaemonPaths(dir).stateDirectory}/tokend.sqlite`;
    const { tokend } = await startDirect(dir);
    await tokend.shutdown();
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(database);
    db.exec("DROP TABLE audit; DROP TABLE rules");
    db.close();
    await assert.rejects(
      startDirect(dir),
      (err) =>
        err instanceof CondorError && err.code === "STORE_SCHEMA" &&
        err.message ===
          `Cannot use state database ${database}: its schema is damaged (table audit, rules missing); restore it from a backup`,
    );
  });
});

Deno.test("condor_tokend serves plain HTTP only when configured, and says so", async () => {
  await withTempDir(async (dir) => {
    const { tokend, logs } = await startDirect(dir, "TOKEND_ALLOW_PLAIN_HTTP = true");
    try {
      assert.match(tokend.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(tokend.fingerprint, undefined);
      assert.ok(logs.some((l) => l.startsWith("WARNING: TOKEND_ALLOW_PLAIN_HTTP is true")));
      await assert.rejects(Deno.stat(`${testDaemonPaths(dir).stateDirectory}/tokend_cert.pem`));
      const response = await fetch(`${tokend.url}/v1/token-requests`, {
        method: "POST",
        body: JSON.stringify({
          identity: "condor@x",
          authz: [],
          lifetime: null,
          clientId: "c",
          secret: newSecret(),
        }),
      });
      assert.equal(response.status, 201);
      await response.body?.cancel();
    } finally {
      await tokend.shutdown();
    }
  });
});

Deno.test("condor_tokend answers waiting polls promptly when it shuts down", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    const api = apiFor(daemon);
    try {
      const { body, secret } = await api.enqueue();
      const waiting = api.post(`/v1/token-requests/${body.requestId}/collect`, {
        secret,
        waitSeconds: 30,
      });
      await untilWaiting(daemon, 1);
      const start = performance.now();
      await daemon.close();
      const answer = await waiting;
      assert.deepEqual([answer.status, answer.body.state], [200, "pending"]);
      assert.ok(performance.now() - start < 2000, "shutdown did not wait for the long poll");
    } finally {
      api.close();
    }
  });
});

Deno.test("condor_tokend on every interface serves IPv4 and IPv6 clients and counts an IPv4 client as IPv4", async () => {
  await withTempDir(async (dir) => {
    const { tokend, logs } = await startDirect(
      dir,
      "NETWORK_INTERFACE = *\nTOKEND_MAX_CONNECTIONS_PER_PEER = 2",
    );
    const clients: Deno.Conn[] = [];
    const http = Deno.createHttpClient({ caCerts: [tokend.certPem!] });
    try {
      // Listening on "::" (both families), the URL names the host.
      assert.equal(tokend.url, `https://tokend.example.org:${tokend.addr.port}`);
      assert.equal(tokend.addr.hostname, "::");
      for (const host of ["127.0.0.1", "[::1]"]) {
        const health = await fetch(`https://${host}:${tokend.addr.port}/healthz`, { client: http });
        assert.equal(await health.text(), "ok\n", host);
      }
      // IPv4 clients reach "::" as ::ffff:127.0.0.1; they count, and are logged, as 127.0.0.1.
      for (let i = 0; i < 3; i++) {
        clients.push(await Deno.connect({ hostname: "127.0.0.1", port: tokend.addr.port }));
      }
      const third = await clients[2].read(new Uint8Array(16)).catch(() => null);
      assert.equal(third, null, "the third connection from 127.0.0.1 is closed at once");
      assert.ok(
        logs.includes(
          "refused a connection from 127.0.0.1: TOKEND_MAX_CONNECTIONS_PER_PEER (2) reached",
        ),
        logs.join("\n"),
      );
    } finally {
      for (const conn of clients) conn.close();
      http.close();
      await tokend.shutdown();
    }
  });
});
