/**
 * Auto-approval rules over HTTPS with HTCondor's exact semantics: what
 * matches, every way of not matching, the 60 s grace, and approving
 * matching pending requests when a rule is installed.
 */
import assert from "node:assert/strict";
import { readAuditTrail } from "../_support/audit_trail.ts";
import { startTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { untilWaiting } from "../_support/waiting_polls.ts";
import { apiFor, FakeClock, payloadOf } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

const RULE = "/v1/auto-approval-rules";

Deno.test("condor_tokend issues at once when an auto-approval rule matches the enqueue", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
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
  await withDaemon({}, async ({ daemon, api }) => {
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
  await withDaemon({}, async ({ daemon, api }) => {
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
  await withDaemon({ now: clock.now }, async ({ daemon, api }) => {
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
  await withDaemon({ now: clock.now }, async ({ daemon, api }) => {
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
    async ({ daemon, api }) => {
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
  await withDaemon({}, async ({ daemon, api }) => {
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

Deno.test("condor_tokend lists the rules in force with who made them and how many requests each approved", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const empty = await api.get(RULE, daemon.adminToken);
    assert.deepEqual([empty.status, empty.body], [200, { rules: [] }]);
    // One pending request the first rule approves as it is installed, one it approves on arrival.
    await api.enqueue();
    const before = Math.floor(Date.now() / 1000);
    const first = await api.post(
      RULE,
      { netblock: "127.0.0.0/8", lifetime: 600 },
      daemon.adminToken,
    );
    assert.equal(first.status, 200);
    assert.equal(first.body.approved.length, 1);
    assert.equal(typeof first.body.ruleId, "number");
    assert.equal((await api.enqueue()).body.state, "collected");
    const second = await api.post(
      RULE,
      { netblock: "192.0.2.0/24", lifetime: 60 },
      daemon.adminToken,
    );

    const listed = await api.get(RULE, daemon.adminToken);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.rules.map((r: Record<string, unknown>) => ({ ...r, createdAt: 0, expiresAt: 0 })),
      [
        {
          ruleId: first.body.ruleId,
          netblock: "127.0.0.0/8",
          createdBy: "admin@tokend-test.example.org",
          createdAt: 0,
          expiresAt: 0,
          approved: 2,
          held: false,
          windowApproved: 2,
        },
        {
          ruleId: second.body.ruleId,
          netblock: "192.0.2.0/24",
          createdBy: "admin@tokend-test.example.org",
          createdAt: 0,
          expiresAt: 0,
          approved: 0,
          held: false,
          windowApproved: 0,
        },
      ],
    );
    const [rule] = listed.body.rules;
    assert.ok(rule.createdAt >= before);
    assert.equal(rule.expiresAt - rule.createdAt, 600);
  });
});

Deno.test("condor_tokend removes a rule for an administrator, audited, and it approves nothing more", async () => {
  await withDaemon({}, async ({ daemon, api, dir }) => {
    const rule = await api.post(
      RULE,
      { netblock: "127.0.0.0/8", lifetime: 600 },
      daemon.adminToken,
    );
    assert.equal((await api.enqueue()).body.state, "collected");

    const bob = await daemon.mintToken("bob@tokend-test.example.org");
    for (
      const [token, status, code] of [[undefined, 401, "NOT_AUTHENTICATED"], [
        bob,
        403,
        "NOT_AUTHORIZED",
      ]] as const
    ) {
      const listed = await api.get(RULE, token);
      assert.deepEqual([listed.status, listed.body.error.code], [status, code]);
      const removed = await api.call("DELETE", `${RULE}/${rule.body.ruleId}`, { token });
      assert.deepEqual([removed.status, removed.body.error.code], [status, code]);
    }
    assert.equal((await api.get(RULE, daemon.adminToken)).body.rules.length, 1);

    const removed = await api.call("DELETE", `${RULE}/${rule.body.ruleId}`, {
      token: daemon.adminToken,
    });
    assert.equal(removed.status, 200);
    assert.deepEqual([removed.body.ruleId, removed.body.netblock, removed.body.approved], [
      rule.body.ruleId,
      "127.0.0.0/8",
      1,
    ]);
    assert.deepEqual((await api.get(RULE, daemon.adminToken)).body.rules, []);
    assert.equal((await api.enqueue()).body.state, "pending", "the rule no longer approves");

    const again = await api.call("DELETE", `${RULE}/${rule.body.ruleId}`, {
      token: daemon.adminToken,
    });
    assert.deepEqual([again.status, again.body.error.code], [404, "RULE_UNKNOWN"]);
    for (const bad of ["0", "x", "1.5", "-1", "%ZZ"]) {
      const answer = await api.call("DELETE", `${RULE}/${bad}`, { token: daemon.adminToken });
      assert.deepEqual([answer.status, answer.body.error.code], [400, "BAD_RULE_ID"], bad);
    }
    const wrongMethod = await api.post(`${RULE}/${rule.body.ruleId}`, {}, daemon.adminToken);
    assert.deepEqual([wrongMethod.status, wrongMethod.headers.get("allow")], [405, "DELETE"]);

    const audit = readAuditTrail(testDaemonPaths(dir).stateDirectory);
    const removal = audit.filter((r) => r.event === "rule-remove");
    assert.equal(removal.length, 1);
    assert.deepEqual(JSON.parse(removal[0].detail), {
      rule: rule.body.ruleId,
      netblock: "127.0.0.0/8",
      createdBy: "admin@tokend-test.example.org",
      expiresAt: JSON.parse(removal[0].detail).expiresAt,
      approved: 1,
    });
  });
});

Deno.test("condor_tokend's rules survive a restart, and are removed for good", async () => {
  await withTempDir(async (dir) => {
    let daemon = await startTestDaemon({ dir });
    let api = apiFor(daemon);
    try {
      const kept = await api.post(
        RULE,
        { netblock: "127.0.0.0/8", lifetime: 600 },
        daemon.adminToken,
      );
      const gone = await api.post(
        RULE,
        { netblock: "192.0.2.0/24", lifetime: 600 },
        daemon.adminToken,
      );
      await api.call("DELETE", `${RULE}/${gone.body.ruleId}`, { token: daemon.adminToken });
      api.close();
      await daemon.close();
      daemon = await startTestDaemon({ dir });
      api = apiFor(daemon);
      const listed = await api.get(RULE, daemon.adminToken);
      assert.deepEqual(listed.body.rules.map((r: { ruleId: number }) => r.ruleId), [
        kept.body.ruleId,
      ]);
      // A new rule gets a new ID: the removed one's is not reused.
      const next = await api.post(
        RULE,
        { netblock: "198.51.100.0/24", lifetime: 60 },
        daemon.adminToken,
      );
      assert.ok(next.body.ruleId > gone.body.ruleId);
    } finally {
      api.close();
      await daemon.close();
    }
  });
});
