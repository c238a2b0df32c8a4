/**
 * condor_token_request_list and condor_token_request_approve as shipped
 * (subprocesses with the binary's permission flags) against a real daemon
 * over HTTPS on loopback.
 */
import assert from "node:assert/strict";
import { REQUEST_JSON_FIELDS } from "../_support/request_fields.ts";
import { id, withFixture } from "./_admin_tools.ts";

Deno.test("condor_token_request_list shows an administrator every pending request as HTCondor does", async () => {
  await withFixture(async (f) => {
    const alice = await f.enqueue({
      identity: id("alice"),
      authz: ["READ", "WRITE"],
      lifetime: 600,
      clientId: "laptop-42",
    });
    const worker = await f.enqueue({ identity: id("condor") });
    const admin = await f.userEnv(id("admin"), [], 3600);

    const [plain, json, one] = await Promise.all([
      f.run("condor_token_request_list", [], admin),
      f.run("condor_token_request_list", ["-json"], admin),
      f.run("condor_token_request_list", ["-r", worker.requestId], admin),
    ]);

    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stderr, "");
    assert.equal(
      plain.stdout,
      `AuthenticatedIdentity = "anonymous@ssl"
ClientId = "laptop-42"
LimitAuthorization = "READ,WRITE"
PeerLocation = "127.0.0.1"
RequestedIdentity = "${id("alice")}"
RequestId = "${alice.requestId}"
TokenLifetime = 600

AuthenticatedIdentity = "anonymous@ssl"
ClientId = "worker-17"
PeerLocation = "127.0.0.1"
RequestedIdentity = "${id("condor")}"
RequestId = "${worker.requestId}"

`,
    );

    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stderr, "");
    // HTCondor's layout: brackets and the separating commas on lines of their own.
    assert.match(
      json.stdout,
      /^\[\n\{\n {2}"AuthenticatedIdentity": [^]*\n\}\n,\n\{\n[^]*\n\}\n\]\n$/,
    );
    const listed = JSON.parse(json.stdout);
    assert.equal(listed.length, 2);
    assert.deepEqual(Object.keys(listed[0]), REQUEST_JSON_FIELDS);
    assert.deepEqual(
      { ...listed[0], requestedAt: 0, expiresAt: 0 },
      {
        AuthenticatedIdentity: "anonymous@ssl",
        ClientId: "laptop-42",
        LimitAuthorization: "READ,WRITE",
        PeerLocation: "127.0.0.1",
        RequestedIdentity: id("alice"),
        RequestId: alice.requestId,
        TokenLifetime: 600,
        requestedAt: 0,
        expiresAt: 0,
      },
    );
    assert.equal(listed[1].TokenLifetime, undefined);
    assert.equal(listed[1].LimitAuthorization, undefined);
    assert.equal(listed[0].expiresAt - listed[0].requestedAt, 3600);

    assert.equal(one.code, 0, one.stderr);
    assert.match(
      one.stdout,
      new RegExp(`^AuthenticatedIdentity.*RequestId = "${worker.requestId}"\n\n$`, "s"),
    );
  });
});

Deno.test("condor_token_request_list shows a user only the requests for their own identity", async () => {
  await withFixture(async (f) => {
    const mine = await f.enqueue({ identity: id("alice"), authz: ["READ"] });
    const theirs = await f.enqueue({ identity: id("bob") });
    const alice = await f.userEnv(id("alice"));

    const [listed, other] = await Promise.all([
      f.run("condor_token_request_list", ["-json"], alice),
      f.run("condor_token_request_list", ["-reqid", theirs.requestId], alice),
    ]);

    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).map((r: { RequestId: string }) => r.RequestId), [
      mine.requestId,
    ]);
    assert.equal(other.code, 1);
    assert.equal(other.stdout, "");
    assert.match(
      other.stderr,
      new RegExp(
        `^condor_token_request_list: Remote daemon did not provide information for request ID ${theirs.requestId}: .*\n$`,
      ),
    );
  });
});

