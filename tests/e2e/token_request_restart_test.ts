/**
 * condor_token_request survives what happens to long waits: the daemon
 * killed and restarted mid-wait, and the requester itself lost and run
 * again with -state. Daemon and requester are both subprocesses with the
 * shipped permission flags.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { spawnTestDaemon } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { adminClient, spawnDaemonOnPort, withRequester } from "./_token_request.ts";

Deno.test("condor_token_request (e2e): keeps waiting through a daemon restart and gets the token for the same request", async () => {
  await withTempDir(async (dir) => {
    const first = await spawnTestDaemon({ dir });
    let second: Awaited<ReturnType<typeof spawnDaemonOnPort>> | undefined;
    try {
      await withRequester(["-debug"], first.env, async (requester) => {
        const id = await requester.requestId();
        await first.kill("SIGKILL");
        await requester.waitFor(
          /Lost contact with the daemon at https:\/\/127\.0\.0\.1:\d+ \(DAEMON_UNREACHABLE\)/,
        );
        second = await spawnDaemonOnPort(dir, Number(new URL(first.url).port));
        await requester.waitFor(/Reconnected to the daemon at .* after \d+ s\.\n/);
        const admin = adminClient({ ...first, url: second.url });
        try {
          assert.deepEqual((await admin.list(id)).map((r) => r.state), ["pending"]);
          await admin.approve(id);
        } finally {
          admin.close();
        }
        const r = await requester.done;
        assert.equal(r.code, EXIT.OK, r.stderr);
        assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
        assert.equal(
          [...r.stderr.matchAll(/Token request enqueued/g)].length,
          1,
          "one request only",
        );
      });
    } finally {
      await first.kill("SIGKILL");
      await second?.stop();
    }
  });
});

Deno.test("condor_token_request (e2e): -state resumes the same request after the requester was killed", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    const admin = adminClient(daemon);
    const state = `${dir}/var/request.state`;
    try {
      const id = await withRequester(["-state", state, "-token", "boot"], daemon.env, async (r) => {
        const id = await r.requestId();
        r.child.kill("SIGKILL"); // a power cut: nothing is withdrawn
        await r.done;
        return id;
      });
      assert.equal((await Deno.stat(state)).mode! & 0o777, 0o600);
      assert.equal(JSON.parse(await Deno.readTextFile(state)).requestId, id);

      await withRequester(["-state", state, "-token", "boot"], daemon.env, async (again) => {
        await again.waitFor(new RegExp(`Continuing to wait for approval of request ${id}\\.\\n`));
        await admin.approve(id);
        const r = await again.done;
        assert.equal(r.code, EXIT.OK, r.stderr);
        assert.ok(!r.stderr.includes("Token request enqueued"), "no new request");
      });
      assert.match(
        await Deno.readTextFile(`${dir}/home/.condor/tokens.d/boot`),
        /^[\w-]+\.[\w-]+\.[\w-]+\n$/,
      );
      await assert.rejects(Deno.stat(state), Deno.errors.NotFound);
    } finally {
      admin.close();
      await daemon.stop();
    }
  });
});
