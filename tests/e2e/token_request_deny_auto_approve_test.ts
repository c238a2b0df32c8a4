/**
 * condor_token_request_deny (a waiting requester learns the reason at once)
 * and condor_token_request_auto_approve as shipped, against a real daemon
 * over HTTPS on loopback.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { id, withFixture } from "./_admin_tools.ts";
import { withRequester } from "./_token_request.ts";

/** The fields of a rule in -json, in order (with the circuit breaker's). */
const RULE_KEYS = [
  "ruleId",
  "netblock",
  "createdBy",
  "createdAt",
  "expiresAt",
  "approved",
  "held",
  "windowApproved",
] as const;

Deno.test("condor_token_request_deny tells a waiting condor_token_request at once, with the reason", async () => {
  await withFixture(async (f) => {
    const args = ["-identity", "bob", "-trust", f.daemon.fingerprint, "-timeout", "60"];
    await withRequester(args, f.daemon.env, async (requester) => {
      const requestId = await requester.requestId();
      const started = Date.now();

      const denied = await f.run(
        "condor_token_request_deny",
        ["-reqid", requestId, "-reason", "bob is not on the list"],
        await f.userEnv(id("admin")),
      );
      assert.deepEqual(denied, { code: 0, stdout: `Request ${requestId} denied.\n`, stderr: "" });

      const result = await requester.done;
      assert.equal(result.code, EXIT.DENIED, result.stderr);
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        new RegExp(
          `condor_token_request: Request ${requestId} was denied by the administrator: "bob is not on the list"\n$`,
        ),
      );
      // At once, not on a next poll.
      assert.ok(Date.now() - started < 10_000);
    });
  });
});

Deno.test("condor_token_request_deny needs -reqid, takes a reason, and denying twice is harmless", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const [missing, tooLong] = await Promise.all([
      f.run("condor_token_request_deny", ["-reason", "no"], f.keyEnv),
      f.run(
        "condor_token_request_deny",
        ["-r", request.requestId, "-rea", "x".repeat(1025)],
        f.keyEnv,
      ),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^condor_token_request_deny: Option -reqid is required\nUsage: /);
    assert.equal(tooLong.code, 2);
    assert.match(
      tooLong.stderr,
      /^condor_token_request_deny: Invalid value for -reason: it is 1025 characters long/,
    );

    const once = await f.run("condor_token_request_deny", ["-reqid", request.requestId], f.keyEnv);
    const twice = await f.run("condor_token_request_deny", ["-reqid", request.requestId], f.keyEnv);
    for (const r of [once, twice]) {
      assert.deepEqual(r, {
        code: 0,
        stdout: `Request ${request.requestId} denied.\n`,
        stderr: "",
      });
    }
    assert.equal((await f.collect(request.requestId, request.secret)).state, "denied");
  });
});

Deno.test("condor_token_request_deny lets a user deny a request for their own identity", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const r = await f.run(
      "condor_token_request_deny",
      ["-reqid", request.requestId, "-reason", "not me"],
      await f.userEnv(id("alice")),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await f.collect(request.requestId, request.secret)).state, "denied");
  });
});

Deno.test("condor_token_request_auto_approve installs a rule, approves what matches, and shows what remains", async () => {
  await withFixture(async (f) => {
    const worker = await f.enqueue({ identity: id("condor"), authz: ["ADVERTISE_STARTD"] });
    const user = await f.enqueue({ identity: id("alice"), authz: ["READ"], lifetime: 60 });
    const admin = await f.userEnv(id("admin"));

    const r = await f.run(
      "condor_token_request_auto_approve",
      ["-netblock", "127.0.0.0/8", "-lifetime", "1800"],
      admin,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      `Successfully installed auto-approval rule for netblock 127.0.0.0/8 with lifetime of 0.50 hours
The rule approved pending request(s) ${worker.requestId}.
The following requests remain after auto-approval rule was installed:
==================================================
AuthenticatedIdentity = "anonymous@ssl"
ClientId = "worker-17"
LimitAuthorization = "READ"
PeerLocation = "127.0.0.1"
RequestedIdentity = "${id("alice")}"
RequestId = "${user.requestId}"
TokenLifetime = 60

==================================================
To approve these requests, please run condor_token_request_approve manually.
`,
    );
    assert.equal((await f.collect(worker.requestId, worker.secret)).state, "collected");

    // A new matching request is approved on arrival; with nothing left, that is said on stderr.
    await f.run("condor_token_request_deny", ["-reqid", user.requestId], admin);
    const again = await f.run(
      "condor_token_request_auto_approve",
      ["-ne", "127.0.0.1/32", "-l", "7200"],
      admin,
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout,
      "Successfully installed auto-approval rule for netblock 127.0.0.1/32 with lifetime of 1.00 hours\n",
    );
    assert.equal(
      again.stderr,
      "condor_token_request_auto_approve: the daemon shortened the rule to 3600 s, its TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME\n" +
        "Remote daemon reports no un-approved requests pending.\n",
    );
  });
});