Deno.test("condor_token_request_list says on stderr when nothing is pending, authenticated by the signing key", async () => {
  await withFixture(async (f) => {
    const [plain, json] = await Promise.all([
      f.run("condor_token_request_list", [], f.keyEnv),
      f.run("condor_token_request_list", ["-json"], f.keyEnv),
    ]);
    // Who asked decides what is visible: the line says who that was.
    const none =
      /^Remote daemon reports no requests pending \(asked as condor@tokend-test\.example\.org \(a 300 s token minted with signing key .*\/POOL\)\)\.\n$/;
    assert.deepEqual([plain.code, plain.stdout], [0, ""]);
    assert.match(plain.stderr, none);
    // As HTCondor's tool: nothing on stdout, not even "[]".
    assert.deepEqual([json.code, json.stdout], [0, ""]);
    assert.match(json.stderr, none);
  });
});

Deno.test("condor_token_request_approve shows the request and approves it on 'yes'", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice"), authz: ["READ"], lifetime: 600 });
    const admin = await f.userEnv(id("admin"));

    const r = await f.run(
      "condor_token_request_approve",
      ["-reqid", request.requestId],
      admin,
      "yes\n",
    );

    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const shown = r.stdout.replace(/RequestAge = \d+/, "RequestAge = AGE")
      .replace(/RequestTimeLeft = \d+/, "RequestTimeLeft = LEFT");
    assert.equal(
      shown,
      `Request contents:
AuthenticatedIdentity = "anonymous@ssl"
ClientId = "worker-17"
LimitAuthorization = "READ"
PeerLocation = "127.0.0.1"
RequestedIdentity = "${id("alice")}"
RequestId = "${request.requestId}"
TokenLifetime = 600
RequestAge = AGE
RequestTimeLeft = LEFT

To approve, please type 'yes'
Request ${request.requestId} approved successfully.
`,
    );
    const age = Number(/RequestAge = (\d+)/.exec(r.stdout)![1]);
    const left = Number(/RequestTimeLeft = (\d+)/.exec(r.stdout)![1]);
    assert.ok(age <= 60 && left > 3500 && left <= 3600, `${age} ${left}`);
    const collected = await f.collect(request.requestId, request.secret);
    assert.equal(collected.state, "collected");
    assert.ok(collected.token);
  });
});

Deno.test("condor_token_request_approve approves nothing on any answer but 'yes'", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const [no, yesWithSpace, eof] = await Promise.all(
      ["no\n", "yes \n", ""].map((stdin) =>
        f.run("condor_token_request_approve", ["-reqid", request.requestId], f.keyEnv, stdin)
      ),
    );
    for (const r of [no, yesWithSpace, eof]) {
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, "Request was NOT approved.\n");
      assert.match(r.stdout, /To approve, please type 'yes'\n$/);
    }
    assert.equal((await f.collect(request.requestId, request.secret)).state, "pending");
  });
});

Deno.test("condor_token_request_approve -yes approves the named request without asking", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const [r, usage] = await Promise.all([
      f.run("condor_token_request_approve", ["-reqid", request.requestId, "-yes"], f.keyEnv),
      f.run("condor_token_request_approve", ["-yes"], f.keyEnv),
    ]);

    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /please type/);
    assert.match(r.stdout, /^Request contents:\n/);
    assert.match(
      r.stdout,
      new RegExp(`\nRequest ${request.requestId} approved successfully\\.\n$`),
    );
    assert.equal((await f.collect(request.requestId, request.secret)).state, "collected");

    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^condor_token_request_approve: Option -yes needs -reqid/);
    assert.match(usage.stderr, /\nUsage: condor_token_request_approve /);
  });
});

