/**
 * Interoperability with a real HTCondor: tokens we mint, verify, list and
 * issue against HTCondor's own collector and tools, on loopback.
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix
 * (`sbin/condor_master`, `sbin/condor_collector`, `bin/condor_ping`,
 * `bin/condor_token_create`, `bin/condor_token_list`); otherwise every test is
 * registered as ignored, with the reason in its name. docs/interop.md says how
 * to set up such a peer; tests/_support/htcondor_pool.ts runs one.
 */
import assert from "node:assert/strict";
import { verifyToken } from "../../src/token/idtoken.ts";
import {
  createKeyFileIfMissing,
  type KeyLocations,
  POOL_KEY_ID,
  readSigningKey,
} from "../../src/token/signing_key.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN } from "../_support/daemon.ts";
import {
  assertAllowed,
  assertRefused,
  interopTest,
  ping,
  type Pool,
  preparePool,
  runReal,
  withMaster,
} from "../_support/htcondor_pool.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { withRequester } from "../e2e/_token_request.ts";

/** The trust domain of the pools that do not share a key with our condor_tokend. */
const TRUST_DOMAIN = "interop.example.org";

/** Runs our condor_token_create storing the token as `tokenDirectory/token`; returns the token. */
async function ourToken(
  pool: Pool,
  tokenDirectory: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const r = await runTool("condor_token_create", [...args, "-token", "token"], {
    env: { ...pool.ourEnv, _CONDOR_SEC_TOKEN_DIRECTORY: tokenDirectory, ...env },
  });
  assert.equal(r.code, 0, r.stderr);
  return (await Deno.readTextFile(`${tokenDirectory}/token`)).trim();
}

/** How many times `text` occurs in the collector's whole log. */
async function countInCollectorLog(pool: Pool, text: string): Promise<number> {
  return (await Deno.readTextFile(`${pool.dir}/log/CollectorLog`)).split(text).length - 1;
}

const LIMITED = "successful but resulted in a limited authorization which did not include";

