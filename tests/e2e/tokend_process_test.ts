/**
 * `main.ts condor_tokend` as the shipped binary runs it (same permission
 * flags): start-up lines, a clean SIGTERM stop, restart with state intact,
 * and refusals with clear messages.
 */
import assert from "node:assert/strict";
import { prepareTestDaemonDir, spawnTestDaemon } from "../_support/daemon.ts";
import { closedPort } from "../_support/ports.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor, newSecret } from "../_support/api.ts";

Deno.test("condor_tokend prints its address, fingerprint and readiness, and stops cleanly on SIGTERM", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    const api = apiFor(daemon);
    let token = "";
    let secret = "";
    try {
      const enqueued = await api.enqueue({ authz: ["READ"] });
      secret = enqueued.secret;
      await api.post(
        `/v1/token-requests/${enqueued.body.requestId}/approve`,
        undefined,
        daemon.adminToken,
      );
      const collected = await api.post(`/v1/token-requests/${enqueued.body.requestId}/collect`, {
        secret,
        waitSeconds: 5,
      });
      token = collected.body.token;
      assert.ok(token);
    } finally {
      api.close();
    }
    const status = await daemon.stop();
    assert.equal(status.code, 0);
    const stderr = daemon.stderr();
    assert.match(
      stderr,
      new RegExp(`condor_tokend: listening on ${daemon.url.replace(/\./g, "\\.")}\n`),
    );
    assert.ok(stderr.includes(`condor_tokend: SHA-256 fingerprint: ${daemon.fingerprint}\n`));
    assert.match(stderr, /condor_tokend: ready\n/);
    assert.match(stderr, /condor_tokend: received SIGTERM; shutting down\n/);
    assert.match(stderr, /condor_tokend: stopped\n/);
    assert.match(stderr, /audit issue request=\d{7} .*jti=/);
    assert.ok(!stderr.includes(token), "the log never contains a token");
    assert.ok(!stderr.includes(token.split(".")[2]));
    assert.ok(!stderr.includes(secret), "the log never contains a secret");
    assert.ok(!stderr.includes(daemon.adminToken));
  });
});

Deno.test("condor_tokend restarted on the same state keeps pending requests and rules", async () => {
  await withTempDir(async (dir) => {
    let daemon = await spawnTestDaemon({ dir });
    let api = apiFor(daemon);
    const pending = await api.enqueue({
      identity: "alice@tokend-test.example.org",
      authz: ["READ"],
    });
    await api.post(
      "/v1/auto-approval-rules",
      { netblock: "127.0.0.0/8", lifetime: 600 },
      daemon.adminToken,
    );
    api.close();
    assert.equal((await daemon.stop()).code, 0);

    daemon = await spawnTestDaemon({ dir });
    api = apiFor(daemon);
    try {
      const listed = await api.get("/v1/token-requests", daemon.adminToken);
      assert.deepEqual(listed.body.requests.map((r: { requestId: string }) => r.requestId), [
        pending.body.requestId,
      ]);
      const auto = await api.enqueue();
      assert.equal(auto.body.state, "collected");
    } finally {
      api.close();
      await daemon.stop();
    }
  });
});

Deno.test("condor_tokend -help prints its usage and a bad -port is a usage error", async () => {
  const help = await runTool("condor_tokend", ["-help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: condor_tokend /);
  const bad = await runTool("condor_tokend", ["-port", "ninety"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Invalid value for -port: "ninety"/);
});

Deno.test("condor_tokend refuses to start with a signing key other users can read", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    await Deno.chmod(paths.poolKeyFile, 0o640);
    const result = await runTool("condor_tokend", ["-port", "0"], {
      env: { CONDOR_CONFIG: paths.configPath, HOME: paths.home },
    });
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(`${paths.poolKeyFile} has mode 0640`), result.stderr);
    assert.ok(!result.stderr.includes("    at "), "no stack trace");
  });
});

Deno.test("condor_tokend takes the peer from the socket and listens where configured, whatever DENO_* says", async () => {
  await withTempDir(async (dir) => {
    // Deno.serve obeyed both: the first made it believe an x-deno-client-address
    // header, the second moved its listener. The daemon's own server obeys neither.
    const elsewhere = closedPort();
    const daemon = await spawnTestDaemon({
      dir,
      childEnv: {
        DENO_TRUST_PROXY_HEADERS: "1",
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${elsewhere}`,
      },
    });
    const api = apiFor(daemon);
    const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
    try {
      assert.match(daemon.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(new URL(daemon.url).port, String(elsewhere));
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: elsewhere }));
      // An auto-approval rule for a netblock the test is not in...
      await api.post(
        "/v1/auto-approval-rules",
        { netblock: "192.0.2.0/24", lifetime: 600 },
        daemon.adminToken,
      );
      // ...is not met by claiming an address in it.
      const claimed = await fetch(`${daemon.url}/v1/token-requests`, {
        method: "POST",
        client,
        headers: {
          "content-type": "application/json",
          "x-deno-client-address": "192.0.2.7:9618",
          "x-forwarded-for": "192.0.2.7",
        },
        body: JSON.stringify({
          identity: "condor@tokend-test.example.org",
          authz: ["READ"],
          lifetime: 600,
          clientId: "claims-to-be-elsewhere",
          secret: newSecret(),
        }),
      });
      const body = await claimed.json();
      assert.deepEqual([claimed.status, body.state], [201, "pending"]);
      const listed = await api.get(`/v1/token-requests?reqid=${body.requestId}`, daemon.adminToken);
      assert.equal(listed.body.requests[0].peerLocation, "127.0.0.1");
    } finally {
      client.close();
      api.close();
      await daemon.stop();
    }
  });
});
