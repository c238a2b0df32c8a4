/**
 * SIGHUP reconfigures condor_tokend and never kills it: it re-reads the
 * configuration and applies what can change live, names what waits for a
 * restart, reloads its TLS certificate (keeping the old one when the new
 * one is unusable), and reopens its log file (TOKEND_LOG) for logrotate.
 * A real daemon process, real signals, real files.
 */
import assert from "node:assert/strict";
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { type SpawnedTestDaemon, spawnTestDaemon, TEST_TRUST_DOMAIN } from "../_support/daemon.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { createTestCa } from "../_support/test_ca.ts";

/** Waits until `read()` matches `pattern` (20 s at most). */
async function until(read: () => Promise<string> | string, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await read();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`never matched ${pattern}:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readOrEmpty = (path: string) => () =>
  Deno.readTextFile(path).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  });

async function hangUp(daemon: SpawnedTestDaemon): Promise<void> {
  daemon.child.kill("SIGHUP");
  // Still running: a HUP that killed it would resolve the status.
  const dead = await Promise.race([
    daemon.child.status.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
  ]);
  assert.equal(dead, false, `SIGHUP ended the daemon:\n${daemon.stderr()}`);
}

Deno.test("condor_tokend (e2e): SIGHUP applies a new ALLOW_ADMINISTRATOR, names what needs a restart, and reopens TOKEND_LOG", async () => {
  await withTempDir(async (dir) => {
    const log = `${dir}/tokend.log`;
    const daemon = await spawnTestDaemon({ dir, extraConfig: `TOKEND_LOG = ${log}` });
    try {
      await until(readOrEmpty(log), /listening on https:/);
      assert.doesNotMatch(daemon.stderr(), /listening on/, "the log went to the file");
      assert.equal((await Deno.stat(log)).mode! & 0o777, 0o640);
      const carol = `carol@${TEST_TRUST_DOMAIN}`;
      const tokens = `${dir}/carol-tokens`;
      await Deno.mkdir(tokens, { mode: 0o700 });
      await Deno.writeTextFile(`${tokens}/t`, (await daemon.mintToken(carol)) + "\n", {
        mode: 0o600,
      });
      const env = {
        ...daemon.env,
        _CONDOR_SEC_TOKEN_DIRECTORY: tokens,
        _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${dir}/no-keys/POOL`,
        _CONDOR_SEC_PASSWORD_DIRECTORY: `${dir}/no-keys`,
      };
      const auto = ["-netblock", "127.0.0.1/32", "-lifetime", "60"];
      const before = await runTool("condor_token_request_auto_approve", auto, { env });
      assert.equal(before.code, EXIT.NOT_AUTHORIZED, before.stderr);

      await Deno.writeTextFile(
        daemon.configPath,
        `ALLOW_ADMINISTRATOR = ${carol}\nNETWORK_INTERFACE = 0.0.0.0\n`,
        { append: true },
      );
      // logrotate moves the file away, then sends HUP.
      await Deno.rename(log, `${log}.1`);
      await hangUp(daemon);
      const after = await until(readOrEmpty(log), /reconfigured on SIGHUP/);
      assert.match(after, /reconfigured on SIGHUP: applied ALLOW_ADMINISTRATOR\n/);
      assert.match(
        after,
        /WARNING: NETWORK_INTERFACE changed in the configuration but take effect only when condor_tokend restarts/,
      );
      const now = await runTool("condor_token_request_auto_approve", auto, { env });
      assert.equal(now.code, EXIT.OK, now.stderr);

      // Nothing changed: it says so, and keeps serving.
      await hangUp(daemon);
      await until(readOrEmpty(log), /reconfigured on SIGHUP: nothing changed/);
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("condor_tokend (e2e): SIGHUP rotates to a new TLS certificate, and keeps the old one when the new one is unusable", async () => {
  await withTempDir(async (dir) => {
    const ca = await createTestCa();
    const first = await ca.issue({ ips: ["127.0.0.1"], dns: ["localhost"] });
    const second = await ca.issue({ ips: ["127.0.0.1"], dns: ["localhost"] });
    const certFile = `${dir}/tls/cert.pem`;
    const keyFile = `${dir}/tls/key.pem`;
    await Deno.mkdir(`${dir}/tls`, { mode: 0o700 });
    const install = async (cert: string, key: string) => {
      await Deno.writeTextFile(certFile, cert, { mode: 0o644 });
      await Deno.writeTextFile(keyFile, key, { mode: 0o600 });
    };
    await install(first.certPem, first.keyPem);
    const daemon = await spawnTestDaemon({
      dir,
      extraConfig: `AUTH_SSL_SERVER_CERTFILE = ${certFile}\nAUTH_SSL_SERVER_KEYFILE = ${keyFile}`,
    });
    const servedBy = async (fingerprint: string) => {
      const client = pinnedHttpsClient(daemon.url, fingerprint, { timeoutMs: 5_000 });
      try {
        return (await client.info()).trustDomain === TEST_TRUST_DOMAIN;
      } catch {
        return false;
      } finally {
        client.close();
      }
    };
    try {
      assert.equal(daemon.fingerprint, first.fingerprint);
      await install(second.certPem, second.keyPem);
      await hangUp(daemon);
      await until(
        () => daemon.stderr(),
        /reconfigured on SIGHUP: applied the TLS certificate .*cert\.pem \(sha256:/,
      );
      assert.ok(await servedBy(second.fingerprint), "new connections get the new certificate");
      assert.ok(!await servedBy(first.fingerprint));

      // A certificate with another certificate's key: refused, the running one kept.
      await install(first.certPem, second.keyPem);
      await hangUp(daemon);
      await until(() => daemon.stderr(), /SIGHUP: keeping the TLS certificate/);
      assert.ok(await servedBy(second.fingerprint));
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test("condor_tokend (e2e): TOKEND_LOG rotates to FILE.old past TOKEND_LOG_MAX_SIZE", async () => {
  await withTempDir(async (dir) => {
    const log = `${dir}/tokend.log`;
    const daemon = await spawnTestDaemon({
      dir,
      extraConfig: `TOKEND_LOG = ${log}\nTOKEND_LOG_MAX_SIZE = 600`,
    });
    try {
      await until(readOrEmpty(log), /listening on/);
      for (let i = 0; i < 5; i++) await hangUp(daemon);
      await until(readOrEmpty(`${log}.old`), /condor_tokend:/);
      assert.ok((await Deno.stat(log)).size <= 600 + 400, "the current file stays near the limit");
    } finally {
      await daemon.stop();
    }
  });
});