Deno.test("condor_token_request_auto_approve requires -netblock and -lifetime and reports a bad netblock", async () => {
  await withFixture(async (f) => {
    const [noNet, noLife, zero, badNet] = await Promise.all([
      f.run("condor_token_request_auto_approve", ["-lifetime", "60"], f.keyEnv),
      f.run("condor_token_request_auto_approve", ["-netblock", "10.0.0.0/8"], f.keyEnv),
      f.run(
        "condor_token_request_auto_approve",
        ["-netblock", "10.0.0.0/8", "-lifetime", "0"],
        f.keyEnv,
      ),
      f.run(
        "condor_token_request_auto_approve",
        ["-netblock", "10.0.0.0/99", "-lifetime", "60"],
        f.keyEnv,
      ),
    ]);
    assert.equal(noNet.code, 2);
    assert.match(noNet.stderr, /^condor_token_request_auto_approve: Option -netblock is required/);
    assert.equal(noLife.code, 2);
    assert.match(noLife.stderr, /^condor_token_request_auto_approve: Option -lifetime is required/);
    assert.equal(zero.code, 2);
    assert.match(
      zero.stderr,
      /^condor_token_request_auto_approve: Invalid value for -lifetime: "0"/,
    );
    assert.equal(badNet.code, 1);
    assert.match(
      badNet.stderr,
      /^condor_token_request_auto_approve: Cannot install auto-approval rule at https:\/\/127\.0\.0\.1:\d+: Auto-approval rule netblock invalid\.\n$/,
    );
  });
});

