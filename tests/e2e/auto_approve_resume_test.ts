/**
 * condor_token_request_auto_approve against condor_tokend's circuit breaker
 * (issue 16.4): -list shows a held rule in its HELD column and -json, and
 * -resume lets it approve again.
 */
import assert from "node:assert/strict";
import { withFixture } from "./_admin_tools.ts";

Deno.test("condor_token_request_auto_approve -list shows a rule the breaker holds, and -resume resumes it", async () => {
  await withFixture(async (f) => {
    const tool = "condor_token_request_auto_approve";
    const installed = await f.run(
      tool,
      ["-netblock", "127.0.0.0/8", "-lifetime", "600", "-json"],
      f.keyEnv,
    );
    assert.equal(installed.code, 0, installed.stderr);
    const { ruleId } = JSON.parse(installed.stdout);
    const first = await f.enqueue({ authz: ["ADVERTISE_STARTD"] });
    assert.equal((await f.collect(first.requestId, first.secret)).state, "collected");
    const held = await f.enqueue({ authz: ["ADVERTISE_STARTD"] });
    assert.equal((await f.collect(held.requestId, held.secret)).state, "pending");

    const [table, json] = await Promise.all([
      f.run(tool, ["-list"], f.keyEnv),
      f.run(tool, ["-list", "-json"], f.keyEnv),
    ]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0], / APPROVED +HELD$/);
    assert.match(lines[1], / 1 +since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(rule\)$/);
    const [rule] = JSON.parse(json.stdout);
    assert.equal(rule.held, true);
    assert.equal(rule.heldBy, "rule");
    assert.equal(typeof rule.heldSince, "number");
    assert.equal(rule.windowApproved, 1);

    const resumed = await f.run(tool, ["-resume", String(ruleId)], f.keyEnv);
    assert.deepEqual(resumed, {
      code: 0,
      stdout:
        `Auto-approval rule ${ruleId} for netblock 127.0.0.0/8 approves matching requests again; requests held meanwhile stay pending (see condor_token_request_list).\n`,
      stderr: "",
    });
    const next = await f.enqueue({ authz: ["ADVERTISE_STARTD"] });
    assert.equal((await f.collect(next.requestId, next.secret)).state, "collected");
    const asJson = await f.run(tool, ["-resume", String(ruleId), "-json"], f.keyEnv);
    assert.equal(asJson.code, 0, asJson.stderr);
    assert.deepEqual(
      [JSON.parse(asJson.stdout).outcome, JSON.parse(asJson.stdout).held],
      ["resumed", false],
    );
    const unknown = await f.run(tool, ["-resume", "99"], f.keyEnv);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /Cannot resume auto-approval rule 99 at \S+: no rule with that ID is in force\n$/,
    );
    const both = await f.run(tool, ["-resume", "1", "-remove", "1"], f.keyEnv);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /cannot be used with/);
  }, "TOKEND_AUTO_APPROVE_MAX_PER_RULE = 1");
});