interopTest(
  "condor_token_create (ours) mints tokens the real collector accepts, scope honoured",
  async () => {
    await withTempDir(async (dir) => {
      // The collector creates the POOL key; we mint with the key file it wrote.
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      await withMaster(pool, async () => {
        const alice = `alice@${TRUST_DOMAIN}`;
        const plain = `${dir}/alice-tokens`;
        await ourToken(pool, plain, ["-identity", alice, "-lifetime", "600"]);
        const all = await ping(pool, plain, ["READ", "WRITE"]);
        assertAllowed(all, "READ", alice);
        assertAllowed(all, "WRITE", alice);

        // A READ-only token is refused WRITE, which ALLOW_WRITE = * would grant.
        const bob = `bob@${TRUST_DOMAIN}`;
        const readOnly = `${dir}/bob-tokens`;
        await ourToken(pool, readOnly, ["-identity", bob, "-authz", "READ", "-lifetime", "600"]);
        const limitedBefore = await countInCollectorLog(pool, LIMITED);
        const narrowed = await ping(pool, readOnly, ["READ", "WRITE"]);
        assertAllowed(narrowed, "READ", bob);
        assertRefused(narrowed, "WRITE");
        assert.equal(await countInCollectorLog(pool, LIMITED), limitedBefore + 1);

        // condor@ is an administrator by the recommended policy; scope WRITE takes that away.
        // In HTCondor WRITE implies READ, so a WRITE-only token still may READ.
        const condor = `condor@${TRUST_DOMAIN}`;
        const admin = `${dir}/condor-tokens`;
        await ourToken(pool, admin, ["-identity", condor, "-lifetime", "600"]);
        assertAllowed(await ping(pool, admin, ["ADMINISTRATOR"]), "ADMINISTRATOR", condor);
        const writeOnly = `${dir}/condor-write-tokens`;
        await ourToken(pool, writeOnly, [
          "-identity",
          condor,
          "-authz",
          "WRITE",
          "-lifetime",
          "600",
        ]);
        const write = await ping(pool, writeOnly, ["READ", "WRITE", "ADMINISTRATOR"]);
        assertAllowed(write, "READ", condor);
        assertAllowed(write, "WRITE", condor);
        assertRefused(write, "ADMINISTRATOR");
        assert.equal(await countInCollectorLog(pool, LIMITED), limitedBefore + 2);

        // Control: the same claims signed with another key are refused outright.
        const otherKeys = `${dir}/other-keys`;
        await Deno.mkdir(otherKeys, { mode: 0o700 });
        await createKeyFileIfMissing(`${otherKeys}/POOL`);
        const forged = `${dir}/forged-tokens`;
        await ourToken(pool, forged, ["-identity", alice, "-lifetime", "600"], {
          _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${otherKeys}/POOL`,
        });
        const failedBefore = await countInCollectorLog(
          pool,
          "Failed to authenticate using IDTOKENS",
        );
        assertRefused(await ping(pool, forged, ["READ"]), "READ");
        assert.ok(
          await countInCollectorLog(pool, "Failed to authenticate using IDTOKENS") > failedBefore,
        );
      });
    });
  },
);

interopTest(
  "tokens from the real condor_token_create verify in verifyToken and show in our condor_token_list",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      // Our key files, read by the real tool: POOL (doubled) and a named key (not doubled).
      await createKeyFileIfMissing(pool.poolKeyFile);
      await createKeyFileIfMissing(`${pool.passwordDirectory}/SITE`);
      const locations: KeyLocations = {
        poolKeyFile: pool.poolKeyFile,
        passwordDirectory: pool.passwordDirectory,
      };
      const verify = (token: string) =>
        verifyToken(token, (kid) => readSigningKey(kid, locations), {
          issuer: TRUST_DOMAIN,
          now: Math.floor(Date.now() / 1000),
        });

      const carol = `carol@${TRUST_DOMAIN}`;
      const created = await runReal("bin/condor_token_create", [
        "-identity",
        carol,
        "-authz",
        "READ",
        "-authz",
        "WRITE",
        "-lifetime",
        "600",
      ], pool.env);
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();
      // HTCondor escapes "/" in JSON strings; the HMAC covers those exact bytes.
      assert.ok(base64UrlDecode(token.split(".")[1]).includes('"scope":"condor:\\/READ'));
      const verified = await verify(token);
      assert.equal(verified.kid, POOL_KEY_ID);
      assert.equal(verified.claims.sub, carol);
      assert.equal(verified.claims.iss, TRUST_DOMAIN);
      assert.deepEqual(verified.authz, ["READ", "WRITE"]);
      assert.equal(verified.claims.exp! - verified.claims.iat, 600);
      assert.match(verified.claims.jti, /^[0-9a-f]{32}$/);

      const named = await runReal(
        "bin/condor_token_create",
        ["-identity", carol, "-key", "SITE"],
        pool.env,
      );
      assert.equal(named.code, 0, named.stderr);
      const site = await verify(named.stdout.trim());
      assert.equal(site.kid, "SITE");
      assert.equal(site.claims.exp, undefined);
      assert.deepEqual(site.authz, []);

      // Control: the same token with one signature character changed is refused.
      const [h, p, s] = token.split(".");
      const tampered = `${h}.${p}.${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
      await assert.rejects(verify(tampered), { code: "TOKEN_BAD_SIGNATURE" });

      const stored = await runReal(
        "bin/condor_token_create",
        ["-identity", `dave@${TRUST_DOMAIN}`, "-lifetime", "60", "-token", "real"],
        pool.env,
      );
      assert.equal(stored.code, 0, stored.stderr);
      const file = `${pool.tokenDirectory}/real`;
      const written = (await Deno.readTextFile(file)).trim();
      assert.equal((await verify(written)).claims.sub, `dave@${TRUST_DOMAIN}`);
      const listed = await runTool("condor_token_list", [], { env: pool.ourEnv });
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stderr, "");
      const [headerText, payloadText] = written.split(".").slice(0, 2).map(base64UrlDecode);
      assert.equal(listed.stdout, `Header: ${headerText} Payload: ${payloadText} File: ${file}\n`);
    });
  },
);

interopTest(
  "the real condor_token_list shows a token file our condor_token_create wrote",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      await createKeyFileIfMissing(pool.poolKeyFile);
      const r = await runTool("condor_token_create", [
        "-identity",
        `erin@${TRUST_DOMAIN}`,
        "-authz",
        "READ",
        "-authz",
        "ADVERTISE_STARTD",
        "-lifetime",
        "600",
        "-token",
        "ours",
      ], { env: pool.ourEnv });
      assert.equal(r.code, 0, r.stderr);
      const file = `${pool.tokenDirectory}/ours`;
      const token = (await Deno.readTextFile(file)).trim();
      const [headerText, payloadText] = token.split(".").slice(0, 2).map(base64UrlDecode);
      const listed = await runReal("bin/condor_token_list", [], pool.env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout, `Header: ${headerText} Payload: ${payloadText} File: ${file}\n`);
      const payload = JSON.parse(payloadText);
      assert.equal(payload.sub, `erin@${TRUST_DOMAIN}`);
      assert.equal(payload.iss, TRUST_DOMAIN);
      assert.equal(payload.scope, "condor:/READ condor:/ADVERTISE_STARTD");
      assert.equal(payload.exp - payload.iat, 600);
    });
  },
);

interopTest(
  "a token our condor_tokend issues to an approved condor_token_request works in the real pool",
  async () => {
    await withTempDir(async (dir) => {
      // Our daemon creates the POOL key; the real collector signs and checks with that file.
      const daemon = await startTestDaemon({ dir: `${dir}/tokend` });
      try {
        const pool = await preparePool(dir, {
          trustDomain: TEST_TRUST_DOMAIN,
          poolKeyFile: `${dir}/tokend/passwords.d/POOL`,
        });
        await withMaster(pool, async () => {
          const frank = `frank@${TEST_TRUST_DOMAIN}`;
          const token = await withRequester(
            ["-identity", frank, "-authz", "READ", "-lifetime", "600"],
            daemon.env,
            async (requester) => {
              const id = await requester.requestId();
              const approved = await runTool(
                "condor_token_request_approve",
                ["-reqid", id, "-yes"],
                { env: daemon.env },
              );
              assert.equal(approved.code, 0, approved.stderr);
              const r = await requester.done;
              assert.equal(r.code, 0, r.stderr);
              return r.stdout.trim();
            },
          );
          const tokens = `${dir}/frank-tokens`;
          await Deno.mkdir(tokens, { mode: 0o700 });
          await Deno.writeTextFile(`${tokens}/token`, token + "\n", { mode: 0o600 });
          const rows = await ping(pool, tokens, ["READ", "WRITE"]);
          assertAllowed(rows, "READ", frank);
          assertRefused(rows, "WRITE");
          assert.equal(await countInCollectorLog(pool, LIMITED), 1);
        });
      } finally {
        await daemon.close();
      }
    });
  },
);

interopTest(
  "without TRUST_DOMAIN our condor_token_create names the issuer the real one does",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, {});
      await createKeyFileIfMissing(pool.poolKeyFile);
      const issuers = [];
      for (
        const r of [
          await runReal("bin/condor_token_create", ["-identity", "x@example.org"], pool.env),
          await runTool("condor_token_create", ["-identity", "x@example.org"], {
            env: pool.ourEnv,
          }),
        ]
      ) {
        assert.equal(r.code, 0, r.stderr);
        issuers.push(JSON.parse(base64UrlDecode(r.stdout.trim().split(".")[1])).iss);
      }
      const real = await runReal("bin/condor_config_val", ["TRUST_DOMAIN"], pool.env);
      assert.equal(issuers[0], real.stdout.trim());
      assert.equal(issuers[1], issuers[0]);
    });
  },
);

