/**
 * Auto-approval rules over HTTPS with HTCondor's exact semantics: what
 * matches, every way of not matching, the 60 s grace, and approving
 * matching pending requests when a rule is installed.
 */
import assert from "node:assert/strict";
import { untilWaiting } from "../_support/waiting_polls.ts";
import { FakeClock, payloadOf } from "./_api.ts";
import { withDaemon } from "./_daemon_fixture.ts";

const RULE = "/v1/auto-approval-rules";

Deno.test("condor_tokend issues at once when an auto-approval rule matches the enqueue", async () => {
  await withDaemon({}, async (daemon, api) => {
    const rule = await api.post(
      RULE,
      { netblock: "127.0.0.0/8", lifetime: 600 },
      daemon.adminToken,
    );
    assert.equal(rule.status, 200);
    assert.deepEqual([rule.body.netblock, rule.body.lifetime, rule.body.approved], [
      "127.0.0.0/8",
      600,
      [],
    ]);
    const enqueued = await api.enqueue({
      authz: ["ADVERTISE_STARTD", "ADVERTISE_MASTER"],
      lifetime: 300,
    });
    assert.equal(enqueued.status, 201);
    assert.equal(enqueued.body.state, "collected");
    const claims = payloadOf(enqueued.body.token);
    assert.equal(claims.sub, "condor@tokend-test.example.org");
    assert.equal(claims.scope, "condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER");
    assert.equal(Number(claims.exp) - Number(claims.iat), 300);
    // Handed over once: a collect finds it collected, with no token.
    const collect = await api.post(`/v1/token-requests/${enqueued.body.requestId}/collect`, {
      secret: enqueued.secret,
      waitSeconds: 0,
    });
    assert.deepEqual([collect.body.state, collect.body.token], ["collected", undefined]);
  });
});

Deno.test("condor_tokend does not auto-approve requests a rule must not match", async () => {
  await withDaemon({}, async (daemon, api) => {
    await api.post(RULE, { netblock: "127.0.0.1", lifetime: 600 }, daemon.adminToken);
    const cases = [
      { identity: "alice@tokend-test.example.org" }, // not condor@
      { identity: "condor_pool@tokend-test.example.org" },
      { authz: [] }, // no bounding set
      { authz: ["ADVERTISE_STARTD", "READ"] }, // more than advertising
      { authz: ["ADMINISTRATOR"] },
    ];
    for (const overrides of cases) {
      const answer = await api.enqueue(overrides);
      assert.equal(answer.status, 201, JSON.stringify(overrides));
      assert.equal(answer.body.state, "pending", JSON.stringify(overrides));
      assert.equal(answer.body.token, undefined);
    }
  });
});

Deno.test("condor_tokend does not auto-approve peers outside the rule's netblock", async () => {
  await withDaemon({}, async (daemon, api) => {
    for (const netblock of ["192.0.2.0/24", "10.*", "::1", "2001:db8::/32", "127.0.0.2"]) {
      const rule = await api.post(RULE, { netblock, lifetime: 600 }, daemon.adminToken);
      assert.equal(rule.status, 200, netblock);
    }
    const answer = await api.enqueue();
    assert.deepEqual([answer.body.state, answer.body.token], ["pending", undefined]);
  });
});

Deno.test("condor_tokend does not auto-approve requests made after the rule expired", async () => {
  const clock = new FakeClock();
  await withDaemon({ now: clock.now }, async (daemon, api) => {
    await api.post(RULE, { netblock: "127.0.0.1/32", lifetime: 60 }, daemon.adminToken);
    clock.advance(60);
    const atExpiry = await api.enqueue();
    assert.equal(atExpiry.body.state, "collected", "a request at the expiry second still matches");
    clock.advance(1);
    const after = await api.enqueue();
    assert.equal(after.body.state, "pending");
  });
});

