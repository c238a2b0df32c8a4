/**
 * Many administrators deciding on the same requests at once: each on its
 * own connection approves or denies every request, in its own random
 * order, while the requesters wait in their long polls and some of them
 * cancel. Each request must end with exactly one decision (one audit
 * record of approve, deny or cancel), every successful answer must agree
 * with it, the waiting requester must see that outcome, and only approved
 * requests may yield a token, exactly one.
 *
 * CONDOR_TOKEN_HEAVY=1 uses more requests and administrators;
 * CONDOR_TOKEN_SEED=N replays a run.
 */
import assert from "node:assert/strict";
import { readAuditTrail } from "../_support/audit_trail.ts";
import { spawnTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { untilWaiting } from "../_support/waiting_polls.ts";
import { type Answer, type Api, apiFor } from "../_support/api.ts";
import { heavy, withSeed } from "./_support.ts";

const LIST = "/v1/token-requests";

Deno.test("concurrent approvals, denials and cancels give each request exactly one outcome", async () => {
  const requests = heavy() ? 300 : 40;
  const admins = heavy() ? 16 : 8;
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({
      dir,
      // Every requester's long poll is a connection of its own, all from
      // 127.0.0.1, as hosts behind one NAT address would be: raised as
      // docs/operations.md advises for them.
      extraConfig: "ALLOW_ADMINISTRATOR = *@admins.tokend-test.example.org\n" +
        `TOKEND_MAX_CONNECTIONS_PER_PEER = ${requests + admins + 16}`,
    });
    const api = apiFor(daemon);
    // One API client, and so its own connections, per party.
    const apis: Api[] = [];
    const connection = () => {
      const own = apiFor(daemon);
      apis.push(own);
      return own;
    };
    try {
      await withSeed("concurrency", async (random) => {
        const enqueued: { id: string; secret: string }[] = [];
        for (let i = 0; i < requests; i++) {
          const answer = await api.enqueue({ clientId: `node-${i}` });
          assert.equal(answer.status, 201);
          enqueued.push({ id: answer.body.requestId as string, secret: answer.secret });
        }

        // The requesters: each waits in a long poll on its own connection.
        const requesterApi = connection();
        const waits = enqueued.map((r) =>
          requesterApi.post(`${LIST}/${r.id}/collect`, { secret: r.secret, waitSeconds: 30 })
        );
        await untilWaiting(daemon, requests);

        const decisions: { id: string; kind: string; answer: Answer }[] = [];
        const deciders = Array.from({ length: admins }, async (_, k) => {
          const adminApi = connection();
          const token = await daemon.mintToken(`admin${k}@admins.tokend-test.example.org`);
          for (const r of random.shuffle(enqueued)) {
            const kind = random.chance(0.5) ? "approve" : "deny";
            const body = kind === "deny" ? { reason: `no from admin${k}` } : {};
            const answer = await adminApi.post(`${LIST}/${r.id}/${kind}`, body, token);
            decisions.push({ id: r.id, kind, answer });
          }
        });
        const cancelApi = connection();
        const cancels = random.shuffle(enqueued).slice(0, Math.ceil(requests / 5)).map(
          async (r) => ({
            id: r.id,
            answer: await cancelApi.post(`${LIST}/${r.id}/cancel`, { secret: r.secret }),
          }),
        );
        await Promise.all(deciders);
        const cancelled = await Promise.all(cancels);
        const collected = await Promise.all(waits);

        const trail = readAuditTrail(testDaemonPaths(dir).stateDirectory);
        for (const [i, r] of enqueued.entries()) {
          const events = trail.filter((a) => a.request_id === r.id);
          const outcomes = events.filter((a) => ["approve", "deny", "cancel"].includes(a.event));
          assert.equal(
            outcomes.length,
            1,
            `${r.id}: ${JSON.stringify(events.map((e) => e.event))}`,
          );
          const outcome = outcomes[0].event;
          const issued = events.filter((a) => a.event === "issue").length;

          for (const d of decisions.filter((d) => d.id === r.id)) {
            const { status, body } = d.answer;
            assert.ok(status === 200 || status === 409, `${r.id} ${d.kind}: ${status}`);
            if (status === 409) assert.equal(body.error.code, "WRONG_STATE");
            if (status === 200 && d.kind === "approve") {
              assert.equal(outcome, "approve", `${r.id}: an approve succeeded after ${outcome}`);
            }
            if (status === 200 && d.kind === "deny") {
              assert.equal(outcome, "deny", `${r.id}: a deny succeeded after ${outcome}`);
            }
          }
          for (const c of cancelled.filter((c) => c.id === r.id)) {
            assert.ok([200, 409].includes(c.answer.status), `${r.id} cancel: ${c.answer.status}`);
            if (c.answer.status === 200) assert.equal(outcome, "cancel");
          }

          const seen = collected[i];
          assert.equal(seen.status, 200);
          if (outcome === "approve") {
            // The waiting poll got the token unless a cancel came between approval and collect.
            assert.ok(
              (seen.body.state === "collected" && typeof seen.body.token === "string") ||
                seen.body.state === "cancelled",
              `${r.id}: ${JSON.stringify(seen.body)}`,
            );
            assert.equal(issued, seen.body.token === undefined ? 0 : 1, r.id);
          } else {
            assert.equal(issued, 0, `${r.id}: a token for a ${outcome} request`);
            assert.equal(seen.body.token, undefined);
            assert.equal(seen.body.state, outcome === "deny" ? "denied" : "cancelled", r.id);
            if (outcome === "deny") assert.match(seen.body.reason, /^no from admin\d+$/);
          }
        }
      });
    } finally {
      apis.forEach((a) => a.close());
      api.close();
      await daemon.stop();
    }
  });
});
