/**
 * condor_token_request's first contact with a daemon: with -timeout or
 * -state, a daemon that cannot be reached yet (refused, or hanging up on
 * the TLS handshake) is retried until it answers or the timeout passes;
 * without either, the tool fails at once, as HTCondor's does. A daemon that
 * is not trusted is never retried, and Ctrl-C while retrying leaves nothing
 * behind. The requester runs as a subprocess with the shipped flags; the
 * daemon too, started late on a port the requester is already trying.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { prepareTestDaemonDir, spawnTestDaemon } from "../_support/daemon.ts";
import { DaemonGate } from "../_support/daemon_gate.ts";
import { closedPort } from "../_support/ports.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import {
  adminClient,
  ENQUEUED,
  spawnDaemonOnPort,
  untrustedEnv,
  withRequester,
} from "./_token_request.ts";

/** The environment of a requester of a test daemon's configuration that no daemon answers. */
async function requesterEnv(dir: string): Promise<Record<string, string>> {
  const paths = await prepareTestDaemonDir(dir);
  // No certificate to trust: no daemon ever answers these requesters.
  return untrustedEnv({ CONDOR_CONFIG: paths.configPath, HOME: paths.home });
}

/**
 * A port that accepts connections and hangs up on each at once, as a proxy
 * whose back end is down does; counts them. `close()` it.
 */
function hangingUpPort(): { port: number; accepted: () => number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })().catch((err) => {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  });
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    close: async () => {
      listener.close();
      await serving;
    },
  };
}

Deno.test("condor_token_request (e2e): with -timeout, a daemon that is not up yet is waited for, then the request goes through", async () => {
  await withTempDir(async (dir) => {
    // The daemon's certificate is made once, so the requester can trust it before it runs.
    const first = await spawnTestDaemon({ dir });
    const port = Number(new URL(first.url).port);
    await first.stop();
    let daemon: Awaited<ReturnType<typeof spawnDaemonOnPort>> | undefined;
    try {
      await withRequester(
        ["-pool", `127.0.0.1:${port}`, "-timeout", "60", "-debug"],
        { ...first.env, _CONDOR_TOOL_DEBUG: "D_NETWORK" },
        async (requester) => {
          await requester.waitFor(
            /^condor_token_request: Cannot reach the pool's collector: tried 127\.0\.0\.1:\d+ .*connection refused.*; retrying until it answers, within -timeout \(Ctrl-C stops\)\n/m,
          );
          // Retried, not given up: at least two attempts before the daemon starts.
          await requester.waitFor(/DEBUG: Cannot reach .*; retry 2 in \d+ ms\n/);
          daemon = await spawnDaemonOnPort(dir, port);
          const [, id] = await requester.waitFor(ENQUEUED);
          assert.match(requester.stderr, /^The daemon answered after \d+ s\.\n/m);
          const admin = adminClient({ ...first, url: daemon.url });
          try {
            await admin.approve(id);
          } finally {
            admin.close();
          }
          const r = await requester.done;
          assert.equal(r.code, EXIT.OK, r.stderr);
          assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
          assert.equal(r.stderr.split("Token request enqueued").length, 2, "one request only");
        },
      );
    } finally {
      await daemon?.stop();
    }
  });
});

