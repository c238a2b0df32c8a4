/**
 * kill -9 at random points: a workload of enqueues, approvals, denials,
 * auto-approval rules and collects runs against condor_tokend (its own
 * process, shipped permission flags) while real condor_token_request
 * processes wait for their tokens; the daemon is killed with SIGKILL at a
 * seeded random moment, restarted on the same port and state, and the
 * workload goes on; several times. Afterwards, from the database and the
 * API: nothing the daemon acknowledged (answered 2xx) is lost, no request
 * has two outcomes or two tokens, every token a client received is the
 * one on record, and the waiting requesters all get their tokens.
 *
 * tests/e2e/tokend_crash_test.ts kills once during a burst of enqueues;
 * this covers every kind of change and repeated kills.
 * CONDOR_TOKEN_HEAVY=1 kills ten times; CONDOR_TOKEN_SEED=N replays a run.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { decodeToken } from "../../src/token/idtoken.ts";
import { readAuditTrail } from "../_support/audit_trail.ts";
import { spawnTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor, newSecret } from "../_support/api.ts";
import { adminClient, Requester, spawnDaemonOnPort } from "../e2e/_token_request.ts";
import { heavy, type Random, withSeed } from "./_support.ts";

const LIST = "/v1/token-requests";
const NETBLOCKS = ["198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/25", "2001:db8::/32"];

/** What the daemon acknowledged, as the clients saw it. */
interface Acknowledged {
  enqueued: Map<string, string>; // id -> secret
  approved: Set<string>;
  denied: Set<string>;
  rules: string[];
  tokens: Map<string, string[]>; // id -> tokens received
}

