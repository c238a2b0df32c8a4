/**
 * The downgrade attack, end to end: a hostile server on the requester's
 * path hangs up on the TLS ClientHello, so a bare host:port falls back to
 * HTCondor's protocol, and then takes the request without proving who it
 * is. The requester must send it nothing of the request, and must never
 * store the token it forges; nor must condor_token_fetch, which speaks
 * DC_GET_SESSION_TOKEN to HTCondor daemons.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { mintToken } from "../../src/token/idtoken.ts";
import { signingKeyFromFileBytes } from "../../src/token/signing_key.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { type HostileAuth, startHostileCedar } from "../_support/hostile_cedar.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { untrustedEnv } from "./_token_request.ts";

/** What the hostile server hands out: iss "evil", sub "attacker@evil". */
async function forgedToken(): Promise<string> {
  const key = await signingKeyFromFileBytes(
    "POOL",
    crypto.getRandomValues(new Uint8Array(32)),
    { isPool: true },
  );
  return (await mintToken(key, {
    identity: "attacker@evil",
    issuer: "evil",
    now: Math.floor(Date.now() / 1000),
  })).token;
}

/**
 * Runs the requester against a hostile server (`auth`) with the real
 * daemon's fingerprint pinned or not, and returns what happened.
 */
async function attack(auth: HostileAuth, pinned: boolean) {
  return await withTempDir(async (dir) => {
    // A real daemon, only for a real fingerprint to pin and a real configuration.
    const daemon = await startTestDaemon({ dir });
    const hostile = startHostileCedar(auth, await forgedToken());
    try {
      const r = await runTool("condor_token_request", [
        ...["-pool", `127.0.0.1:${hostile.port}`],
        ...(pinned ? ["-trust", daemon.fingerprint] : []),
        ...["-identity", `condor@${TEST_TRUST_DOMAIN}`, "-authz", "ADVERTISE_STARTD"],
        ...["-token", "startd"],
      ], { env: untrustedEnv(daemon.env), requesterFlags: true });
      const stored = await Deno.stat(`${testDaemonPaths(dir).tokenDirectory}/startd`).then(
        () => true,
        (err) => {
          if (err instanceof Deno.errors.NotFound) return false;
          throw err;
        },
      );
      return { r, stored, payloads: hostile.payloads, tlsAttempts: hostile.tlsAttempts };
    } finally {
      await hostile.close();
      await daemon.close();
    }
  });
}

for (const auth of ["none", "fs"] as const) {
  Deno.test(
    `condor_token_request (e2e): a server that hangs up on TLS and then ${
      auth === "none" ? "declines authentication" : "authenticates with FS only"
    } gets nothing of a request pinned with -trust`,
    async () => {
      const { r, stored, payloads, tlsAttempts } = await attack(auth, true);
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.equal(tlsAttempts, 1, "TLS was tried first");
      assert.deepEqual(payloads, [], "no User, ClientId or LimitAuthorization left the requester");
      assert.equal(stored, false);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.match(
        r.stderr,
        auth === "none" ? /did not prove who it is.*nothing was sent/ : /fingerprint was given.*FS/,
      );
    },
  );
}

Deno.test("condor_token_request (e2e): without a pin, a server that declines authentication is refused too", async () => {
  const { r, stored, payloads } = await attack("none", false);
  assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
  assert.deepEqual(payloads, []);
  assert.equal(stored, false);
});

Deno.test("condor_token_request (e2e): a token for another identity and issuer is never stored", async () => {
  // FS to a loopback peer is accepted without a pin (a daemon on this host),
  // so the request goes out; what comes back is checked before it is kept.
  const { r, stored, payloads } = await attack("fs", false);
  assert.equal(payloads.length, 1);
  assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
  assert.equal(stored, false);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /"attacker@evil", not the identity asked for/);
  assert.doesNotMatch(r.stderr, /eyJ/, "the forged token is not shown");
});

Deno.test("condor_token_fetch (e2e): a server that declines authentication gets nothing of the fetch, and its token is not kept", async () => {
  await withTempDir(async (dir) => {
    // A real daemon's configuration: a token directory, and the POOL key a credential could use.
    const daemon = await startTestDaemon({ dir });
    const hostile = startHostileCedar("none", await forgedToken());
    try {
      const r = await runTool("condor_token_fetch", [
        ...["-pool", `127.0.0.1:${hostile.port}`, "-type", "COLLECTOR"],
        ...["-authz", "READ", "-token", "fetched"],
      ], { env: untrustedEnv(daemon.env) });
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.deepEqual(hostile.payloads, [], "no LimitAuthorization, TokenLifetime or query left");
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /did not prove who it is.*nothing was sent/);
      await assert.rejects(
        Deno.stat(`${testDaemonPaths(dir).tokenDirectory}/fetched`),
        Deno.errors.NotFound,
      );
    } finally {
      await hostile.close();
      await daemon.close();
    }
  });
});

Deno.test("condor_token_fetch (e2e): a token for another identity and issuer from a server on this host is never stored", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    // FS to a loopback peer is accepted without a pin, so the fetch goes out: the reply is checked.
    const hostile = startHostileCedar("fs", await forgedToken());
    try {
      const r = await runTool("condor_token_fetch", [
        ...["-pool", `127.0.0.1:${hostile.port}`, "-type", "COLLECTOR", "-token", "fetched"],
      ], { env: untrustedEnv(daemon.env) });
      assert.deepEqual(hostile.payloads, [new Map()], "HTCondor's empty DC_GET_SESSION_TOKEN ad");
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      // The session said "unauthenticated@unmapped": the identity is the first thing wrong.
      assert.match(r.stderr, /"attacker@evil", not the identity asked for/);
      assert.doesNotMatch(r.stderr, /eyJ/, "the forged token is not shown");
      await assert.rejects(
        Deno.stat(`${testDaemonPaths(dir).tokenDirectory}/fetched`),
        Deno.errors.NotFound,
      );
    } finally {
      await hostile.close();
      await daemon.close();
    }
  });
});
