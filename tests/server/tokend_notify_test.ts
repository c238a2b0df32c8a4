/**
 * Webhook notifications (issue 16.1) against a real HTTPS receiver: what a
 * pending request's POST holds (fields, approve command, one-line text, an
 * HMAC a receiver can check, no secret), the other events, an enqueue that
 * never waits for a receiver that does not answer, bounded retries, the
 * queue cap, refused URLs and secret files, and SIGHUP.
 */
import assert from "node:assert/strict";
import { startTestDaemon, type TestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import {
  type Delivery,
  RECEIVER_PATH,
  startWebhookReceiver,
  verifySignature,
  type WebhookReceiver,
} from "../_support/webhook_receiver.ts";
import { type Api, apiFor, FakeClock } from "../_support/api.ts";
import { loadConfig } from "../../src/config/condor_config.ts";
import { tokendSettings } from "../../src/server/settings.ts";
import { readNotifySecret } from "../../src/server/notifier.ts";

const SECRET = "an-hmac-secret-of-some-length-0123456789";

/** A daemon notifying `receiver`, with the CA and a secret file; fn gets both, an API and the log. */
async function withNotifyingDaemon(
  receiver: WebhookReceiver,
  options: { extraConfig?: string; now?: () => number },
  fn: (daemon: TestDaemon, api: Api, log: string[], dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const lines = [`TOKEND_NOTIFY_URL = ${receiver.url}`];
    if (receiver.caPem) {
      await Deno.writeTextFile(`${dir}/webhook_ca.pem`, receiver.caPem);
      lines.push(`TOKEND_NOTIFY_CA_FILE = ${dir}/webhook_ca.pem`);
    }
    await Deno.writeTextFile(`${dir}/notify_secret`, SECRET + "\n", { mode: 0o600 });
    lines.push(`TOKEND_NOTIFY_SECRET_FILE = ${dir}/notify_secret`);
    const log: string[] = [];
    const daemon = await startTestDaemon({
      dir: `${dir}/d`,
      now: options.now,
      log: (line) => log.push(line),
      extraConfig: [...lines, options.extraConfig ?? ""].join("\n"),
    });
    const api = apiFor(daemon);
    try {
      await fn(daemon, api, log, dir);
    } finally {
      api.close();
      await daemon.close();
    }
  });
}

async function delivered(receiver: WebhookReceiver, n: number): Promise<Delivery[]> {
  await until(`${n} notification(s)`, () => receiver.delivered.length >= n, {
    describe: () => receiver.events().join(", "),
  });
  return receiver.delivered;
}