/** Runs the mixed workload until `stop()` is true; failures are simply unacknowledged. */
async function workload(
  url: string,
  certPem: string,
  adminToken: string,
  random: Random,
  ack: Acknowledged,
  stop: () => boolean,
): Promise<void> {
  // Each worker on connections of its own.
  const api = apiFor({ url, certPem }, { timeoutMs: 10_000 });
  const post = api.post;
  const undecided = () =>
    [...ack.enqueued.keys()].filter((id) => !ack.approved.has(id) && !ack.denied.has(id));
  try {
    while (!stop()) {
      const dice = random.int(10);
      try {
        if (dice < 4 || undecided().length === 0) {
          const secret = newSecret();
          const answer = await post(LIST, {
            identity: "condor@tokend-test.example.org",
            authz: ["ADVERTISE_STARTD"],
            lifetime: 3600,
            clientId: "faults",
            secret,
          });
          if (answer.status === 201) ack.enqueued.set(answer.body.requestId, secret);
        } else if (dice < 6) {
          const id = random.pick(undecided());
          const answer = await post(`${LIST}/${id}/approve`, {}, adminToken);
          if (answer.status === 200 && answer.body.state === "approved") ack.approved.add(id);
        } else if (dice < 7) {
          const id = random.pick(undecided());
          const answer = await post(`${LIST}/${id}/deny`, { reason: "faults" }, adminToken);
          if (answer.status === 200) ack.denied.add(id);
        } else if (dice < 8) {
          const netblock = random.pick(NETBLOCKS);
          const answer = await post(
            "/v1/auto-approval-rules",
            { netblock, lifetime: 3600 },
            adminToken,
          );
          if (answer.status === 200) ack.rules.push(answer.body.netblock);
        } else {
          const ready = [...ack.approved].filter((id) => !ack.tokens.has(id));
          if (ready.length === 0) continue;
          const id = random.pick(ready);
          const answer = await post(`${LIST}/${id}/collect`, {
            secret: ack.enqueued.get(id),
            waitSeconds: 0,
          });
          if (typeof answer.body.token === "string") {
            ack.tokens.set(id, [...(ack.tokens.get(id) ?? []), answer.body.token]);
          }
        }
      } catch {
        // The daemon died under this call: it was never acknowledged.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } finally {
    api.close();
  }
}

Deno.test("kill -9 at random points loses nothing acknowledged and never issues twice", async () => {
  const kills = heavy() ? 10 : 3;
  await withTempDir(async (dir) => {
    await withSeed("faults", async (random) => {
      const first = await spawnTestDaemon({ dir });
      const port = Number(new URL(first.url).port);
      let current: { url: string; kill: () => Promise<unknown> } = {
        url: first.url,
        kill: () => first.kill("SIGKILL"),
      };
      const ack: Acknowledged = {
        enqueued: new Map(),
        approved: new Set(),
        denied: new Set(),
        rules: [],
        tokens: new Map(),
      };
      const requesters = Array.from(
        { length: 3 },
        () => new Requester(["-authz", "READ", "-lifetime", "600"], first.env),
      );
      try {
        const waiting = await Promise.all(requesters.map((r) => r.requestId()));
        for (let round = 0; round <= kills; round++) {
          let stopped = false;
          const workers = Array.from(
            { length: 4 },
            () =>
              workload(current.url, first.certPem, first.adminToken, random, ack, () => stopped),
          );
          await new Promise((resolve) => setTimeout(resolve, 150 + random.int(600)));
          if (round < kills) await current.kill();
          stopped = true;
          await Promise.all(workers);
          if (round < kills) {
            const next = await spawnDaemonOnPort(dir, port);
            current = { url: next.url, kill: () => next.stop("SIGKILL") };
          }
        }
        assert.ok(ack.enqueued.size > 10, `only ${ack.enqueued.size} requests acknowledged`);

        // The requesters waited through every kill; approve them now.
        const admin = adminClient({ ...first, url: current.url });
        try {
          for (const id of waiting) assert.equal((await admin.approve(id)).state, "approved");
        } finally {
          admin.close();
        }
        for (const r of requesters) {
          const result = await r.done;
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
        }
        await current.kill();

        const db = new DatabaseSync(`${testDaemonPaths(dir).stateDirectory}/tokend.sqlite`, {
          readOnly: true,
        });
        try {
          const state = (id: string) =>
            (db.prepare("SELECT state FROM requests WHERE id = ? ORDER BY seq DESC LIMIT 1")
              .get(id) as { state: string } | undefined)?.state;
          for (const id of ack.enqueued.keys()) assert.ok(state(id), `enqueue of ${id} lost`);
          for (const id of ack.approved) {
            assert.ok(["approved", "collected"].includes(state(id)!), `approval of ${id} lost`);
          }
          for (const id of ack.denied) assert.equal(state(id), "denied", `denial of ${id} lost`);
          const rules = (db.prepare("SELECT netblock FROM rules").all() as { netblock: string }[])
            .map((r) => r.netblock);
          for (const netblock of ack.rules) assert.ok(rules.includes(netblock), netblock);
          assert.ok(rules.length >= ack.rules.length, "every acknowledged rule is kept");

          const audit = readAuditTrail(testDaemonPaths(dir).stateDirectory);
          const byRequest = Map.groupBy(
            audit.filter((a) => a.request_id !== null),
            (a) => a.request_id!,
          );
          for (const [id, events] of byRequest) {
            const outcomes = events.filter((e) => ["approve", "deny", "cancel"].includes(e.event));
            assert.ok(outcomes.length <= 1, `${id}: ${outcomes.map((e) => e.event)}`);
            const issued = events.filter((e) => e.event === "issue");
            assert.ok(issued.length <= 1, `${id} was issued ${issued.length} tokens`);
          }
          for (const [id, tokens] of ack.tokens) {
            assert.equal(tokens.length, 1, `${id} handed over ${tokens.length} tokens`);
            const issued = (byRequest.get(id) ?? []).filter((e) => e.event === "issue");
            assert.equal(issued.length, 1, `${id}: a token went out without its record`);
            const jti = (decodeToken(tokens[0]).payload as { jti: string }).jti;
            assert.equal(JSON.parse(issued[0].detail).jti, jti, `${id}: another token on record`);
          }
          for (const id of waiting) {
            const issued = (byRequest.get(id) ?? []).filter((e) => e.event === "issue");
            assert.equal(issued.length, 1, `requester's ${id}`);
          }
        } finally {
          db.close();
        }
      } finally {
        await Promise.all(requesters.map((r) => r.stop()));
        await current.kill();
        await first.kill("SIGKILL");
      }
    });
  });
});
