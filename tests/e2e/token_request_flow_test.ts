/**
 * condor_token_request end to end: main.ts as a subprocess with the shipped
 * requester's exact permission flags, against a real daemon over HTTPS on
 * loopback, approved, denied or left alone by an administrator.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { verifyToken } from "../../src/token/idtoken.ts";
import { readSigningKey } from "../../src/token/signing_key.ts";
import { TEST_TRUST_DOMAIN, testDaemonPaths, withDaemon } from "../_support/daemon.ts";
import { DaemonGate } from "../_support/daemon_gate.ts";
import { closedPort } from "../_support/ports.ts";
import { runTool } from "../_support/run_tool.ts";
import { ENQUEUED, untrustedEnv, withRequester } from "./_token_request.ts";

async function verified(dir: string, token: string) {
  const paths = testDaemonPaths(dir);
  const keys = { poolKeyFile: paths.poolKeyFile, passwordDirectory: paths.passwordDirectory };
  return await verifyToken(token, (kid) => readSigningKey(kid, keys), {
    issuer: TEST_TRUST_DOMAIN,
    now: Math.floor(Date.now() / 1000),
  });
}

Deno.test("condor_token_request (e2e): enqueue line on stderr, then exactly the token and a newline on stdout", async () => {
  await withDaemon(async ({ daemon, admin, dir }) => {
    await withRequester(
      ["-id", "bucky", "-auth", "READ", "-auth", "WRITE", "-life", "600"],
      daemon.env,
      async (requester) => {
        const id = await requester.requestId();
        const pending = (await admin.list(id))[0];
        assert.equal(pending.requestedIdentity, `bucky@${TEST_TRUST_DOMAIN}`);
        assert.deepEqual(pending.authorizations, ["READ", "WRITE"]);
        assert.equal(pending.lifetime, 600);
        assert.match(pending.clientId, /^.+-\d{1,3}$/);
        await admin.approve(id);
        const r = await requester.done;
        assert.equal(r.code, EXIT.OK, r.stderr);
        assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
        const token = r.stdout.slice(0, -1);
        const { claims, authz } = await verified(dir, token);
        assert.equal(claims.sub, `bucky@${TEST_TRUST_DOMAIN}`);
        assert.deepEqual(authz, ["READ", "WRITE"]);
        assert.equal(claims.exp! - claims.iat, 600);
        assert.equal(r.stderr.match(ENQUEUED)![1], id);
        assert.ok(!r.stderr.includes(token));
      },
    );
  });
});

Deno.test("condor_token_request (e2e): -token stores the token 0600 in a 0700 SEC_TOKEN_DIRECTORY", async () => {
  await withDaemon(async ({ daemon, admin, dir }) => {
    await withRequester(["-to", "friend"], daemon.env, async (requester) => {
      await admin.approve(await requester.requestId());
      const r = await requester.done;
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.equal(r.stdout, "");
      const { tokenDirectory } = testDaemonPaths(dir);
      const text = await Deno.readTextFile(`${tokenDirectory}/friend`);
      assert.match(text, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      assert.equal((await verified(dir, text.trim())).claims.sub, `condor@${TEST_TRUST_DOMAIN}`);
      assert.equal((await Deno.stat(`${tokenDirectory}/friend`)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(tokenDirectory)).mode! & 0o777, 0o700);
      assert.match(r.stderr, /Token stored in .*\/friend\.\n/);
    });
  });
});

Deno.test("condor_token_request (e2e): an auto-approval rule delivers the token with no wait", async () => {
  await withDaemon(async ({ daemon, admin }) => {
    await admin.autoApprove("127.0.0.0/8", 600);
    const started = Date.now();
    const r = await runTool("condor_token_request", ["-authz", "ADVERTISE_STARTD", "-json"], {
      env: daemon.env,
      requesterFlags: true,
    });
    const elapsed = Date.now() - started;
    assert.equal(r.code, EXIT.OK, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual([out.outcome, out.autoApproved], ["approved", true]);
    assert.match(out.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(r.stderr, /^Token request \d{7} was approved automatically\.\n$/);
    assert.ok(elapsed < 5_000, `took ${elapsed} ms`);
  });
});

Deno.test("condor_token_request (e2e): a denial exits 3 with the administrator's reason", async () => {
  await withDaemon(async ({ daemon, admin }) => {
    await withRequester([], daemon.env, async (requester) => {
      const id = await requester.requestId();
      await admin.deny(id, "unknown host");
      const r = await requester.done;
      assert.equal(r.code, EXIT.DENIED);
      assert.equal(r.stdout, "");
      assert.ok(
        r.stderr.endsWith(
          `condor_token_request: Request ${id} was denied by the administrator: "unknown host"\n`,
        ),
        r.stderr,
      );
    });
  });
});

Deno.test("condor_token_request (e2e): a request nobody approves expires: exit 4", async () => {
  await withDaemon({ extraConfig: "SEC_TOKEN_REQUEST_LIFETIME = 1" }, async ({ daemon }) => {
    const r = await runTool("condor_token_request", ["-json"], {
      env: daemon.env,
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.EXPIRED, r.stderr);
    assert.match(
      r.stderr,
      /Request \d{7} expired at the daemon before an administrator approved it\n$/,
    );
    assert.equal(JSON.parse(r.stdout).outcome, "expired");
  });
});

Deno.test("condor_token_request (e2e): -timeout gives up, withdraws the request and exits 6", async () => {
  await withDaemon(async ({ daemon, admin }) => {
    const started = Date.now();
    const r = await runTool("condor_token_request", ["-timeout", "1"], {
      env: daemon.env,
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.TIMED_OUT, r.stderr);
    assert.ok(Date.now() - started < 10_000);
    const id = r.stderr.match(ENQUEUED)![1];
    assert.match(r.stderr, /after 1 s \(-timeout\); it was withdrawn\n$/);
    await assert.rejects(admin.approve(id), (e: { status?: number }) => e.status === 409);
  });
});

Deno.test("condor_token_request (e2e): SIGINT cancels the request at the daemon and exits 130", async () => {
  await withDaemon(async ({ daemon, admin }) => {
    await withRequester([], daemon.env, async (requester) => {
      const id = await requester.requestId();
      requester.child.kill("SIGINT");
      const r = await requester.done;
      assert.equal(r.code, EXIT.SIGINT, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        new RegExp(`Interrupted by SIGINT; request ${id} was cancelled at the daemon\\n$`),
      );
      await assert.rejects(admin.approve(id), (e: { status?: number }) => e.status === 409);
    });
  });
});

Deno.test("condor_token_request (e2e): SIGTERM cancels the request too and exits 143", async () => {
  await withDaemon(async ({ daemon, admin }) => {
    await withRequester(["-json"], daemon.env, async (requester) => {
      const id = await requester.requestId();
      requester.child.kill("SIGTERM");
      const r = await requester.done;
      assert.equal(r.code, EXIT.SIGTERM, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        outcome: "interrupted",
        exitCode: 143,
        requestId: id,
        daemon: daemon.url,
        identity: `condor@${TEST_TRUST_DOMAIN}`,
        signal: "SIGTERM",
        withdrawn: true,
      });
      await assert.rejects(admin.approve(id), (e: { status?: number }) => e.status === 409);
    });
  });
});

Deno.test("condor_token_request (e2e): an unreachable pool exits 7 naming what was tried", async () => {
  const port = closedPort();
  const r = await runTool("condor_token_request", ["-pool", `127.0.0.1:${port}`], {
    env: { HOME: "/nonexistent" },
    requesterFlags: true,
  });
  assert.equal(r.code, EXIT.UNREACHABLE);
  assert.equal(
    r.stderr,
    `condor_token_request: Cannot reach the pool's collector: tried 127.0.0.1:${port} (from -pool "127.0.0.1:${port}"): connection refused (is the daemon running on that port?)\n`,
  );
});

/** A fingerprint of the right form that no daemon here presents. */
const SOME_FINGERPRINT = `sha256:${Array(32).fill("AB").join(":")}`;

