/**
 * Attack: two daemons share one PostgreSQL database, and their clocks are a
 * second or two apart, as clocks are. Around the end of a breaker window
 * one of them is already in the next window while the other is still in
 * the last. Each took a stored window other than its own for a new one and
 * started the counts over, so a requester in a rule's netblock whose
 * requests land on both daemons in turn had every one auto-approved, past
 * TOKEND_AUTO_APPROVE_MAX_PER_RULE, for as long as the clocks disagreed.
 */
import assert from "node:assert/strict";
import { startTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor, FakeClock } from "../_support/api.ts";

const INTERVAL_MS = 600_000;
const MAX_PER_RULE = 3;
const REQUESTS = 12;

Deno.test("attack: two daemons whose clocks straddle a window's end do not start the breaker's count over for each other", async () => {
  const boundary = Math.ceil(Date.now() / INTERVAL_MS) * INTERVAL_MS;
  // One daemon a second into the new window, the other a second before it.
  const ahead = new FakeClock(boundary + 1000);
  const behind = new FakeClock(boundary - 1000);
  await withTestDatabase(async (url) => {
    await withTempDir(async (dir) => {
      const config = [
        `TOKEND_DATABASE = ${url}`,
        `TOKEND_AUTO_APPROVE_MAX_PER_RULE = ${MAX_PER_RULE}`,
        `TOKEND_AUTO_APPROVE_INTERVAL = ${INTERVAL_MS / 1000}`,
      ].join("\n");
      const a = await startTestDaemon({ dir: `${dir}/a`, extraConfig: config, now: ahead.now });
      await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
      await Deno.copyFile(
        testDaemonPaths(`${dir}/a`).poolKeyFile,
        testDaemonPaths(`${dir}/b`).poolKeyFile,
      );
      const b = await startTestDaemon({ dir: `${dir}/b`, extraConfig: config, now: behind.now });
      const apis = [apiFor(a), apiFor(b)];
      try {
        const rule = await apis[0].post(
          "/v1/auto-approval-rules",
          { netblock: "127.0.0.0/8", lifetime: 3600 },
          a.adminToken,
        );
        assert.equal(rule.status, 200, JSON.stringify(rule.body));
        let tokens = 0;
        // One at a time, in turn: each daemon sees the other's window last.
        for (let i = 0; i < REQUESTS; i++) {
          const answer = await apis[i % 2].enqueue();
          assert.equal(answer.status, 201, JSON.stringify(answer.body));
          if (answer.body.token) tokens++;
        }
        // At most a full window's worth on each side of the boundary.
        assert.ok(
          tokens <= 2 * MAX_PER_RULE,
          `${tokens} of ${REQUESTS} auto-approved with a limit of ${MAX_PER_RULE} per window`,
        );
      } finally {
        apis.forEach((api) => api.close());
        await b.close();
        await a.close();
      }
    });
  });
});