/** Decodes one base64url segment to text. */
function base64UrlDecode(segment: string): string {
  const bin = atob(segment.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

interopTest(
  "the SEC_TOKEN_REVOCATION_EXPR line condor_token_request_list prints makes the real collector refuse those tokens, and only those",
  async () => {
    await withTempDir(async (dir) => {
      const daemon = await startTestDaemon({ dir: `${dir}/tokend` });
      try {
        const pool = await preparePool(dir, {
          trustDomain: TEST_TRUST_DOMAIN,
          poolKeyFile: `${dir}/tokend/passwords.d/POOL`,
        });
        const noKeys = {
          _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${dir}/no-keys/POOL`,
          _CONDOR_SEC_PASSWORD_DIRECTORY: `${dir}/no-keys`,
        };
        let dirs = 0;
        const tokenDir = async (token: string) => {
          const tokens = `${dir}/tokens-${++dirs}`;
          await Deno.mkdir(tokens, { mode: 0o700 });
          await Deno.writeTextFile(`${tokens}/token`, token + "\n", { mode: 0o600 });
          return tokens;
        };
        // Tokens our daemon issues (condor_token_fetch), each recorded with its jti.
        const fetch = async (identity: string) => {
          const env = {
            ...daemon.env,
            ...noKeys,
            _CONDOR_SEC_TOKEN_DIRECTORY: await tokenDir(await daemon.mintToken(identity, [], 600)),
          };
          const r = await runTool("condor_token_fetch", ["-authz", "READ", "-lifetime", "600"], {
            env,
          });
          assert.equal(r.code, 0, r.stderr);
          return await tokenDir(r.stdout.trim());
        };
        const frank = `frank@${TEST_TRUST_DOMAIN}`;
        const mallory = `mallory@${TEST_TRUST_DOMAIN}`;
        const revokedFrank = await fetch(frank);
        const keptFrank = await fetch(frank);
        const revokedMallory = await fetch(mallory);
        const jtiOf = async (tokens: string) =>
          JSON.parse(base64UrlDecode((await Deno.readTextFile(`${tokens}/token`)).split(".")[1]))
            .jti;

        // One line from the daemon's list (mallory's tokens, by jti) plus one frank token's jti.
        const listed = await runTool("condor_token_request_list", [
          "-issued",
          "-identity",
          mallory,
          "-revocation",
          "-jti",
          await jtiOf(revokedFrank),
        ], { env: daemon.env });
        assert.equal(listed.code, 0, listed.stderr);
        await Deno.writeTextFile(pool.configPath, listed.stdout, { append: true });
        // Then, on the collector's host, an identity whose quoting matters: the line
        // keeps what the configuration revokes already.
        const odd = `o"dd$(FOO)\\x@${TEST_TRUST_DOMAIN}`;
        const added = await runTool("condor_token_request_list", [
          "-revocation",
          "-identity",
          odd,
        ], { env: pool.ourEnv });
        assert.equal(added.code, 0, added.stderr);
        assert.match(added.stderr, /keeping the expression SEC_TOKEN_REVOCATION_EXPR sets/);
        await Deno.writeTextFile(pool.configPath, added.stdout, { append: true });
        const oddToken = await tokenDir(await daemon.mintToken(odd, ["READ"], 600));
        const nearlyOdd = `o"dd$(FOO)\\xy@${TEST_TRUST_DOMAIN}`;
        const nearlyOddToken = await tokenDir(await daemon.mintToken(nearlyOdd, ["READ"], 600));

        await withMaster(pool, async () => {
          assertAllowed(await ping(pool, keptFrank, ["READ"]), "READ", frank);
          assertAllowed(await ping(pool, nearlyOddToken, ["READ"]), "READ", nearlyOdd);
          assertRefused(await ping(pool, revokedFrank, ["READ"]), "READ");
          assertRefused(await ping(pool, revokedMallory, ["READ"]), "READ");
          assertRefused(await ping(pool, oddToken, ["READ"]), "READ");
          assert.equal(await countInCollectorLog(pool, "has been revoked"), 3);
        });
      } finally {
        await daemon.close();
      }
    });
  },
);
