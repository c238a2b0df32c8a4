/**
 * kill -9 during a burst of requests: every request the daemon acknowledged
 * (answered 2xx) is still there after a restart, and a request that was
 * being collected never yields a second token.
 */
import assert from "node:assert/strict";
import { spawnTestDaemon } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor } from "../server/_api.ts";

Deno.test("condor_tokend loses no acknowledged request when killed with SIGKILL mid-burst", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    const api = apiFor(daemon);
    const acknowledged: string[] = [];
    let collectedToken: string | undefined;
    let approvedId = "";
    let approvedSecret = "";
    try {
      const approved = await api.enqueue();
      approvedId = approved.body.requestId;
      approvedSecret = approved.secret;
      await api.post(`/v1/token-requests/${approvedId}/approve`, undefined, daemon.adminToken);

      let stop = false;
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
      const collector = (async () => {
        while (acknowledged.length < 20) await new Promise((r) => setTimeout(r, 1));
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
      const workers = Array.from({ length: 8 }, worker);
      while (acknowledged.length < 60) await new Promise((r) => setTimeout(r, 1));
      const status = await daemon.kill("SIGKILL");
      stop = true;
      await Promise.all([...workers, collector]);
      assert.equal(status.signal, "SIGKILL");
    } finally {
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
  });
});
