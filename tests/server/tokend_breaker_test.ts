/**
 * The circuit breaker on auto-approval (issue 16.4): past
 * TOKEND_AUTO_APPROVE_MAX_PER_RULE (or _MAX_TOTAL) approvals in a window,
 * matching requests stay pending; the hold is logged, audited and notified
 * once, shown in the rule list and /metrics, ends with the window or on
 * `POST .../resume`, and is counted together by two daemons on one database.
 */
import assert from "node:assert/strict";
import { startTestDaemon, type TestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../_support/webhook_receiver.ts";
import { type Api, apiFor, FakeClock } from "../_support/api.ts";

/** A daemon whose log and notifications the test sees. */
async function withBreakerDaemon(
  extraConfig: string,
  fn: (ctx: {
    daemon: TestDaemon;
    api: Api;
    log: string[];
    receiver: WebhookReceiver;
    clock: FakeClock;
  }) => Promise<void>,
): Promise<void> {
  const receiver = await startWebhookReceiver({ plain: true });
  // At the start of a window, so that the test does not cross into the next.
  const clock = new FakeClock(Math.ceil(Date.now() / 600_000) * 600_000 + 1000);
  try {
    await withTempDir(async (dir) => {
      const log: string[] = [];
      const daemon = await startTestDaemon({
        dir,
        now: clock.now,
        log: (line) => log.push(line),
        extraConfig: `TOKEND_NOTIFY_URL = ${receiver.url}\n${extraConfig}`,
      });
      const api = apiFor(daemon);
      try {
        await fn({ daemon, api, log, receiver, clock });
      } finally {
        api.close();
        await daemon.close();
      }
    });
  } finally {
    await receiver.close();
  }
}

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}

Deno.test("breaker: past TOKEND_AUTO_APPROVE_MAX_PER_RULE a rule's requests stay pending; held once (log, audit, notification, list, metrics); resume lets it approve again", async () => {
  await withBreakerDaemon(
    "TOKEND_AUTO_APPROVE_MAX_PER_RULE = 3",
    async ({ daemon, api, log, receiver }) => {
      const rule = await api.post(
        "/v1/auto-approval-rules",
        { netblock: "127.0.0.1/32", lifetime: 3600 },
        daemon.adminToken,
      );
      assert.equal(rule.status, 200);
      const ruleId = rule.body.ruleId;
      for (let i = 0; i < 3; i++) {
        const r = await api.enqueue();
        assert.equal(r.body.state, "collected");
        assert.ok(r.body.token);
      }
      const held = [await api.enqueue(), await api.enqueue()];
      for (const r of held) {
        assert.equal(r.status, 201);
        assert.equal(r.body.state, "pending", "held for a human, not refused");
        assert.equal(r.body.token, undefined);
      }
      assert.equal(log.filter((l) => l.startsWith("audit rule-hold")).length, 1, log.join("\n"));
      assert.match(log.find((l) => l.startsWith("audit rule-hold"))!, /limit="rule" max=3/);
      await until("notifications", () => receiver.events().includes("rule.held"));
      await until(
        "pending notifications",
        () => receiver.events().filter((e) => e === "request.pending").length === 2,
      );
      assert.equal(receiver.events().filter((e) => e === "rule.held").length, 1);
      const heldNote = receiver.delivered.find((d) => d.payload.event === "rule.held")!.payload;
      assert.match(String(heldNote.text), /-resume \d+/);

      const list = await api.get("/v1/auto-approval-rules", daemon.adminToken);
      assert.equal(list.body.rules[0].held, true);
      assert.equal(list.body.rules[0].heldBy, "rule");
      assert.equal(list.body.rules[0].windowApproved, 3);
      assert.equal(list.body.rules[0].approved, 3);
      const metrics = (await api.get("/metrics")).body as string;
      assert.equal(metric(metrics, "condor_tokend_auto_approval_rules_held"), 1);
      assert.equal(metric(metrics, "condor_tokend_auto_approval_total_held"), 0);

      // Only an administrator resumes; an unknown rule is a 404.
      const user = await daemon.mintToken("alice@tokend-test.example.org");
      assert.equal(
        (await api.post(`/v1/auto-approval-rules/${ruleId}/resume`, undefined, user)).status,
        403,
      );
      assert.equal((await api.post(`/v1/auto-approval-rules/${ruleId}/resume`)).status, 401);
      const unknown = await api.post(
        "/v1/auto-approval-rules/999/resume",
        undefined,
        daemon.adminToken,
      );
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "RULE_UNKNOWN");
      const resumed = await api.post(
        `/v1/auto-approval-rules/${ruleId}/resume`,
        undefined,
        daemon.adminToken,
      );
      assert.equal(resumed.status, 200);
      assert.equal(resumed.body.held, false);
      assert.ok(log.some((l) => l.startsWith("audit rule-resume") && l.includes('actor="admin@')));
      await until("resumed notification", () => receiver.events().includes("rule.resumed"));
      const again = await api.enqueue();
      assert.ok(again.body.token, "approves again");
      // What was held stays pending for a human.
      const pending = await api.get("/v1/token-requests", daemon.adminToken);
      assert.deepEqual(
        pending.body.requests.map((r: { requestId: string }) => r.requestId).sort(),
        held.map((r) => r.body.requestId).sort(),
      );
      assert.equal(
        metric(
          (await api.get("/metrics")).body as string,
          "condor_tokend_auto_approval_rules_held",
        ),
        0,
      );
    },
  );
});

