/**
 * Trust on a fresh host, end to end: a daemon with a self-signed
 * certificate and no CA file. Without a terminal the requester refuses and
 * says how to pin; a pin (option or knob) works and is remembered; a changed
 * certificate for a known host is refused.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { withDaemon } from "../_support/daemon.ts";
import { runTool } from "../_support/run_tool.ts";
import { untrustedEnv, withRequester } from "./_token_request.ts";

const OTHER = "sha256:" + Array(32).fill("5A").join(":");

Deno.test("condor_token_request (e2e): refuses an unknown self-signed daemon without a terminal and says how to pin it", async () => {
  await withDaemon(async ({ daemon, admin, dir }) => {
    const env = untrustedEnv(daemon.env);
    const knownHosts = `${dir}/home/.condor/known_hosts`;
    const r = await runTool("condor_token_request", [], { env, requesterFlags: true });
    assert.equal(r.code, EXIT.UNTRUSTED);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.ok(r.stderr.includes(`-trust ${daemon.fingerprint}`), r.stderr);
    assert.deepEqual(await admin.list(), [], "nothing was sent to an untrusted daemon");
    await assert.rejects(Deno.stat(knownHosts), Deno.errors.NotFound);
  });
});

Deno.test("condor_token_request (e2e): -trust pins the daemon, which is then remembered in ~/.condor/known_hosts", async () => {
  await withDaemon(async ({ daemon, admin, dir }) => {
    const env = untrustedEnv(daemon.env);
    const knownHosts = `${dir}/home/.condor/known_hosts`;
    const pin = daemon.fingerprint.toLowerCase().replace(/:/g, "").replace("sha256", "sha256:");
    await withRequester(["-trust", pin], env, async (requester) => {
      await admin.approve(await requester.requestId());
      const r = await requester.done;
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    });
    assert.ok(
      (await Deno.readTextFile(knownHosts)).includes(
        `${new URL(daemon.url).host} ${daemon.fingerprint}\n`,
      ),
    );
    assert.equal((await Deno.stat(knownHosts)).mode! & 0o777, 0o600);

    // Known now: no pin needed (-timeout 0: enqueue, then give up at once).
    const again = await runTool("condor_token_request", ["-timeout", "0"], {
      env,
      requesterFlags: true,
    });
    assert.equal(again.code, EXIT.TIMED_OUT, again.stderr);
  });
});

Deno.test("condor_token_request (e2e): the TOKEND_TRUST knob pins non-interactively too", async () => {
  await withDaemon(async ({ daemon }) => {
    const env = untrustedEnv(daemon.env);
    const r = await runTool("condor_token_request", ["-timeout", "0"], {
      env: { ...env, _CONDOR_TOKEND_TRUST: daemon.fingerprint },
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.TIMED_OUT, r.stderr);
  });
});

Deno.test("condor_token_request (e2e): refuses loudly when a known daemon's certificate changed", async () => {
  await withDaemon(async ({ daemon, admin, dir }) => {
    const env = untrustedEnv(daemon.env);
    const knownHosts = `${dir}/home/.condor/known_hosts`;
    await Deno.mkdir(knownHosts.replace(/\/[^/]+$/, ""), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(knownHosts, `${new URL(daemon.url).host} ${OTHER}\n`, { mode: 0o600 });
    const r = await runTool("condor_token_request", [], { env, requesterFlags: true });
    assert.equal(r.code, EXIT.UNTRUSTED);
    assert.match(r.stderr, /ITS CERTIFICATE HAS CHANGED/);
    assert.ok(r.stderr.includes(`was ${OTHER}, now ${daemon.fingerprint}`), r.stderr);
    assert.ok(r.stderr.includes(knownHosts));
    assert.deepEqual(await admin.list(), []);
    assert.equal(await Deno.readTextFile(knownHosts), `${new URL(daemon.url).host} ${OTHER}\n`);
  });
});

Deno.test("condor_token_request (e2e): a pin that matches nothing is refused", async () => {
  await withDaemon(async ({ daemon }) => {
    const env = untrustedEnv(daemon.env);
    const r = await runTool("condor_token_request", ["-trust", OTHER], {
      env,
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.UNTRUSTED);
    assert.ok(r.stderr.includes(daemon.fingerprint));
  });
});
