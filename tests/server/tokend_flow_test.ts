/**
 * The request workflow against a real in-process daemon over HTTPS on a
 * loopback port: enqueue, list, approve, collect, deny, cancel, expiry.
 */
import assert from "node:assert/strict";
import { MAX_WAIT_SECONDS } from "../../src/api/protocol.ts";
import { readSigningKey } from "../../src/token/signing_key.ts";
import { verifyToken } from "../../src/token/idtoken.ts";
import { SqliteStore } from "../../src/server/store/sqlite/sqlite_store.ts";
import { TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { untilWaiting } from "../_support/waiting_polls.ts";
import { FakeClock, payloadOf } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

Deno.test("condor_tokend enqueues, lists, approves and hands the token over exactly once", async () => {
  await withDaemon({}, async ({ daemon, api, dir }) => {
    const enqueued = await api.enqueue({
      identity: "alice@tokend-test.example.org",
      authz: ["READ", "WRITE"],
      lifetime: 600,
    });
    assert.equal(enqueued.status, 201);
    assert.match(enqueued.body.requestId, /^\d{7}$/);
    assert.equal(enqueued.body.state, "pending");
    const id = enqueued.body.requestId;

    const listed = await api.get("/v1/token-requests", daemon.adminToken);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.requests.length, 1);
    const info = listed.body.requests[0];
    assert.equal(info.requestId, id);
    assert.equal(info.requestedIdentity, "alice@tokend-test.example.org");
    assert.equal(info.authenticatedIdentity, "anonymous@ssl");
    assert.equal(info.peerLocation, "127.0.0.1");
    assert.equal(info.clientId, "worker-17");
    assert.deepEqual(info.authorizations, ["READ", "WRITE"]);
    assert.equal(info.lifetime, 600);

    const pending = await api.post(`/v1/token-requests/${id}/collect`, {
      secret: enqueued.secret,
      waitSeconds: 0,
    });
    assert.deepEqual([pending.status, pending.body.state, pending.body.token], [
      200,
      "pending",
      undefined,
    ]);

    const approved = await api.post(
      `/v1/token-requests/${id}/approve`,
      undefined,
      daemon.adminToken,
    );
    assert.deepEqual(approved.body, { requestId: id, state: "approved" });
    const again = await api.post(`/v1/token-requests/${id}/approve`, undefined, daemon.adminToken);
    assert.deepEqual([again.status, again.body.state], [200, "approved"]);

    const collected = await api.post(`/v1/token-requests/${id}/collect`, {
      secret: enqueued.secret,
      waitSeconds: 0,
    });
    assert.equal(collected.body.state, "collected");
    const key = await readSigningKey("POOL", {
      poolKeyFile: testDaemonPaths(dir).poolKeyFile,
      passwordDirectory: testDaemonPaths(dir).passwordDirectory,
    });
    const verified = await verifyToken(collected.body.token, () => Promise.resolve(key), {
      issuer: TEST_TRUST_DOMAIN,
      now: Math.floor(Date.now() / 1000),
    });
    assert.equal(verified.claims.sub, "alice@tokend-test.example.org");
    assert.deepEqual(verified.authz, ["READ", "WRITE"]);
    assert.equal(verified.claims.exp! - verified.claims.iat, 600);

    const second = await api.post(`/v1/token-requests/${id}/collect`, {
      secret: enqueued.secret,
      waitSeconds: 0,
    });
    assert.deepEqual([second.body.state, second.body.token], ["collected", undefined]);
    const reapproved = await api.post(
      `/v1/token-requests/${id}/approve`,
      undefined,
      daemon.adminToken,
    );
    assert.deepEqual([reapproved.status, reapproved.body.state], [200, "collected"]);
    assert.deepEqual((await api.get("/v1/token-requests", daemon.adminToken)).body.requests, []);
  });
});

Deno.test("condor_tokend gives one token when many collects race for an approved request", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { body, secret } = await api.enqueue();
    await api.post(`/v1/token-requests/${body.requestId}/approve`, undefined, daemon.adminToken);
    const answers = await Promise.all(
      Array.from(
        { length: 8 },
        () => api.post(`/v1/token-requests/${body.requestId}/collect`, { secret, waitSeconds: 0 }),
      ),
    );
    assert.equal(answers.filter((a) => a.body.token !== undefined).length, 1);
    assert.ok(answers.every((a) => a.status === 200 && a.body.state === "collected"));
  });
});

