/**
 * condor_token_fetch as shipped against a real daemon over HTTPS on
 * loopback: a token for the caller's own identity, never broader than the
 * caller's own credential.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { verifyToken } from "../../src/token/idtoken.ts";
import { POOL_KEY_ID, readSigningKey } from "../../src/token/signing_key.ts";
import { TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { type Fixture, id, withFixture } from "./_admin_tools.ts";

/** Verifies `token` with the daemon's POOL key; returns its claims and scope. */
async function verified(f: Fixture, token: string) {
  const paths = testDaemonPaths(f.dir);
  const key = await readSigningKey(POOL_KEY_ID, {
    poolKeyFile: paths.poolKeyFile,
    passwordDirectory: paths.passwordDirectory,
  });
  return await verifyToken(
    token.trim(),
    (kid) => Promise.resolve(kid === POOL_KEY_ID ? key : undefined),
    {
      issuer: TEST_TRUST_DOMAIN,
      now: Math.floor(Date.now() / 1000),
    },
  );
}

Deno.test("condor_token_fetch gets a token for the caller's own identity", async () => {
  await withFixture(async (f) => {
    const alice = await f.userEnv(id("alice"), [], 3600);
    // -token writes into the token directory the credential is read from: a directory of its own.
    const aliceToo = await f.userEnv(id("alice"), [], 3600);
    const [plain, narrow, stored] = await Promise.all([
      f.run("condor_token_fetch", [], alice),
      f.run("condor_token_fetch", ["-authz", "READ", "-lifetime", "600"], alice),
      f.run("condor_token_fetch", ["-to", "fetched", "-a", "WRITE"], aliceToo),
    ]);

    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stderr, "");
    assert.match(plain.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = await verified(f, plain.stdout);
    assert.equal(token.claims.sub, id("alice"));
    assert.deepEqual(token.authz, []);
    // Without -lifetime, no longer than the credential it was fetched with.
    assert.ok(token.claims.exp !== undefined && token.claims.exp - token.claims.iat <= 3600);

    assert.equal(narrow.code, 0, narrow.stderr);
    const narrowed = await verified(f, narrow.stdout);
    assert.equal(narrowed.claims.sub, id("alice"));
    assert.deepEqual(narrowed.authz, ["READ"]);
    assert.equal(narrowed.claims.exp! - narrowed.claims.iat, 600);

    assert.equal(stored.code, 0, stored.stderr);
    assert.equal(stored.stdout, "");
    const file = `${aliceToo._CONDOR_SEC_TOKEN_DIRECTORY}/fetched`;
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const saved = await verified(f, await Deno.readTextFile(file));
    assert.equal(saved.claims.sub, id("alice"));
    assert.deepEqual(saved.authz, ["WRITE"]);
  });
});

Deno.test("condor_token_fetch with the signing key gets a short token for condor@ the trust domain", async () => {
  await withFixture(async (f) => {
    const r = await f.run("condor_token_fetch", ["-lifetime", "86400"], f.keyEnv);
    assert.equal(r.code, 0, r.stderr);
    const token = await verified(f, r.stdout);
    assert.equal(token.claims.sub, id("condor"));
    assert.ok(token.claims.exp! - token.claims.iat <= 300);
    assert.match(r.stderr, /^condor_token_fetch: the token lives \d+ s, not the 86400 s asked/);
  });
});

Deno.test("condor_token_fetch cannot widen the caller's scope or lifetime", async () => {
  await withFixture(async (f) => {
    const alice = await f.userEnv(id("alice"), ["READ"], 900);
    const credentialExp = Math.floor(Date.now() / 1000) + 900;
    const [wider, mixed, longer] = await Promise.all([
      f.run("condor_token_fetch", ["-authz", "WRITE"], alice),
      f.run("condor_token_fetch", ["-authz", "READ", "-authz", "ADMINISTRATOR"], alice),
      f.run("condor_token_fetch", ["-lifetime", "86400"], alice),
    ]);

    assert.equal(wider.code, EXIT.NOT_AUTHORIZED);
    assert.equal(wider.stdout, "");
    assert.match(
      wider.stderr,
      /^condor_token_fetch: Cannot fetch token at https:\/\/127\.0\.0\.1:\d+: Session doesn't allow requested authorization levels\. \(acting as alice@tokend-test\.example\.org \(the token in .*\/token line 1\)\)\n$/,
    );

    assert.equal(mixed.code, 0, mixed.stderr);
    assert.deepEqual((await verified(f, mixed.stdout)).authz, ["READ"]);
    assert.equal(
      mixed.stderr,
      "condor_token_fetch: the token does not carry ADMINISTRATOR: the credential used does not have it (it carries READ)\n",
    );

    assert.equal(longer.code, 0, longer.stderr);
    const capped = await verified(f, longer.stdout);
    assert.deepEqual(capped.authz, ["READ"]);
    assert.ok(capped.claims.exp! <= credentialExp + 2, `${capped.claims.exp} > ${credentialExp}`);
    assert.match(
      longer.stderr,
      /^condor_token_fetch: the token lives \d+ s, not the 86400 s asked: it cannot outlive the credential used/,
    );
  });
});

