/**
 * Our condor_token_fetch against an unmodified HTCondor collector, next to
 * HTCondor's own condor_token_fetch: the same DC_GET_SESSION_TOKEN, the same
 * token for the same session (identity, scope narrowed to what was asked and
 * the session allows, life capped by the credential's), the same refusals
 * in the daemon's own words, and the token works in the real pool.
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix
 * (see docs/interop.md); otherwise every test is registered as ignored.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import {
  assertAllowed,
  assertOneLineFailure,
  assertRefused,
  interopTest,
  ping,
  type Pool,
  runReal,
  tokenParts,
  tokensOnly,
  withReadyPool,
} from "../_support/htcondor_pool.ts";
import { runTool } from "../_support/run_tool.ts";

const TRUST_DOMAIN = "fetch.test";

/**
 * Mints (with our condor_token_create and the pool's key) a token for
 * `identity` into `dir/token`, made 0700 first; returns the token.
 */
async function credential(pool: Pool, dir: string, identity: string, args: string[]) {
  await Deno.mkdir(dir, { mode: 0o700 });
  const r = await runTool("condor_token_create", [
    ...["-identity", identity, ...args, "-token", "token"],
  ], { env: { ...pool.ourEnv, _CONDOR_SEC_TOKEN_DIRECTORY: dir } });
  assert.equal(r.code, 0, r.stderr);
  return (await Deno.readTextFile(`${dir}/token`)).trim();
}

interopTest(
  "our condor_token_fetch gets from the real collector the token HTCondor's own fetch gets, and the real condor_ping accepts it",
  async () => {
    await withReadyPool({ trustDomain: TRUST_DOMAIN }, async (pool, dir) => {
      const alice = `alice@${TRUST_DOMAIN}`;
      const held = `${dir}/alice`;
      const aliceToken = await credential(pool, held, alice, [
        ...["-authz", "READ", "-authz", "WRITE", "-lifetime", "600"],
      ]);
      const fetched = `${dir}/fetched`;
      await Deno.mkdir(fetched, { mode: 0o700 });
      const asked = ["-authz", "READ", "-lifetime", "300"];
      const ours = await runTool("condor_token_fetch", [
        ...["-pool", pool.hostAddress, ...asked, "-file", `${fetched}/token`],
      ], { env: { ...pool.ourEnv, ...tokensOnly(pool, held) } });
      assert.equal(ours.code, EXIT.OK, ours.stderr);
      assert.equal(ours.stdout, "", "the token went to its file");
      assert.equal(ours.stderr, "");
      assert.equal((await Deno.stat(`${fetched}/token`)).mode! & 0o777, 0o600);
      const real = await runReal("bin/condor_token_fetch", [
        ...["-pool", pool.address, "-type", "collector", ...asked],
      ], { ...pool.env, ...tokensOnly(pool, held) });
      assert.equal(real.code, 0, real.stderr);

      const mine = tokenParts(await Deno.readTextFile(`${fetched}/token`));
      const theirs = tokenParts(real.stdout);
      assert.deepEqual(mine.header, theirs.header);
      assert.deepEqual(mine.header, { alg: "HS256", kid: "POOL" });
      assert.deepEqual(Object.keys(mine.claims).sort(), Object.keys(theirs.claims).sort());
      for (const claim of ["sub", "iss", "scope"] as const) {
        assert.equal(mine.claims[claim], theirs.claims[claim], claim);
      }
      assert.equal(mine.claims.sub, alice);
      assert.equal(mine.claims.scope, "condor:/READ");
      assert.equal(mine.claims.exp! - mine.claims.iat, 300);

      const rows = await ping(pool, fetched, ["READ", "WRITE"]);
      assertAllowed(rows, "READ", alice);
      assertRefused(rows, "WRITE");

      // Without -authz and -lifetime the daemon keeps the session's own limits and life.
      const json = await runTool("condor_token_fetch", ["-pool", pool.hostAddress, "-json"], {
        env: { ...pool.ourEnv, ...tokensOnly(pool, held) },
      });
      assert.equal(json.code, EXIT.OK, json.stderr);
      const outcome = JSON.parse(json.stdout);
      assert.deepEqual(Object.keys(outcome), [
        ...["outcome", "exitCode", "identity", "authorizations", "expiresAt", "token"],
        "narrowed",
      ]);
      assert.equal(outcome.identity, alice);
      assert.deepEqual(outcome.authorizations, ["READ", "WRITE"]);
      assert.ok(outcome.expiresAt <= tokenParts(aliceToken).claims.exp!, "not beyond alice's");
      assert.equal(tokenParts(outcome.token).claims.scope, "condor:/READ condor:/WRITE");
    });
  },
);