Deno.test("condor_tokend answers a waiting collect as soon as the request is approved", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { body, secret } = await api.enqueue();
    const waiting = api.post(`/v1/token-requests/${body.requestId}/collect`, {
      secret,
      waitSeconds: MAX_WAIT_SECONDS,
    });
    await untilWaiting(daemon, 1);
    const start = performance.now();
    await api.post(`/v1/token-requests/${body.requestId}/approve`, undefined, daemon.adminToken);
    const answer = await waiting;
    const latency = performance.now() - start;
    assert.equal(answer.body.state, "collected");
    assert.ok(answer.body.token);
    assert.ok(latency < 1000, `approval reached the requester after ${latency} ms`);
  });
});

Deno.test("condor_tokend answers a long poll with 'pending' after the wait", async () => {
  await withDaemon({}, async ({ api }) => {
    const { body, secret } = await api.enqueue();
    const start = performance.now();
    const answer = await api.post(`/v1/token-requests/${body.requestId}/collect`, {
      secret,
      waitSeconds: 0.3,
    });
    const waited = performance.now() - start;
    assert.equal(answer.body.state, "pending");
    assert.ok(waited >= 250, `answered after ${waited} ms`);
  });
});

Deno.test("condor_tokend denies with a reason that reaches the waiting requester", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { body, secret } = await api.enqueue();
    const waiting = api.post(`/v1/token-requests/${body.requestId}/collect`, {
      secret,
      waitSeconds: 10,
    });
    await untilWaiting(daemon, 1);
    const denied = await api.post(
      `/v1/token-requests/${body.requestId}/deny`,
      { reason: "unknown host" },
      daemon.adminToken,
    );
    assert.deepEqual(denied.body, { requestId: body.requestId, state: "denied" });
    const answer = await waiting;
    assert.deepEqual([answer.body.state, answer.body.reason, answer.body.token], [
      "denied",
      "unknown host",
      undefined,
    ]);
    const approve = await api.post(
      `/v1/token-requests/${body.requestId}/approve`,
      undefined,
      daemon.adminToken,
    );
    assert.deepEqual([approve.status, approve.body.error.code, approve.body.error.message], [
      409,
      "WRONG_STATE",
      "Request in incorrect state.",
    ]);
  });
});

Deno.test("condor_tokend lets only the requester cancel, and then never issues", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { body, secret } = await api.enqueue();
    const wrong = await api.post(`/v1/token-requests/${body.requestId}/cancel`, {
      secret: "x".repeat(43),
    });
    assert.deepEqual([wrong.status, wrong.body.error.code], [403, "SECRET_INCORRECT"]);
    const cancelled = await api.post(`/v1/token-requests/${body.requestId}/cancel`, { secret });
    assert.deepEqual(cancelled.body, { requestId: body.requestId, state: "cancelled" });
    const twice = await api.post(`/v1/token-requests/${body.requestId}/cancel`, { secret });
    assert.deepEqual([twice.status, twice.body.state], [200, "cancelled"]);
    const approve = await api.post(
      `/v1/token-requests/${body.requestId}/approve`,
      undefined,
      daemon.adminToken,
    );
    assert.equal(approve.status, 409);
    const collect = await api.post(`/v1/token-requests/${body.requestId}/collect`, {
      secret,
      waitSeconds: 0,
    });
    assert.deepEqual([collect.body.state, collect.body.token], ["cancelled", undefined]);
  });
});

Deno.test("condor_tokend returns the same request when the same secret is enqueued again", async () => {
  await withDaemon({}, async ({ api }) => {
    const first = await api.enqueue();
    const retry = await api.enqueue({ secret: first.secret });
    assert.deepEqual([first.status, retry.status], [201, 200]);
    assert.equal(retry.body.requestId, first.body.requestId);
    const other = await api.enqueue();
    assert.notEqual(other.body.requestId, first.body.requestId);
  });
});

Deno.test("condor_tokend refuses to collect with the wrong secret or an unknown id", async () => {
  await withDaemon({}, async ({ api }) => {
    const { body } = await api.enqueue();
    const wrong = await api.post(`/v1/token-requests/${body.requestId}/collect`, {
      secret: "y".repeat(43),
      waitSeconds: 0,
    });
    assert.deepEqual([wrong.status, wrong.body.error.code], [403, "SECRET_INCORRECT"]);
    const unknownId = body.requestId === "0000000" ? "0000001" : "0000000";
    const unknown = await api.post(`/v1/token-requests/${unknownId}/collect`, {
      secret: "y".repeat(43),
      waitSeconds: 0,
    });
    assert.deepEqual([unknown.status, unknown.body.error.code, unknown.body.error.message], [
      404,
      "REQUEST_UNKNOWN",
      "Request ID is not known.",
    ]);
  });
});

