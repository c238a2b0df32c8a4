/**
 * Two condor_tokend processes (the shipped flags) on one PostgreSQL
 * database, listed together in COLLECTOR_HOST: a real condor_token_request
 * (the requester's shipped flags) waiting on A carries on with the same
 * request at B when A is killed with SIGKILL, and gets its token from B;
 * with -state, a requester run again after A died resumes at B. Each
 * daemon is trusted by its own certificate only.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { readSavedRequest } from "../../src/client/saved_request.ts";
import { type SpawnedTestDaemon, spawnTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { adminClient, untrustedEnv, withRequester } from "./_token_request.ts";

/** Two daemon processes on one fresh database, sharing one POOL key. */
async function withTwoDaemons(
  fn: (a: SpawnedTestDaemon, b: SpawnedTestDaemon, dir: string) => Promise<void>,
): Promise<void> {
  await withTestDatabase(async (url) => {
    await withTempDir(async (dir) => {
      const extraConfig = `TOKEND_DATABASE = ${url}`;
      const a = await spawnTestDaemon({ dir: `${dir}/a`, extraConfig });
      let b: SpawnedTestDaemon | undefined;
      try {
        await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
        await Deno.copyFile(
          testDaemonPaths(`${dir}/a`).poolKeyFile,
          testDaemonPaths(`${dir}/b`).poolKeyFile,
        );
        b = await spawnTestDaemon({ dir: `${dir}/b`, extraConfig });
        await fn(a, b, dir);
      } finally {
        await a.kill("SIGKILL");
        await b?.stop();
      }
    });
  });
}

/** The requester's environment: both daemons in COLLECTOR_HOST, neither pre-trusted. */
function poolEnv(a: SpawnedTestDaemon, b: SpawnedTestDaemon): Record<string, string> {
  return {
    ...untrustedEnv(a.env),
    _CONDOR_COLLECTOR_HOST: `${new URL(a.url).host}, ${new URL(b.url).host}`,
  };
}

Deno.test("condor_token_request (e2e): waiting on A, carries on at B when A is killed, and gets its token from B", async () => {
  await withTwoDaemons(async (a, b) => {
    const trust = ["-trust", a.fingerprint, "-trust", b.fingerprint];
    await withRequester(trust, poolEnv(a, b), async (requester) => {
      const id = await requester.requestId();
      // The request waits on A, the first address listed (its log line may
      // reach stderr a moment after the requester printed the ID).
      await until(
        `A's audit line for request ${id}`,
        () => a.stderr().includes(`audit enqueue request=${id}`),
        { describe: () => a.stderr() },
      );
      await a.kill("SIGKILL");
      const admin = adminClient(b);
      try {
        assert.deepEqual((await admin.list(id)).map((r) => r.state), ["pending"]);
        await admin.approve(id);
      } finally {
        admin.close();
      }
      const r = await requester.done;
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      assert.match(
        r.stderr,
        new RegExp(
          `Lost contact with the daemon at ${a.url}; continuing with request ${id} at ${b.url}`,
        ),
      );
      assert.equal([...r.stderr.matchAll(/Token request enqueued/g)].length, 1, "one request");
      assert.match(b.stderr(), new RegExp(`audit issue request=${id}`), "B issued it");
    });
  });
});

Deno.test("condor_token_request (e2e): -state keeps every daemon of the pool, and a run after A died resumes at B", async () => {
  await withTwoDaemons(async (a, b, dir) => {
    const state = `${dir}/request.state`;
    const args = ["-trust", a.fingerprint, "-trust", b.fingerprint, "-state", state];
    const id = await withRequester(args, poolEnv(a, b), async (requester) => {
      const id = await requester.requestId();
      requester.child.kill("SIGKILL");
      await requester.done;
      return id;
    });
    const saved = await readSavedRequest(state);
    assert.equal(saved?.requestId, id);
    assert.equal(saved?.daemon, a.url);
    assert.deepEqual(saved?.daemons?.map((d) => d.address), [
      new URL(a.url).host,
      new URL(b.url).host,
    ]);
    assert.equal(saved?.daemons?.[0].fingerprint, a.fingerprint);

    await a.kill("SIGKILL");
    const admin = adminClient(b);
    try {
      await admin.approve(id);
    } finally {
      admin.close();
    }
    // Run again as a boot script would: the same command line.
    await withRequester(args, poolEnv(a, b), async (requester) => {
      const r = await requester.done;
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.match(r.stderr, new RegExp(`Continuing to wait for approval of request ${id}`));
      assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    });
    assert.equal(await readSavedRequest(state), undefined, "removed once the token arrived");
  });
});

Deno.test("condor_token_request (e2e): a daemon of the pool that is not trusted is not skipped to fail over", async () => {
  await withTwoDaemons(async (a, b) => {
    // Only A's certificate is trusted: when A dies, B is refused, not used.
    await withRequester(["-trust", a.fingerprint], poolEnv(a, b), async (requester) => {
      await requester.requestId();
      await a.kill("SIGKILL");
      const r = await requester.done;
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.match(r.stderr, new RegExp(`Cannot trust daemon at ${new URL(b.url).host}`));
    });
  });
});
