/** The enqueue rate limit against a real in-process daemon over HTTPS. */
import assert from "node:assert/strict";
import { FakeClock } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

Deno.test("condor_tokend rate-limits enqueues whose token does not verify, before checking it", async () => {
  const clock = new FakeClock();
  await withDaemon(
    { now: clock.now, extraConfig: "TOKEND_RATE_LIMIT = 3" },
    async ({ daemon, api }) => {
      // Well-formed, but the signature is wrong: only verifying it would tell.
      const [header, payload, signature] = daemon.adminToken.split(".");
      const forged = `${header}.${payload}.${signature.slice(0, -4)}AAAA`;
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        const answer = await api.call("POST", "/v1/token-requests", {
          token: forged,
          body: { identity: "condor@tokend-test.example.org", secret: "s".repeat(43) },
        });
        statuses.push(answer.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
    },
  );
});