interopTest(
  "the real collector's refusals of our condor_token_fetch: exit 9, one line, in the words HTCondor's own fetch shows",
  async () => {
    await withReadyPool({ trustDomain: TRUST_DOMAIN }, async (pool, dir) => {
      const held = `${dir}/bob`;
      await credential(pool, held, `bob@${TRUST_DOMAIN}`, ["-authz", "READ", "-lifetime", "600"]);
      const tokens = tokensOnly(pool, held);
      // Anonymous SSL: the collector's own certificate checked, but we have no identity.
      const anonymous = {
        _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
        _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
        _CONDOR_AUTH_SSL_SERVER_CERTFILE: "",
      };
      const cases: [string[], Record<string, string>, string][] = [
        [
          ["-authz", "ADMINISTRATOR"],
          tokens,
          "DAEMON:4:Session doesn't allow requested authorization levels.",
        ],
        [["-key", "OTHER"], tokens, "DAEMON:3:Server will not sign with requested key."],
        [[], anonymous, "DAEMON:2:Server did not successfully authenticate session."],
      ];
      // Independent runs, side by side: the suite must stay short.
      await Promise.all(cases.map(async ([args, env, words]) => {
        const [ours, real] = await Promise.all([
          runTool("condor_token_fetch", ["-pool", pool.hostAddress, ...args], {
            env: { ...pool.ourEnv, ...env },
          }),
          runReal("bin/condor_token_fetch", [
            ...["-pool", `<${pool.address}?alias=${pool.hostName}>`, "-type", "collector", ...args],
          ], { ...pool.env, ...env }),
        ]);
        assertOneLineFailure(ours, EXIT.NOT_AUTHORIZED);
        assert.ok(ours.stderr.includes(words), ours.stderr);
        assert.match(ours.stderr, /^condor_token_fetch: Cannot fetch a token from the daemon at /);
        assert.equal(real.code, 1, real.stderr);
        assert.ok(real.stderr.includes(words), `HTCondor's: ${real.stderr}`);
      }));
    });
  },
);

interopTest(
  "over FS our condor_token_fetch gets a token for the same identity as HTCondor's own fetch",
  async () => {
    await withReadyPool({ trustDomain: TRUST_DOMAIN }, async (pool) => {
      const fs = { _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "FS" };
      const [ours, real] = await Promise.all([
        runTool("condor_token_fetch", [
          ...["-pool", pool.hostAddress, "-authz", "READ", "-lifetime", "60"],
        ], { env: { ...pool.ourEnv, ...fs } }),
        runReal("bin/condor_token_fetch", [
          ...["-pool", pool.address, "-type", "collector", "-authz", "READ", "-lifetime", "60"],
        ], { ...pool.env, ...fs }),
      ]);
      assert.equal(ours.code, EXIT.OK, ours.stderr);
      assert.equal(real.code, 0, real.stderr);
      const mine = tokenParts(ours.stdout).claims;
      const theirs = tokenParts(real.stdout).claims;
      assert.match(mine.sub, new RegExp(`^[^@]+@${TRUST_DOMAIN.replace(".", "\\.")}$`));
      assert.equal(mine.sub, theirs.sub);
      assert.equal(mine.scope, "condor:/READ");
      assert.equal(mine.exp! - mine.iat, 60);
    });
  },
);