Deno.test("condor_tokend's new rule approves pending requests made up to 60 s before it", async () => {
  const clock = new FakeClock();
  await withDaemon({ now: clock.now }, async (daemon, api) => {
    const old = await api.enqueue();
    clock.advance(1);
    const recent = await api.enqueue();
    const shortLived = await api.enqueue({ lifetime: 10 });
    const notCondor = await api.enqueue({ identity: "bob@tokend-test.example.org" });
    const waiting = api.post(`/v1/token-requests/${recent.body.requestId}/collect`, {
      secret: recent.secret,
      waitSeconds: 20,
    });
    // The rule is to wake a requester already waiting, not one that asks after it.
    await untilWaiting(daemon, 1);
    clock.advance(60); // `old` is now 61 s old, `recent` 60 s.
    const rule = await api.post(
      RULE,
      { netblock: "127.0.0.0/8", lifetime: 600 },
      daemon.adminToken,
    );
    assert.deepEqual(rule.body.approved, [recent.body.requestId]);
    const answer = await waiting;
    assert.equal(answer.body.state, "collected");
    assert.equal(payloadOf(answer.body.token).sub, "condor@tokend-test.example.org");

    const listed = await api.get("/v1/token-requests", daemon.adminToken);
    assert.deepEqual(
      listed.body.requests.map((r: { requestId: string }) => r.requestId).sort(),
      // `shortLived` asked for a 10 s token, and 60 s have passed: HTCondor will not auto-approve it.
      [old.body.requestId, shortLived.body.requestId, notCondor.body.requestId].sort(),
    );
  });
});

Deno.test("condor_tokend caps rule lifetimes and refuses bad rules with HTCondor's messages", async () => {
  await withDaemon(
    { extraConfig: "TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME = 300" },
    async (daemon, api) => {
      const capped = await api.post(
        RULE,
        { netblock: "192.0.2.0/24", lifetime: 7200 },
        daemon.adminToken,
      );
      assert.deepEqual([capped.status, capped.body.lifetime], [200, 300]);
      const zero = await api.post(
        RULE,
        { netblock: "192.0.2.0/24", lifetime: 0 },
        daemon.adminToken,
      );
      assert.deepEqual([zero.status, zero.body.error.code, zero.body.error.message], [
        400,
        "RULE_BAD_LIFETIME",
        "Auto-approval rule lifetimes must be greater than zero.",
      ]);
      for (const netblock of ["192.0.2.0/33", "not-a-net", "192.0.2.0/", "", "1.2.3.4.5"]) {
        const bad = await api.post(RULE, { netblock, lifetime: 60 }, daemon.adminToken);
        assert.deepEqual([bad.status, bad.body.error.code, bad.body.error.message], [
          400,
          "RULE_BAD_NETBLOCK",
          "Auto-approval rule netblock invalid.",
        ], netblock);
      }
    },
  );
});

Deno.test("condor_tokend lets only administrators install auto-approval rules", async () => {
  await withDaemon({}, async (daemon, api) => {
    const anonymous = await api.post(RULE, { netblock: "127.0.0.1", lifetime: 60 });
    assert.deepEqual([anonymous.status, anonymous.body.error.code], [401, "NOT_AUTHENTICATED"]);
    const user = await daemon.mintToken("condor@tokend-test.example.org", ["ADVERTISE_STARTD"]);
    const scoped = await api.post(RULE, { netblock: "127.0.0.1", lifetime: 60 }, user);
    assert.deepEqual([scoped.status, scoped.body.error.code], [403, "NOT_AUTHORIZED"]);
    const bob = await daemon.mintToken("bob@tokend-test.example.org");
    const plain = await api.post(RULE, { netblock: "127.0.0.1", lifetime: 60 }, bob);
    assert.deepEqual([plain.status, plain.body.error.code], [403, "NOT_AUTHORIZED"]);
    const still = await api.enqueue();
    assert.equal(still.body.state, "pending");
  });
});