Deno.test("condor_token_request_auto_approve -list shows the rules in force and -remove removes one", async () => {
  await withFixture(async (f) => {
    const admin = await f.userEnv(id("admin"));
    const tool = "condor_token_request_auto_approve";
    const none = await f.run(tool, ["-list"], admin);
    assert.deepEqual([none.code, none.stdout], [0, ""]);
    assert.equal(none.stderr, "Remote daemon reports no auto-approval rules in force.\n");
    const noneJson = await f.run(tool, ["-lis", "-json"], admin);
    assert.deepEqual([noneJson.code, noneJson.stdout], [0, "[]\n"]);

    const worker = await f.enqueue({ identity: id("condor"), authz: ["ADVERTISE_STARTD"] });
    const installed = await f.run(
      tool,
      ["-netblock", "127.0.0.0/8", "-lifetime", "600", "-json"],
      admin,
    );
    assert.equal(installed.code, 0, installed.stderr);
    const rule = JSON.parse(installed.stdout);
    assert.deepEqual([rule.outcome, rule.exitCode], ["installed", 0]);
    assert.deepEqual(Object.keys(rule), [
      "outcome",
      "exitCode",
      "ruleId",
      "netblock",
      "lifetime",
      "expiresAt",
      "approved",
    ]);
    assert.deepEqual([rule.netblock, rule.lifetime, rule.approved], ["127.0.0.0/8", 600, [
      worker.requestId,
    ]]);
    await f.run(tool, ["-netblock", "192.0.2.0/24", "-lifetime", "60"], admin);

    const [table, json] = await Promise.all([
      f.run(tool, ["-list"], admin),
      f.run(tool, ["-list", "-json"], admin),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stderr, "");
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(
      lines[0],
      /^RULE +NETBLOCK +CREATED BY +CREATED \(UTC\) +EXPIRES \(UTC\) +APPROVED +HELD$/,
    );
    assert.match(
      lines[1],
      new RegExp(
        `^${rule.ruleId} +127\\.0\\.0\\.0/8 +admin@tokend-test\\.example\\.org +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +1 +no$`,
      ),
    );
    assert.match(lines[2], / 192\.0\.2\.0\/24 .* 0 +no$/);
    assert.equal(lines.length, 3);
    const rules = JSON.parse(json.stdout);
    assert.deepEqual(rules.map((r: Record<string, unknown>) => Object.keys(r)), [
      [...RULE_KEYS],
      [...RULE_KEYS],
    ]);
    assert.equal(rules[0].approved, 1);

    const removed = await f.run(tool, ["-remove", String(rule.ruleId)], admin);
    assert.deepEqual(removed, {
      code: 0,
      stdout: `Removed auto-approval rule ${rule.ruleId} for netblock 127.0.0.0/8 (installed by ${
        id("admin")
      }, it approved 1 request; they stay approved).\n`,
      stderr: "",
    });
    const removedJson = await f.run(tool, ["-rem", String(rules[1].ruleId), "-json"], admin);
    assert.deepEqual(JSON.parse(removedJson.stdout), {
      outcome: "removed",
      exitCode: 0,
      ...rules[1],
    });
    const after = await f.run(tool, ["-list", "-json"], admin);
    assert.equal(after.stdout, "[]\n");
    // The worker the rule approved stays approved.
    assert.equal((await f.collect(worker.requestId, worker.secret)).state, "collected");
  });
});

Deno.test("condor_token_request_auto_approve -remove and -list refuse what cannot be done, each in one line", async () => {
  await withFixture(async (f) => {
    const tool = "condor_token_request_auto_approve";
    const [unknown, user, both, withNetblock, badId] = await Promise.all([
      f.run(tool, ["-remove", "42"], f.keyEnv),
      f.run(tool, ["-list"], await f.userEnv(id("alice"))),
      f.run(tool, ["-list", "-remove", "1"], f.keyEnv),
      f.run(tool, ["-remove", "1", "-netblock", "10.0.0.0/8"], f.keyEnv),
      f.run(tool, ["-remove", "first"], f.keyEnv),
    ]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /^condor_token_request_auto_approve: Cannot remove auto-approval rule 42 at https:\/\/127\.0\.0\.1:\d+: no rule with that ID is in force\n$/,
    );
    assert.equal(user.code, EXIT.NOT_AUTHORIZED);
    assert.match(user.stderr, /does not have ADMINISTRATOR authorization[^\n]*\n$/);
    assert.equal(both.code, 2);
    assert.match(
      both.stderr,
      /^condor_token_request_auto_approve: Option -list cannot be used with -remove\n/,
    );
    assert.equal(withNetblock.code, 2);
    assert.match(withNetblock.stderr, /Option -remove cannot be used with -netblock\n/);
    assert.equal(badId.code, 2);
    assert.match(badId.stderr, /Invalid value for -remove: "first" is not a rule ID/);
  });
});

Deno.test("condor_token_request_deny -json prints one object of the outcome, and of a failure", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const admin = await f.userEnv(id("admin"));
    const denied = await f.run(
      "condor_token_request_deny",
      ["-reqid", request.requestId, "-reason", "not ours", "-json"],
      admin,
    );
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal(denied.stderr, "");
    assert.deepEqual(JSON.parse(denied.stdout), {
      outcome: "denied",
      exitCode: 0,
      requestId: request.requestId,
      reason: "not ours",
    });
    const unknown = await f.run("condor_token_request_deny", ["-reqid", "0000000", "-j"], admin);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^condor_token_request_deny: Cannot deny request 0000000: /);
    const failure = JSON.parse(unknown.stdout);
    assert.deepEqual(Object.keys(failure), ["outcome", "exitCode", "code", "message"]);
    assert.deepEqual([failure.outcome, failure.exitCode, failure.code], [
      "error",
      1,
      "REQUEST_UNKNOWN",
    ]);
  });
});

Deno.test("condor_token_request_auto_approve -json says a failure to install as one object too", async () => {
  await withFixture(async (f) => {
    const bad = await f.run(
      "condor_token_request_auto_approve",
      ["-netblock", "10.0.0.0/99", "-lifetime", "60", "-json"],
      f.keyEnv,
    );
    assert.equal(bad.code, 1);
    assert.deepEqual(
      (({ outcome, exitCode, code }) => ({ outcome, exitCode, code }))(JSON.parse(bad.stdout)),
      { outcome: "error", exitCode: 1, code: "RULE_BAD_NETBLOCK" },
    );
  });
});
