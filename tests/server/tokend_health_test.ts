/**
 * /healthz says the truth: it answered "ok" while every write failed with
 * "database or disk is full", because it only ran a SELECT. The state
 * directory here is a real 1 MiB tmpfs that the test fills and empties; so
 * it needs root (mount) and is skipped otherwise. Only the clock is fake,
 * to step past the one-second spacing of the health probe's commits.
 */
import assert from "node:assert/strict";
import { startTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { type Api, apiFor, FakeClock } from "../_support/api.ts";

/** Runs a command; throws with its stderr when it fails. */
async function run(command: string, ...args: string[]): Promise<void> {
  const result = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
    .output();
  if (!result.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/** Writes zeros into `path` until the file system is full; returns how many bytes fitted. */
async function fill(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true, mode: 0o600 });
  const chunk = new Uint8Array(4096);
  let size = 0;
  try {
    for (;;) size += await file.write(chunk);
  } catch (err) {
    if (!(err instanceof Error && /No space left on device/.test(err.message))) throw err;
  } finally {
    file.close();
  }
  return size;
}

async function health(api: Api): Promise<[number, string | undefined]> {
  const answer = await api.get("/healthz");
  return [answer.status, answer.status === 200 ? answer.body : answer.body.error?.message];
}

Deno.test({
  name: "condor_tokend's /healthz is 503 while the state database cannot commit, 200 once it can",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTempDir(async (dir) => {
      const state = testDaemonPaths(dir).stateDirectory;
      await Deno.mkdir(state, { recursive: true, mode: 0o700 });
      await run("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", state);
      try {
        const clock = new FakeClock();
        const daemon = await startTestDaemon({ dir, now: clock.now });
        const api = apiFor(daemon);
        const filler = `${state}/filler`;
        try {
          const full = "Cannot commit to the state database: database or disk is full";
          assert.deepEqual(await health(api), [200, "ok\n"]);
          assert.equal((await api.enqueue()).status, 201);

          // The disk fills up with nothing else going on: the probe's own commit finds out.
          assert.ok(await fill(filler) > 0);
          clock.advance(2);
          assert.deepEqual(await health(api), [503, full]);
          assert.equal((await api.get("/healthz")).body.error.code, "STORE_UNWRITABLE");
          // Calls that must write are refused as "not now" (503), not as a bug (500).
          const refused = await api.enqueue();
          assert.deepEqual(
            [refused.status, refused.body.error?.code, refused.body.error?.message],
            [503, "STORE_UNWRITABLE", full],
          );

          // Space comes back: the next probe commits, with no other traffic needed.
          await Deno.remove(filler);
          clock.advance(2);
          assert.deepEqual(await health(api), [200, "ok\n"]);
          assert.equal((await api.enqueue()).status, 201);

          // Full again, and a call's commit fails first: health says so at once,
          // without waiting for its next probe.
          await fill(filler);
          assert.equal((await api.enqueue()).status, 503);
          assert.deepEqual(await health(api), [503, full]);
          await Deno.remove(filler);
          assert.deepEqual(await health(api), [503, full], "until a commit succeeds");
          assert.equal((await api.enqueue()).status, 201, "a commit that writes clears it");
          assert.deepEqual(await health(api), [200, "ok\n"]);
        } finally {
          await Deno.remove(filler).catch(() => {});
          api.close();
          await daemon.close();
        }
      } finally {
        await run("umount", state);
      }
    });
  },
});