function metric(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

Deno.test("notify: a pending request is POSTed with its fields, the approve command, one line of text and a valid HMAC", async () => {
  const receiver = await startWebhookReceiver();
  try {
    await withNotifyingDaemon(receiver, {}, async (daemon, api, log) => {
      const enqueued = await api.enqueue({ clientId: "host-1.example.org-42" });
      assert.equal(enqueued.status, 201);
      const [d] = await delivered(receiver, 1);
      const p = d.payload;
      assert.equal(p.event, "request.pending");
      assert.equal(d.headers.get("x-condor-tokend-event"), "request.pending");
      assert.equal(p.requestId, enqueued.body.requestId);
      assert.match(String(p.requestedIdentity), /^condor@/);
      assert.equal(typeof p.authenticatedIdentity, "string");
      assert.equal(p.peer, "127.0.0.1");
      assert.equal(p.clientId, "host-1.example.org-42");
      assert.deepEqual(p.authorizations, ["ADVERTISE_STARTD"]);
      assert.ok("lifetime" in p);
      const port = new URL(daemon.url).port;
      assert.equal(
        p.approveCommand,
        `condor_token_request_approve -reqid ${enqueued.body.requestId} -pool 127.0.0.1:${port}`,
      );
      assert.equal(typeof p.text, "string");
      assert.doesNotMatch(String(p.text), /[\r\n]/);
      assert.ok(String(p.text).includes(String(p.approveCommand)), String(p.text));
      // Never the requester's secret; the signature checks out with the shared secret only.
      assert.ok(!d.body.includes(enqueued.secret));
      const now = Math.floor(Date.now() / 1000);
      assert.ok(verifySignature(SECRET, d, now), "HMAC over timestamp.body with the secret");
      assert.ok(!verifySignature(SECRET + "x", d, now));
      assert.ok(
        !verifySignature(SECRET, { ...d, body: d.body.replace("pending", "pendinG") }, now),
      );
      // The log names the receiver by its origin, never the secret path.
      assert.ok(
        log.some((l) => l.includes(`sending notifications to ${new URL(receiver.url).origin}`)),
      );
      assert.ok(!log.some((l) => l.includes(RECEIVER_PATH)));
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("notify: approve, deny, cancel, expiry and rule changes each send one event; auto-approvals send none", async () => {
  const receiver = await startWebhookReceiver();
  const clock = new FakeClock();
  try {
    await withNotifyingDaemon(receiver, { now: clock.now }, async (daemon, api) => {
      const a = await api.enqueue();
      const b = await api.enqueue();
      const c = await api.enqueue();
      const e = await api.enqueue();
      await delivered(receiver, 4);
      assert.equal(
        (await api.post(
          `/v1/token-requests/${a.body.requestId}/approve`,
          undefined,
          daemon.adminToken,
        )).status,
        200,
      );
      assert.equal(
        (await api.post(
          `/v1/token-requests/${b.body.requestId}/deny`,
          { reason: "not ours" },
          daemon.adminToken,
        )).status,
        200,
      );
      assert.equal(
        (await api.post(`/v1/token-requests/${c.body.requestId}/cancel`, { secret: c.secret }))
          .status,
        200,
      );
      await delivered(receiver, 7);
      const rule = await api.post("/v1/auto-approval-rules", {
        netblock: "127.0.0.1/32",
        lifetime: 600,
      }, daemon.adminToken);
      assert.equal(rule.status, 200);
      // The rule approved e, which was pending.
      await delivered(receiver, 9);
      const auto = await api.enqueue();
      assert.ok(auto.body.token, "auto-approved at once");
      const removed = await api.call("DELETE", `/v1/auto-approval-rules/${rule.body.ruleId}`, {
        token: daemon.adminToken,
      });
      assert.equal(removed.status, 200);
      const f = await api.enqueue();
      await delivered(receiver, 11);
      clock.advance(4000);
      // The periodic sweep may get there first.
      await daemon.sweep();
      const all = await delivered(receiver, 14);
      await new Promise((r) => setTimeout(r, 200));
      const seen = all.map((d) =>
        `${d.payload.event} ${d.payload.requestId ?? (d.payload.rule as { ruleId: number }).ruleId}`
      );
      assert.deepEqual(seen.slice(0, 11), [
        `request.pending ${a.body.requestId}`,
        `request.pending ${b.body.requestId}`,
        `request.pending ${c.body.requestId}`,
        `request.pending ${e.body.requestId}`,
        `request.approved ${a.body.requestId}`,
        `request.denied ${b.body.requestId}`,
        `request.cancelled ${c.body.requestId}`,
        `rule.installed ${rule.body.ruleId}`,
        `request.approved ${e.body.requestId}`,
        `rule.removed ${rule.body.ruleId}`,
        `request.pending ${f.body.requestId}`,
      ]);
      assert.deepEqual(
        seen.slice(11).sort(),
        // a and e (approved, never collected) and f (pending).
        [a, e, f].map((r) => `request.expired ${r.body.requestId}`).sort(),
      );
      assert.equal(all.length, 14, "nothing for the auto-approved request");
      const byEvent = (name: string) => all.find((d) => d.payload.event === name)!.payload;
      assert.equal(byEvent("request.approved").actor, "admin@tokend-test.example.org");
      assert.equal(byEvent("request.denied").reason, "not ours");
      assert.equal(byEvent("rule.installed").actor, "admin@tokend-test.example.org");
      assert.deepEqual(
        all.filter((d) => d.payload.event === "request.expired").map((d) => d.payload.from).sort(),
        ["approved", "approved", "pending"],
      );
      for (const d of all) {
        assert.doesNotMatch(String(d.payload.text), /[\r\n]/);
        assert.ok(!/"token"|secret/i.test(d.body.replace(/webhook-path-secret/g, "")), d.body);
      }
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("notify: a receiver that never answers does not slow enqueues; retries end after TOKEND_NOTIFY_RETRY_TIME; failures are logged once per interval and counted", async () => {
  const receiver = await startWebhookReceiver({ mode: "hang" });
  try {
    await withNotifyingDaemon(receiver, {
      extraConfig: "TOKEND_NOTIFY_TIMEOUT = 1\nTOKEND_NOTIFY_RETRY_TIME = 2",
    }, async (_daemon, api, log) => {
      const started = performance.now();
      for (let i = 0; i < 5; i++) assert.equal((await api.enqueue()).status, 201);
      const took = performance.now() - started;
      assert.ok(
        took < 2_000,
        `5 enqueues took ${took.toFixed(0)} ms with a receiver that never answers`,
      );
      await until("the first event given up", async () => {
        const m = (await api.get("/metrics")).body as string;
        return metric(m, 'condor_tokend_notifications_total{result="failed"}') >= 1;
      }, { timeoutMs: 15_000 });
      const m = (await api.get("/metrics")).body as string;
      assert.ok(metric(m, 'condor_tokend_notifications_total{result="retried"}') >= 1);
      assert.equal(metric(m, 'condor_tokend_notifications_total{result="sent"}'), 0);
      const failures = log.filter((l) => l.startsWith("cannot notify"));
      assert.equal(failures.length, 1, `throttled to one line a minute: ${failures.join(" | ")}`);
      assert.match(failures[0], /no answer within 1 s/);
      assert.ok(!failures[0].includes(RECEIVER_PATH), "the webhook's path is not logged");
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("notify: a full queue drops the oldest events and counts them; a receiver back again gets the newest", async () => {
  const receiver = await startWebhookReceiver({ mode: "hang" });
  try {
    await withNotifyingDaemon(receiver, {
      extraConfig:
        "TOKEND_NOTIFY_QUEUE_SIZE = 2\nTOKEND_NOTIFY_TIMEOUT = 1\nTOKEND_NOTIFY_RETRY_TIME = 60",
    }, async (_daemon, api) => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await api.enqueue()).body.requestId);
      const m = (await api.get("/metrics")).body as string;
      assert.equal(metric(m, 'condor_tokend_notifications_total{result="dropped"}'), 4);
      assert.equal(metric(m, "condor_tokend_notification_queue"), 2);
      receiver.mode = "ok";
      const got = await delivered(receiver, 2);
      assert.deepEqual(got.map((d) => d.payload.requestId), ids.slice(4));
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("notify: a receiver answering 500 is retried until it answers 200", async () => {
  const receiver = await startWebhookReceiver({ mode: "fail" });
  try {
    await withNotifyingDaemon(receiver, {}, async (_daemon, api, log) => {
      const { body } = await api.enqueue();
      await until("two failed attempts", () => receiver.arrived >= 2);
      receiver.mode = "ok";
      const [d] = await delivered(receiver, 1);
      assert.equal(d.payload.requestId, body.requestId);
      assert.ok(log.some((l) => /cannot notify .*HTTP 500; retrying/.test(l)), log.join("\n"));
      await until("recovery logged", () => log.some((l) => l.startsWith("notifications reach")));
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("notify: plain http only to a loopback address; bad values are refused in one line that does not quote the URL", async () => {
  await withTempDir(async (dir) => {
    const settingsWith = async (value: string) => {
      await Deno.writeTextFile(
        `${dir}/c`,
        `FULL_HOSTNAME = h.example.org\nTRUST_DOMAIN = x\nSPOOL = ${dir}\nTOKEND_NOTIFY_URL = ${value}\n`,
      );
      const config = await loadConfig({
        env: { get: (name) => (name === "CONDOR_CONFIG" ? `${dir}/c` : undefined) },
        hostname: "h",
      });
      return tokendSettings(config);
    };
    assert.equal(
      (await settingsWith("http://127.0.0.1:8080/hook")).notify.url,
      "http://127.0.0.1:8080/hook",
    );
    assert.equal(
      (await settingsWith("http://[::1]:8080/hook")).notify.url,
      "http://[::1]:8080/hook",
    );
    assert.equal(
      (await settingsWith("https://hooks.example.org/T/B/X")).notify.url,
      "https://hooks.example.org/T/B/X",
    );
    assert.equal((await settingsWith("")).notify.url, undefined);
    for (
      const bad of [
        "http://192.0.2.1/hook-secret",
        "http://localhost.example.org/hook-secret",
        "http://127.0.0.1.example.org/hook-secret",
        "ftp://127.0.0.1/hook-secret",
        "https://user:pw@hooks.example.org/hook-secret",
        "not a url hook-secret",
      ]
    ) {
      await assert.rejects(settingsWith(bad), (err: Error) => {
        assert.match(
          err.message,
          /^Cannot use configuration: knob "TOKEND_NOTIFY_URL" must be an https:\/\/ URL/,
        );
        assert.ok(!err.message.includes("hook-secret"));
        return true;
      });
    }
  });
});

Deno.test("notify: the daemon refuses to start with a secret file others can read, a link, or a short secret", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/open`, SECRET, { mode: 0o644 });
    await Deno.chmod(`${dir}/open`, 0o644);
    await assert.rejects(
      readNotifySecret(`${dir}/open`),
      /Cannot use TOKEND_NOTIFY_SECRET_FILE: .*open/,
    );
    await Deno.writeTextFile(`${dir}/good`, SECRET + "\n", { mode: 0o600 });
    assert.equal(new TextDecoder().decode(await readNotifySecret(`${dir}/good`)), SECRET);
    await Deno.symlink(`${dir}/good`, `${dir}/link`);
    await assert.rejects(readNotifySecret(`${dir}/link`), /symbolic link/);
    await Deno.writeTextFile(`${dir}/short`, "short\n", { mode: 0o600 });
    await assert.rejects(readNotifySecret(`${dir}/short`), /fewer than 16 bytes/);
    await assert.rejects(readNotifySecret(`${dir}/missing`), /does not exist/);
    // And the daemon does not start with one.
    await assert.rejects(
      startTestDaemon({
        dir: `${dir}/d`,
        extraConfig:
          `TOKEND_NOTIFY_URL = https://127.0.0.1:1/x\nTOKEND_NOTIFY_SECRET_FILE = ${dir}/open`,
      }),
      /Cannot use TOKEND_NOTIFY_SECRET_FILE/,
    );
  });
});

Deno.test("notify: SIGHUP takes a new URL, and keeps the running one (with a warning) for a bad one", async () => {
  const first = await startWebhookReceiver({ plain: true });
  const second = await startWebhookReceiver({ plain: true });
  try {
    await withTempDir(async (dir) => {
      const log: string[] = [];
      const daemon = await startTestDaemon({
        dir,
        log: (line) => log.push(line),
        extraConfig: `TOKEND_NOTIFY_URL = ${first.url}`,
      });
      const api = apiFor(daemon);
      const config = await Deno.readTextFile(daemon.configPath);
      try {
        await api.enqueue();
        await delivered(first, 1);
        await Deno.writeTextFile(
          daemon.configPath,
          `${config}\nTOKEND_NOTIFY_URL = http://192.0.2.1/x\n`,
        );
        await daemon.reconfigure();
        assert.ok(
          log.some((l) =>
            l.startsWith("SIGHUP: keeping the running configuration") &&
            l.includes("TOKEND_NOTIFY_URL")
          ),
          log.join("\n"),
        );
        await api.enqueue();
        await delivered(first, 2);
        await Deno.writeTextFile(
          daemon.configPath,
          `${config}\nTOKEND_NOTIFY_URL = ${second.url}\n`,
        );
        await daemon.reconfigure();
        assert.ok(
          log.some((l) => l.includes("applied") && l.includes("TOKEND_NOTIFY_*")),
          log.join("\n"),
        );
        await api.enqueue();
        await delivered(second, 1);
        assert.equal(first.delivered.length, 2);
      } finally {
        api.close();
        await daemon.close();
      }
    });
  } finally {
    await first.close();
    await second.close();
  }
});

Deno.test("notify: two daemons on one PostgreSQL database send each event once", async () => {
  const receiver = await startWebhookReceiver({ plain: true });
  const clock = new FakeClock();
  try {
    await withTestDatabase(async (url) => {
      await withTempDir(async (dir) => {
        const config = `TOKEND_DATABASE = ${url}\nTOKEND_NOTIFY_URL = ${receiver.url}`;
        const a = await startTestDaemon({ dir: `${dir}/a`, now: clock.now, extraConfig: config });
        await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
        await Deno.copyFile(
          testDaemonPaths(`${dir}/a`).poolKeyFile,
          testDaemonPaths(`${dir}/b`).poolKeyFile,
        );
        const b = await startTestDaemon({ dir: `${dir}/b`, now: clock.now, extraConfig: config });
        const apiA = apiFor(a);
        const apiB = apiFor(b);
        try {
          const ids: string[] = [];
          for (let i = 0; i < 6; i++) {
            ids.push((await (i % 2 ? apiB : apiA).enqueue()).body.requestId);
          }
          // Both try to decide each request; one wins, and only it reports.
          for (const [i, id] of ids.slice(0, 4).entries()) {
            const action = i % 2 ? "deny" : "approve";
            const answers = await Promise.all(
              [apiA, apiB].map((api) =>
                api.post(`/v1/token-requests/${id}/${action}`, undefined, a.adminToken)
              ),
            );
            assert.ok(answers.some((x) => x.status === 200));
          }
          const rule = await apiB.post(
            "/v1/auto-approval-rules",
            { netblock: "192.0.2.0/24", lifetime: 60 },
            a.adminToken,
          );
          assert.equal(rule.status, 200);
          clock.advance(4000);
          // Both sweep at once, and both look the requests up (lazy expiry).
          await Promise.all([a.sweep(), b.sweep()]);
          await Promise.all(
            ids.map((id) => apiA.get(`/v1/token-requests?reqid=${id}`, a.adminToken)),
          );
          await Promise.all(
            ids.map((id) => apiB.get(`/v1/token-requests?reqid=${id}`, a.adminToken)),
          );
          // 6 pending, 4 decisions (2 approved, 2 denied), 1 rule, 4 expiries (2 approved, 2 pending).
          await until("all events", () => receiver.delivered.length >= 6 + 4 + 1 + 4);
          await new Promise((r) => setTimeout(r, 500));
          const seen = receiver.delivered.map((d) =>
            `${d.payload.event} ${d.payload.requestId ?? "rule"}`
          );
          assert.equal(new Set(seen).size, seen.length, `duplicates in ${seen.join(", ")}`);
          assert.equal(seen.length, 15, seen.join(", "));
          assert.equal(seen.filter((e) => e.startsWith("request.expired")).length, 4);
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