Deno.test("condor_token_request (e2e): without -timeout or -state, an unreachable daemon fails at once, in one attempt", async () => {
  await withTempDir(async (dir) => {
    const env = await requesterEnv(dir);
    const refused = await runTool(
      "condor_token_request",
      ["-pool", `127.0.0.1:${closedPort()}`],
      { env, requesterFlags: true },
    );
    assert.equal(refused.code, EXIT.UNREACHABLE, refused.stderr);
    assert.match(refused.stderr, /^condor_token_request: Cannot reach the pool's collector: .*\n$/);
    assert.doesNotMatch(refused.stderr, /retrying|still failing/);

    const hangingUp = hangingUpPort();
    try {
      const r = await runTool(
        "condor_token_request",
        ["-pool", `https://127.0.0.1:${hangingUp.port}`],
        { env, requesterFlags: true },
      );
      assert.equal(r.code, EXIT.UNREACHABLE, r.stderr);
      assert.equal(hangingUp.accepted(), 1, "one attempt");
    } finally {
      await hangingUp.close();
    }
  });
});

Deno.test("condor_token_request (e2e): with -timeout, TLS hang-ups at first contact are retried until a daemon answers", async () => {
  await withTempDir(async (dir) => {
    // The daemon's certificate is made once, so the requester knows it before the daemon runs.
    const first = await spawnTestDaemon({ dir });
    const port = Number(new URL(first.url).port);
    await first.stop();
    // A proxy in front of the stopped daemon: it accepts, fails to reach it, and hangs up.
    const proxy = new DaemonGate(first.url, Infinity);
    let daemon: Awaited<ReturnType<typeof spawnDaemonOnPort>> | undefined;
    try {
      await withRequester(
        ["-pool", proxy.url, "-timeout", "60", "-json", "-debug"],
        { ...first.env, _CONDOR_TOOL_DEBUG: "D_NETWORK" },
        async (requester) => {
          await requester.waitFor(
            /the connection was closed during the TLS handshake|closed the connection instead of answering TLS/,
          );
          await requester.waitFor(/DEBUG: .*; retry 2 in \d+ ms\n/);
          daemon = await spawnDaemonOnPort(dir, port);
          const [, id] = await requester.waitFor(ENQUEUED);
          const admin = adminClient({ ...first, url: daemon.url });
          try {
            await admin.approve(id);
          } finally {
            admin.close();
          }
          const r = await requester.done;
          assert.equal(r.code, EXIT.OK, r.stderr);
          assert.equal(JSON.parse(r.stdout).outcome, "approved");
        },
      );
    } finally {
      await proxy.close();
      await daemon?.stop();
    }
  });
});

Deno.test("condor_token_request (e2e): a daemon that is not trusted is never retried, even with -timeout", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    try {
      const started = Date.now();
      const r = await runTool(
        "condor_token_request",
        ["-timeout", "60", "-state", `${dir}/request.state`],
        { env: untrustedEnv(daemon.env), requesterFlags: true },
      );
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.ok(Date.now() - started < 20_000, "refused at once, not after the timeout");
      assert.doesNotMatch(r.stderr, /retrying/);
      await assert.rejects(Deno.stat(`${dir}/request.state`), Deno.errors.NotFound);
    } finally {
      await daemon.stop();
    }
  });
});

for (const [signal, code] of [["SIGINT", EXIT.SIGINT], ["SIGTERM", EXIT.SIGTERM]] as const) {
  Deno.test(`condor_token_request (e2e): ${signal} while waiting for a first answer exits ${code} and leaves nothing behind`, async () => {
    await withTempDir(async (dir) => {
      const env = await requesterEnv(dir);
      const state = `${dir}/request.state`;
      await withRequester(
        ["-pool", `127.0.0.1:${closedPort()}`, "-state", state, "-token", "boot", "-json"],
        env,
        async (requester) => {
          await requester.waitFor(/retrying until it answers/);
          requester.child.kill(signal);
          const r = await requester.done;
          assert.equal(r.code, code, r.stderr);
          assert.match(
            r.stderr,
            new RegExp(
              `^condor_token_request: Interrupted by ${signal} before the daemon answered; no request was made\\n`,
              "m",
            ),
          );
          const out = JSON.parse(r.stdout);
          assert.deepEqual([out.outcome, out.exitCode, out.requestId, out.withdrawn], [
            "interrupted",
            code,
            null,
            false,
          ]);
        },
      );
      // No state file (nothing was asked), no token.
      await assert.rejects(Deno.stat(state), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(`${dir}/home/.condor/tokens.d/boot`), Deno.errors.NotFound);
    });
  });
}