Deno.test("breaker: a new window resumes a held rule by itself; TOKEND_AUTO_APPROVE_MAX_TOTAL holds all rules together", async () => {
  await withBreakerDaemon(
    "TOKEND_AUTO_APPROVE_MAX_PER_RULE = 0\nTOKEND_AUTO_APPROVE_MAX_TOTAL = 2\nTOKEND_AUTO_APPROVE_INTERVAL = 600",
    async ({ daemon, api, log, clock }) => {
      for (const netblock of ["127.0.0.1/32", "127.0.0.0/8"]) {
        assert.equal(
          (await api.post(
            "/v1/auto-approval-rules",
            { netblock, lifetime: 3600 },
            daemon.adminToken,
          ))
            .status,
          200,
        );
      }
      assert.ok((await api.enqueue()).body.token);
      assert.ok((await api.enqueue()).body.token);
      assert.equal((await api.enqueue()).body.state, "pending");
      assert.equal((await api.enqueue()).body.state, "pending");
      assert.equal(log.filter((l) => l.startsWith("audit rule-hold")).length, 1);
      assert.match(log.find((l) => l.startsWith("audit rule-hold"))!, /limit="total" max=2/);
      const list = await api.get("/v1/auto-approval-rules", daemon.adminToken);
      assert.deepEqual(list.body.rules.map((r: { heldBy: string }) => r.heldBy), [
        "total",
        "total",
      ]);
      assert.equal(
        metric(
          (await api.get("/metrics")).body as string,
          "condor_tokend_auto_approval_total_held",
        ),
        1,
      );
      clock.advance(600);
      assert.ok((await api.enqueue()).body.token, "the next window approves again");
      assert.ok(
        log.some((l) => l.startsWith("audit rule-resume") && l.includes('actor="daemon"')),
        log.join("\n"),
      );
    },
  );
});

Deno.test("breaker: a rule installed while requests wait approves only up to the limit", async () => {
  await withBreakerDaemon("TOKEND_AUTO_APPROVE_MAX_PER_RULE = 2", async ({ daemon, api }) => {
    for (let i = 0; i < 4; i++) await api.enqueue();
    const rule = await api.post(
      "/v1/auto-approval-rules",
      { netblock: "127.0.0.1/32", lifetime: 3600 },
      daemon.adminToken,
    );
    assert.equal(rule.body.approved.length, 2);
    const pending = await api.get("/v1/token-requests", daemon.adminToken);
    assert.equal(pending.body.requests.length, 2);
  });
});

Deno.test("breaker: two daemons on one PostgreSQL database count together and record the hold once", async () => {
  const receiver = await startWebhookReceiver({ plain: true });
  try {
    await withTestDatabase(async (url) => {
      await withTempDir(async (dir) => {
        const config =
          `TOKEND_DATABASE = ${url}\nTOKEND_AUTO_APPROVE_MAX_PER_RULE = 5\nTOKEND_NOTIFY_URL = ${receiver.url}`;
        const logs: string[] = [];
        const a = await startTestDaemon({
          dir: `${dir}/a`,
          extraConfig: config,
          log: (l) => logs.push(l),
        });
        await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
        await Deno.copyFile(
          testDaemonPaths(`${dir}/a`).poolKeyFile,
          testDaemonPaths(`${dir}/b`).poolKeyFile,
        );
        const b = await startTestDaemon({
          dir: `${dir}/b`,
          extraConfig: config,
          log: (l) => logs.push(l),
        });
        const apiA = apiFor(a);
        const apiB = apiFor(b);
        try {
          await apiA.post(
            "/v1/auto-approval-rules",
            { netblock: "127.0.0.1/32", lifetime: 3600 },
            a.adminToken,
          );
          const answers = await Promise.all(
            Array.from({ length: 12 }, (_, i) => (i % 2 ? apiB : apiA).enqueue()),
          );
          assert.equal(answers.filter((r) => r.body.token).length, 5);
          assert.equal(answers.filter((r) => r.body.state === "pending").length, 7);
          assert.equal(logs.filter((l) => l.startsWith("audit rule-hold")).length, 1);
          await until(
            "notifications",
            () => receiver.events().filter((e) => e === "request.pending").length === 7,
          );
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(receiver.events().filter((e) => e === "rule.held").length, 1);
          const listB = await apiB.get("/v1/auto-approval-rules", a.adminToken);
          assert.equal(listB.body.rules[0].held, true);
        } finally {
          apiA.close();
          apiB.close();
          await b.close();
          await a.close();
        }
      });
    });
  } finally {
    await receiver.close();
  }
});