Deno.test("condor_token_request (e2e): a pinned daemon unreachable from the start fails its trust check at once: exit 7, no retries", async () => {
  // The requester reads the certificate before it asks for anything, so
  // -trust cannot get it past a daemon that is down: no enqueue is tried.
  const r = await runTool(
    "condor_token_request",
    ["-pool", `127.0.0.1:${closedPort()}`, "-trust", SOME_FINGERPRINT],
    { env: { HOME: "/nonexistent" }, requesterFlags: true, timeoutMs: 10_000 },
  );
  assert.equal(r.code, EXIT.UNREACHABLE, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^condor_token_request: Cannot reach the pool's collector: .*\n$/);
  assert.doesNotMatch(r.stderr, /Lost contact|retrying/);
});

for (const [signal, code] of [["SIGINT", EXIT.SIGINT], ["SIGTERM", EXIT.SIGTERM]] as const) {
  Deno.test(`condor_token_request (e2e): ${signal} while the enqueue is being retried exits ${code} at once and keeps the -state file`, async () => {
    // What is exercised: the enqueue's retry loop, interrupted in its backoff.
    // A daemon down from the start never gets that far (see the test above),
    // so a gate in front of a real daemon lets the trust check's connection
    // through (-trust pins the daemon's certificate) and then refuses every
    // connection: the enqueue fails with "connection refused" and is retried.
    await withDaemon(async ({ daemon, admin, dir }) => {
      const gate = new DaemonGate(daemon.url);
      const state = `${dir}/request.state`;
      try {
        await withRequester(
          ["-pool", gate.hostPort, "-trust", daemon.fingerprint, "-state", state, "-debug"],
          { ...untrustedEnv(daemon.env), _CONDOR_TOOL_DEBUG: "D_NETWORK" },
          async (requester) => {
            await requester.waitFor(
              new RegExp(
                `^Lost contact with the daemon at ${gate.url.replaceAll(".", "\\.")} ` +
                  `\\(DAEMON_UNREACHABLE\\); retrying until it answers\\.\\n`,
                "m",
              ),
            );
            // Wait for a backoff of a second or more, so that ending well
            // within it shows the interrupt cut the sleep short.
            const [, delay] = await requester.waitFor(
              /DEBUG: Cannot enqueue token request at .*; retry \d+ in (\d{4,}) ms\n/,
            );
            const sent = Date.now();
            requester.child.kill(signal);
            const r = await requester.done;
            const ms = Date.now() - sent;
            assert.equal(r.code, code, r.stderr);
            assert.ok(
              ms < Number(delay) - 200,
              `exited ${ms} ms after ${signal}, backoff ${delay} ms`,
            );
            assert.equal(r.stdout, "");
            const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("DEBUG:"));
            assert.deepEqual(lines, [
              `Lost contact with the daemon at ${gate.url} (DAEMON_UNREACHABLE); retrying until it answers.`,
              `condor_token_request: Interrupted by ${signal}; the daemon never confirmed the request`,
            ]);
          },
        );
        const saved = JSON.parse(await Deno.readTextFile(state));
        assert.deepEqual([saved.daemon, saved.fingerprint, saved.requestId], [
          gate.url,
          daemon.fingerprint,
          undefined,
        ]);
        assert.deepEqual(await admin.list(), [], "the enqueue never reached the daemon");
      } finally {
        await gate.close();
      }
    });
  });
}