Deno.test("condor_token_request_approve without -reqid walks every pending request in turn", async () => {
  await withFixture(async (f) => {
    const first = await f.enqueue({ identity: id("alice") });
    const second = await f.enqueue({ identity: id("bob") });
    const third = await f.enqueue({ identity: id("carol") });

    // yes, no, then end of input: the walk stops there, and one was not approved.
    const partly = await f.run("condor_token_request_approve", [], f.keyEnv, "yes\nno\n");
    assert.equal(partly.code, 1, partly.stderr);
    assert.equal((partly.stdout.match(/Request contents:/g) ?? []).length, 3);
    assert.match(partly.stdout, new RegExp(`Request ${first.requestId} approved successfully\\.`));
    assert.equal(partly.stderr, "Request was NOT approved.\nRequest was NOT approved.\n");
    assert.equal((await f.collect(first.requestId, first.secret)).state, "collected");
    assert.equal((await f.collect(second.requestId, second.secret)).state, "pending");

    const rest = await f.run("condor_token_request_approve", [], f.keyEnv, "yes\nyes\n");
    assert.equal(rest.code, 0, rest.stderr);
    assert.equal(rest.stderr, "");
    assert.match(rest.stdout, new RegExp(`Request ${second.requestId} approved successfully\\.`));
    assert.match(rest.stdout, new RegExp(`Request ${third.requestId} approved successfully\\.`));

    const none = await f.run("condor_token_request_approve", [], f.keyEnv, "yes\n");
    assert.deepEqual([none.code, none.stdout], [1, ""]);
    assert.match(
      none.stderr,
      /^Remote daemon has no request to approve \(asked as condor@tokend-test\.example\.org \(a 300 s token minted with signing key .*\)\)\.\n$/,
    );
  });
});

Deno.test("condor_token_request_approve -json prints one object of the outcome; the rest goes to stderr", async () => {
  await withFixture(async (f) => {
    const first = await f.enqueue({ identity: id("alice") });
    const second = await f.enqueue({ identity: id("bob") });
    const third = await f.enqueue({ identity: id("carol") });

    // yes, no, then end of input: one approved, one declined, one left undecided.
    const walk = await f.run("condor_token_request_approve", ["-json"], f.keyEnv, "yes\nno\n");
    assert.equal(walk.code, 1, walk.stderr);
    assert.deepEqual(JSON.parse(walk.stdout), {
      outcome: "not_approved",
      exitCode: 1,
      requests: [
        { requestId: first.requestId, outcome: "approved" },
        { requestId: second.requestId, outcome: "declined" },
        { requestId: third.requestId, outcome: "undecided" },
      ],
    });
    // The requests and the question went to stderr, so stdout is the object alone.
    assert.match(walk.stderr, /^Request contents:\n/);
    assert.match(walk.stderr, /To approve, please type 'yes'/);

    const one = await f.run(
      "condor_token_request_approve",
      ["-reqid", second.requestId, "-yes", "-j"],
      f.keyEnv,
    );
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(JSON.parse(one.stdout), {
      outcome: "approved",
      exitCode: 0,
      requests: [{ requestId: second.requestId, outcome: "approved" }],
    });

    const unknown = await f.run(
      "condor_token_request_approve",
      ["-reqid", "0000000", "-yes", "-json"],
      f.keyEnv,
    );
    assert.equal(unknown.code, 1);
    assert.deepEqual(
      (({ outcome, exitCode, code }) => ({ outcome, exitCode, code }))(JSON.parse(unknown.stdout)),
      { outcome: "error", exitCode: 1, code: "REQUEST_UNKNOWN" },
    );

    await f.run("condor_token_request_approve", ["-reqid", third.requestId, "-yes"], f.keyEnv);
    const none = await f.run("condor_token_request_approve", ["-json"], f.keyEnv, "");
    assert.deepEqual(JSON.parse(none.stdout), {
      outcome: "none_pending",
      exitCode: 1,
      requests: [],
    });
  });
});