Deno.test("condor_tokend expires a pending request SEC_TOKEN_REQUEST_LIFETIME after it was made", async () => {
  const clock = new FakeClock();
  await withDaemon(
    { now: clock.now, extraConfig: "SEC_TOKEN_REQUEST_LIFETIME = 120" },
    async ({ daemon, api, dir }) => {
      const { body, secret } = await api.enqueue();
      assert.equal(body.expiresAt, Math.floor(clock.ms / 1000) + 120);
      clock.advance(119);
      const still = await api.post(`/v1/token-requests/${body.requestId}/collect`, {
        secret,
        waitSeconds: 0,
      });
      assert.equal(still.body.state, "pending");
      clock.advance(1);
      const expired = await api.post(`/v1/token-requests/${body.requestId}/collect`, {
        secret,
        waitSeconds: 0,
      });
      assert.equal(expired.body.state, "expired");
      const approve = await api.post(
        `/v1/token-requests/${body.requestId}/approve`,
        undefined,
        daemon.adminToken,
      );
      assert.equal(approve.status, 409);
      const events = await auditEvents(dir, body.requestId);
      assert.deepEqual(events, ["enqueue", "expire"]);
    },
  );
});

Deno.test("condor_tokend forgets an approved request that is not collected in time", async () => {
  const clock = new FakeClock();
  await withDaemon(
    { now: clock.now, extraConfig: "SEC_TOKEN_REQUEST_LIFETIME = 100" },
    async ({ daemon, api, dir }) => {
      const { body, secret } = await api.enqueue();
      clock.advance(90);
      await api.post(`/v1/token-requests/${body.requestId}/approve`, undefined, daemon.adminToken);
      clock.advance(99);
      const listed = await api.get("/v1/token-requests", daemon.adminToken);
      assert.deepEqual(listed.body.requests, []);
      clock.advance(1);
      const late = await api.post(`/v1/token-requests/${body.requestId}/collect`, {
        secret,
        waitSeconds: 0,
      });
      assert.deepEqual([late.body.state, late.body.token], ["expired", undefined]);
      assert.deepEqual(await auditEvents(dir, body.requestId), ["enqueue", "approve", "expire"]);
    },
  );
});

Deno.test("condor_tokend's sweep expires requests and wakes their waiting requesters", async () => {
  const clock = new FakeClock();
  await withDaemon(
    { now: clock.now, extraConfig: "SEC_TOKEN_REQUEST_LIFETIME = 60" },
    async ({ daemon, api }) => {
      const { body, secret } = await api.enqueue();
      const waiting = api.post(`/v1/token-requests/${body.requestId}/collect`, {
        secret,
        waitSeconds: 20,
      });
      await untilWaiting(daemon, 1);
      clock.advance(61);
      const start = performance.now();
      assert.equal(await daemon.sweep(), 1);
      const answer = await waiting;
      assert.equal(answer.body.state, "expired");
      assert.ok(performance.now() - start < 1000);
    },
  );
});

Deno.test("condor_tokend's audit trail records every decision and never a token or secret", async () => {
  await withDaemon({}, async ({ daemon, api, dir }) => {
    const a = await api.enqueue();
    await api.post(`/v1/token-requests/${a.body.requestId}/approve`, undefined, daemon.adminToken);
    const collected = await api.post(`/v1/token-requests/${a.body.requestId}/collect`, {
      secret: a.secret,
      waitSeconds: 0,
    });
    const b = await api.enqueue();
    await api.post(
      `/v1/token-requests/${b.body.requestId}/deny`,
      { reason: "no" },
      daemon.adminToken,
    );
    const c = await api.enqueue();
    await api.post(`/v1/token-requests/${c.body.requestId}/cancel`, { secret: c.secret });
    assert.deepEqual(await auditEvents(dir, a.body.requestId), ["enqueue", "approve", "issue"]);
    assert.deepEqual(await auditEvents(dir, b.body.requestId), ["enqueue", "deny"]);
    assert.deepEqual(await auditEvents(dir, c.body.requestId), ["enqueue", "cancel"]);

    const jti = payloadOf(collected.body.token).jti;
    const store = await SqliteStore.open(`${testDaemonPaths(dir).stateDirectory}/tokend.sqlite`);
    try {
      const all = JSON.stringify(await store.auditTrail());
      assert.ok(all.includes(String(jti)), "the issue record names the jti");
      for (const secret of [a.secret, b.secret, c.secret, collected.body.token]) {
        assert.ok(!all.includes(secret));
      }
      const issue = (await store.auditTrail(a.body.requestId)).find((r) => r.event === "issue")!;
      assert.equal(issue.detail?.jti, jti);
    } finally {
      await store.close();
    }
  });
});

async function auditEvents(dir: string, requestId: string): Promise<string[]> {
  const store = await SqliteStore.open(`${testDaemonPaths(dir).stateDirectory}/tokend.sqlite`);
  try {
    return (await store.auditTrail(requestId)).map((r) => r.event);
  } finally {
    await store.close();
  }
}
