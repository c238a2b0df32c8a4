/**
 * condor_token_request_deny (a waiting requester learns the reason at once)
 * and condor_token_request_auto_approve as shipped, against a real daemon
 * over HTTPS on loopback.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { id, withFixture } from "./admin_tools_support.ts";
import { withRequester } from "./token_request_support.ts";

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
