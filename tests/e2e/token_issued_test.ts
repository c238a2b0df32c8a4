/**
 * condor_token_request_list -issued and -revocation as shipped
 * (subprocesses with the binary's permission flags) against a real daemon
 * over HTTPS on loopback: the tokens it issued are listed by ID, never
 * themselves; filters; administrators only; and the revocation line.
 */
import assert from "node:assert/strict";
import { firstLine, id, withFixture } from "./_admin_tools.ts";

/** The claims of a token (its middle part). */
function claimsOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

Deno.test("condor_token_request_list -issued lists every token issued, by ID and how, for administrators only", async () => {
  await withFixture(async (f) => {
    // One approved by an administrator, one by an auto-approval rule, one fetched.
    const alice = await f.enqueue({ identity: id("alice"), authz: ["READ"], lifetime: 600 });
    const approved = await f.run("condor_token_request_approve", [
      "-reqid",
      alice.requestId,
      "-yes",
    ], f.keyEnv);
    assert.equal(approved.code, 0, approved.stderr);
    const aliceToken = (await f.collect(alice.requestId, alice.secret)).token!;
    // Pending when the rule comes: the rule approves it, its trail names the rule.
    const worker = await f.enqueue({ identity: id("condor"), authz: ["ADVERTISE_STARTD"] });
    const rule = await f.run(
      "condor_token_request_auto_approve",
      ["-netblock", "127.0.0.0/8", "-lifetime", "600"],
      f.keyEnv,
    );
    assert.equal(rule.code, 0, rule.stderr);
    const workerToken = (await f.collect(worker.requestId, worker.secret)).token!;
    const bob = await f.userEnv(id("bob"), [], 3600);
    const fetched = await f.run("condor_token_fetch", ["-lifetime", "60"], bob);
    assert.equal(fetched.code, 0, fetched.stderr);
    const bobToken = fetched.stdout.trim();

    const admin = await f.userEnv(id("admin"), [], 3600);
    const json = await f.run("condor_token_request_list", ["-issued", "-json"], admin);
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout);
    for (const token of [aliceToken, workerToken, bobToken]) {
      assert.ok(!json.stdout.includes(token.split(".")[2]), "a token's signature is listed");
    }
    // Newest first.
    assert.deepEqual(listed.map((t: { jti: string }) => t.jti), [
      claimsOf(bobToken).jti,
      claimsOf(workerToken).jti,
      claimsOf(aliceToken).jti,
    ]);
    const [b, w, a] = listed;
    assert.deepEqual(a, {
      jti: claimsOf(aliceToken).jti,
      identity: id("alice"),
      authorizations: ["READ"],
      issuedAt: claimsOf(aliceToken).iat,
      expiresAt: claimsOf(aliceToken).exp,
      requestId: alice.requestId,
      peer: "127.0.0.1",
      how: "approved",
      approvedBy: id("condor"),
    });
    assert.equal(w.how, "auto-approval");
    assert.equal(w.approvedBy, "auto-approval rule 127.0.0.0/8");
    assert.equal(typeof w.ruleId, "number");
    assert.equal(w.requestId, worker.requestId);
    assert.deepEqual(
      { how: b.how, identity: b.identity, requestId: b.requestId, peer: b.peer },
      { how: "fetch", identity: id("bob"), requestId: null, peer: "127.0.0.1" },
    );

    const [plain, byIdentity, otherNet, ourNet] = await Promise.all([
      f.run("condor_token_request_list", ["-issued"], admin),
      f.run("condor_token_request_list", ["-issued", "-identity", id("alice"), "-json"], admin),
      f.run("condor_token_request_list", ["-issued", "-peer", "192.0.2.0/24"], admin),
      f.run("condor_token_request_list", ["-issued", "-peer", "127.0.0.1", "-json"], admin),
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      plain.stdout,
      new RegExp(
        `TokenId = "${claimsOf(aliceToken).jti}"\nIdentity = "${id("alice")}"\n` +
          `LimitAuthorization = "READ"\nIssuedAt = \\d+\nExpiresAt = \\d+\n` +
          `RequestId = "${alice.requestId}"\nPeerLocation = "127.0.0.1"\nIssuedBy = "approved"\n` +
          `ApprovedBy = "${id("condor")}"\n\n$`,
      ),
    );
    assert.deepEqual(JSON.parse(byIdentity.stdout).map((t: { jti: string }) => t.jti), [
      claimsOf(aliceToken).jti,
    ]);
    assert.equal(otherNet.code, 0, otherNet.stderr);
    assert.equal(otherNet.stdout, "");
    assert.equal(
      otherNet.stderr,
      "Remote daemon reports no issued tokens for requests from 192.0.2.0/24.\n",
    );
    assert.equal(JSON.parse(ourNet.stdout).length, 3);

    // Not for anyone else: the list says who holds which token.
    const refused = await f.run("condor_token_request_list", ["-issued"], bob);
    assert.equal(refused.code, 9, refused.stderr);
    assert.match(
      firstLine(refused.stderr),
      /^condor_token_request_list: Cannot list issued tokens at https:\/\/127\.0\.0\.1:\d+: "bob@[^"]+" does not have ADMINISTRATOR authorization/,
    );
    const badNet = await f.run(
      "condor_token_request_list",
      ["-issued", "-peer", "nonsense"],
      admin,
    );
    assert.equal(badNet.code, 1, badNet.stderr);
    assert.match(firstLine(badNet.stderr), /"nonsense" is not a netblock/);

    // The line that revokes what the listing selects, by ID.
    const revoke = await f.run(
      "condor_token_request_list",
      ["-issued", "-identity", id("alice"), "-revocation"],
      admin,
    );
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.equal(
      revoke.stdout,
      `SEC_TOKEN_REVOCATION_EXPR = jti =?= "${claimsOf(aliceToken).jti}"\n`,
    );
    assert.equal(revoke.stderr, "Revoking 1 issued token by ID.\n");
    const none = await f.run(
      "condor_token_request_list",
      ["-issued", "-identity", id("nobody"), "-revocation"],
      admin,
    );
    assert.equal(none.code, 1);
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /lists no issued token issued to nobody@/);
  });
});

