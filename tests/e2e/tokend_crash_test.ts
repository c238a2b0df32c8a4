/**
 * kill -9 during a burst of requests: every request the daemon acknowledged
 * (answered 2xx) is still there after a restart, and a request that was
 * being collected never yields a second token.
 */
import assert from "node:assert/strict";
import { decodeToken } from "../../src/token/idtoken.ts";
import { readAuditTrail } from "../_support/audit_trail.ts";
import { spawnTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { apiFor } from "../_support/api.ts";

/** How long the burst may take to reach the daemon's acknowledgements the test waits for. */
const BURST_TIMEOUT_MS = 30_000;

Deno.test("condor_tokend loses no acknowledged request when killed with SIGKILL mid-burst", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    const api = apiFor(daemon);
    const acknowledged: string[] = [];
    let collectedToken: string | undefined;
    let approvedId = "";
    let approvedSecret = "";
    let stop = false;
    try {
      const approved = await api.enqueue();
      approvedId = approved.body.requestId;
      approvedSecret = approved.secret;
      await api.post(`/v1/token-requests/${approvedId}/approve`, undefined, daemon.adminToken);

      const worker = async () => {
        while (!stop) {
          try {
            const answer = await api.enqueue({ identity: "bob@tokend-test.example.org" });
            if (answer.status === 201) acknowledged.push(answer.body.requestId);
          } catch {
            return; // the daemon died under us: this call was never acknowledged
          }
        }
      };
      const acknowledgedAtLeast = (n: number) =>
        until(`${n} acknowledged enqueues`, () => acknowledged.length >= n, {
          timeoutMs: BURST_TIMEOUT_MS,
          intervalMs: 1,
          describe: () => `${acknowledged.length}`,
        });
      const collector = (async () => {
        await acknowledgedAtLeast(20);
        try {
          const answer = await api.post(`/v1/token-requests/${approvedId}/collect`, {
            secret: approvedSecret,
            waitSeconds: 0,
          });
          collectedToken = answer.body.token;
        } catch {
          // Killed before answering: the token was never handed over.
        }
      })();
      // Its timeout, if any, is reported where it is awaited, after the daemon is stopped.
      collector.catch(() => {});
      const workers = Array.from({ length: 8 }, worker);
      try {
        await acknowledgedAtLeast(60);
      } finally {
        // Even when the burst timed out: end the daemon and every call the test started.
        const status = await daemon.kill("SIGKILL");
        stop = true;
        await Promise.all([...workers, collector]);
        assert.equal(status.signal, "SIGKILL");
      }
    } finally {
      stop = true;
      api.close();
    }

    const restarted = await spawnTestDaemon({ dir });
    const api2 = apiFor(restarted);
    try {
      const listed = await api2.get("/v1/token-requests", restarted.adminToken);
      const present = new Set(listed.body.requests.map((r: { requestId: string }) => r.requestId));
      const lost = acknowledged.filter((id) => !present.has(id));
      assert.deepEqual(
        lost,
        [],
        `${lost.length} of ${acknowledged.length} acknowledged requests lost`,
      );
      const again = await api2.post(`/v1/token-requests/${approvedId}/collect`, {
        secret: approvedSecret,
        waitSeconds: 0,
      });
      if (collectedToken !== undefined) {
        assert.deepEqual([again.body.state, again.body.token], ["collected", undefined]);
      } else {
        // Either the approval is still waiting to be collected, or it was collected but the
        // answer was lost in the kill; in neither case does the request yield a second token.
        assert.ok(again.body.state === "collected");
      }
    } finally {
      api2.close();
      await restarted.stop();
    }
    // Whichever way the kill fell, the approved request ended collected with exactly one token
    // on record (never a second), and a token the first daemon handed over is that one.
    const issued = readAuditTrail(testDaemonPaths(dir).stateDirectory)
      .filter((a) => a.request_id === approvedId && a.event === "issue");
    assert.equal(issued.length, 1, `${approvedId} was issued ${issued.length} tokens`);
    if (collectedToken !== undefined) {
      const jti = (decodeToken(collectedToken).payload as { jti: string }).jti;
      assert.equal(JSON.parse(issued[0].detail).jti, jti, "another token on record");
    }
  });
});