Deno.test("condor_token_fetch asks a SCHEDD by default, else the collector, but never falls back from -type", async () => {
  await withFixture(async (f) => {
    const alice = await f.userEnv(id("alice"));
    const [schedd, collector, byDefault] = await Promise.all([
      f.run("condor_token_fetch", ["-type", "SCHEDD"], alice),
      f.run("condor_token_fetch", ["-type", "collector"], alice),
      f.run("condor_token_fetch", ["-debug"], alice),
    ]);
    assert.equal(schedd.code, EXIT.FAILURE);
    assert.equal(schedd.stdout, "");
    assert.match(
      schedd.stderr,
      /^condor_token_fetch: Cannot find a SCHEDD in the pool of the collector at https:\/\/127\.0\.0\.1:\d+: it lists .*\n$/,
    );
    assert.equal(collector.code, 0, collector.stderr);
    assert.equal((await verified(f, collector.stdout)).claims.sub, id("alice"));
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.match(byDefault.stderr, /DEBUG: Cannot find a SCHEDD .*; trying the next daemon type\n/);
    assert.equal((await verified(f, byDefault.stdout)).claims.sub, id("alice"));

    // Once the pool lists a SCHEDD, the default finds it, as HTCondor's tool would.
    await f.advertise("schedd@submit.example.org", "SCHEDD");
    const [listed, named] = await Promise.all([
      f.run("condor_token_fetch", ["-debug"], alice),
      f.run("condor_token_fetch", ["-name", "SCHEDD@submit.example.org"], alice),
    ]);
    for (const r of [listed, named]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await verified(f, r.stdout)).claims.sub, id("alice"));
    }
    assert.match(
      listed.stderr,
      /DEBUG: the collector lists SCHEDD "schedd@submit\.example\.org" at /,
    );
    assert.doesNotMatch(listed.stderr, /trying the next daemon type/);
  });
});

Deno.test("condor_token_fetch refuses bad options with the usage", async () => {
  await withFixture(async (f) => {
    const cases = [
      [["-authz", "FLY"], /Invalid value for -authz: "FLY"/],
      [["-lifetime", "ten"], /Invalid value for -lifetime: "ten"/],
      [["-token", "a/b"], /-token takes a plain file name/],
      [["-token", "a", "-file", "/tmp/b"], /Options -token and -file cannot be used together/],
      [["-key", "../POOL"], /POOL/],
      [["-type", "toaster"], /Invalid value for -type: "toaster"/],
      [["-bogus"], /Invalid command line argument: -bogus/],
    ] as const;
    const results = await Promise.all(
      cases.map(([args]) => f.run("condor_token_fetch", [...args], f.keyEnv)),
    );
    results.forEach((r, i) => {
      assert.equal(r.code, EXIT.USAGE, `${cases[i][0]}: ${r.stderr}`);
      assert.match(r.stderr.split("\n")[0], cases[i][1]);
      assert.match(r.stderr, /\nUsage: condor_token_fetch /);
    });
  });
});

Deno.test("condor_token_fetch may narrow along HTCondor's hierarchy: a WRITE token yields a READ one", async () => {
  await withFixture(async (f) => {
    const writer = await f.userEnv(id("alice"), ["WRITE"], 900);
    const [read, admin] = await Promise.all([
      f.run("condor_token_fetch", ["-authz", "READ"], writer),
      f.run("condor_token_fetch", ["-authz", "ADMINISTRATOR"], writer),
    ]);
    assert.equal(read.code, 0, read.stderr);
    assert.deepEqual((await verified(f, read.stdout)).authz, ["READ"]);
    assert.equal(admin.code, EXIT.NOT_AUTHORIZED, admin.stderr);
  });
});

Deno.test("condor_token_fetch -json prints one object: identity, scope, expiry, the token or its file", async () => {
  await withFixture(async (f) => {
    const alice = await f.userEnv(id("alice"), ["READ", "WRITE"], 3600);
    const aliceToo = await f.userEnv(id("alice"), ["READ"], 3600);
    const [printed, stored] = await Promise.all([
      f.run("condor_token_fetch", ["-authz", "READ", "-lifetime", "600", "-json"], alice),
      f.run(
        "condor_token_fetch",
        ["-authz", "READ", "-a", "ADMINISTRATOR", "-to", "t", "-j"],
        aliceToo,
      ),
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stderr, "");
    const out = JSON.parse(printed.stdout);
    assert.deepEqual(Object.keys(out), [
      "outcome",
      "exitCode",
      "identity",
      "authorizations",
      "expiresAt",
      "token",
      "narrowed",
    ]);
    assert.deepEqual([out.outcome, out.exitCode, out.identity, out.authorizations, out.narrowed], [
      "issued",
      0,
      id("alice"),
      ["READ"],
      [],
    ]);
    const token = await verified(f, out.token);
    assert.equal(out.expiresAt, token.claims.exp);

    assert.equal(stored.code, 0, stored.stderr);
    const saved = JSON.parse(stored.stdout);
    assert.equal(saved.token, undefined, "never the token when it went to a file");
    assert.equal(saved.tokenFile, `${aliceToo._CONDOR_SEC_TOKEN_DIRECTORY}/t`);
    // What the daemon dropped is said on stderr and in the object.
    assert.equal(saved.narrowed.length, 1);
    assert.match(saved.narrowed[0], /does not carry ADMINISTRATOR/);
    assert.match(stored.stderr, /does not carry ADMINISTRATOR/);
  });
});