Deno.test("condor_token_request_list -revocation writes the line without a daemon, keeping what is configured", async () => {
  await withFixture(async (f) => {
    const env = { ...f.noCredentialEnv, _CONDOR_COLLECTOR_HOST: "127.0.0.1:1" };
    const r = await f.run("condor_token_request_list", [
      "-revocation",
      "-jti",
      "0123abcd",
      "-identity",
      'odd"$(x)\\y@example.org',
      "-issuedbefore",
      "2025-06-01T00:00:00Z",
    ], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      'SEC_TOKEN_REVOCATION_EXPR = jti =?= "0123abcd" || sub =?= "odd\\"$(DOLLAR)(x)\\y@example.org"' +
        " || (isInteger(iat) && iat < 1748736000)\n",
    );
    const kept = await f.run(
      "condor_token_request_list",
      ["-revocation", "-jti", "ff"],
      { ...env, _CONDOR_SEC_TOKEN_BLACKLIST_EXPR: 'sub =?= "old@example.org"' },
    );
    assert.equal(kept.code, 0, kept.stderr);
    assert.equal(
      kept.stdout,
      'SEC_TOKEN_REVOCATION_EXPR = (sub =?= "old@example.org") || jti =?= "ff"\n',
    );
    assert.match(kept.stderr, /keeping the expression SEC_TOKEN_BLACKLIST_EXPR sets/);

    for (
      const [args, message] of [
        [["-revocation"], /needs the tokens to revoke/],
        [["-revocation", "-identity", "a@b\\"], /ends with a backslash/],
        [["-revocation", "-jti", "x", "-json"], /-json does not go with -revocation/],
        [["-jti", "x"], /Option -jti needs -revocation/],
        [["-peer", "127.0.0.1"], /Option -peer needs -issued/],
        [["-revocation", "-issuedbefore", "yesterday"], /Invalid value for -issuedbefore/],
      ] as const
    ) {
      const bad = await f.run("condor_token_request_list", [...args], env);
      assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
      assert.match(firstLine(bad.stderr), message);
    }
  });
});
