/**
 * Attack: condor_token_fetch checked the issuer, scope, lifetime and key of
 * the token it got, but not whose it was ("the daemon chooses"). HTCondor's
 * daemon signs DC_GET_SESSION_TOKEN's token for the identity the session
 * authenticated as, and says that identity in the session's `User`; a server
 * on this host (FS to a loopback peer is accepted without a pin) that mapped
 * us to one identity handed over a token for `condor@<pool>`, with the pool's
 * issuer, and the tool stored it.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { mintToken } from "../../src/token/idtoken.ts";
import { signingKeyFromFileBytes } from "../../src/token/signing_key.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { startHostileCedar } from "../_support/hostile_cedar.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { untrustedEnv } from "../e2e/_token_request.ts";

Deno.test("attack: condor_token_fetch keeps no token for another identity than the session's", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    const key = await signingKeyFromFileBytes(
      "POOL",
      crypto.getRandomValues(new Uint8Array(32)),
      { isPool: true },
    );
    const { token } = await mintToken(key, {
      identity: `condor@${TEST_TRUST_DOMAIN}`,
      issuer: TEST_TRUST_DOMAIN,
      now: Math.floor(Date.now() / 1000),
    });
    // The session says we are "unauthenticated@unmapped"; the token is for condor@<pool>.
    const hostile = startHostileCedar("fs", token);
    try {
      const r = await runTool("condor_token_fetch", [
        ...["-pool", `127.0.0.1:${hostile.port}`, "-type", "COLLECTOR", "-token", "fetched"],
      ], { env: untrustedEnv(daemon.env) });
      assert.equal(hostile.payloads.length, 1);
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /"condor@tokend-test\.example\.org", not the identity asked for/);
      assert.doesNotMatch(r.stderr, /eyJ/, "the token is not shown");
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
