/**
 * No silent new pool key, and checks before creation. A mistyped
 * SEC_TOKEN_POOL_SIGNING_KEY_FILE used to make the daemon create a fresh
 * POOL key and its missing directory; as root with no configuration it
 * created /etc/condor/passwords.d/POOL and the spool before failing on a
 * busy port. Now a missing key directory is refused, a new POOL key is
 * announced with a WARNING, and every check (files, then the port) comes
 * before anything is created.
 */
import assert from "node:assert/strict";
import { CondorError } from "../../src/errors.ts";
import { startTokend, type Tokend } from "../../src/server/tokend.ts";
import {
  prepareTestDaemonDir,
  testDaemonConfig,
  type TestDaemonPaths,
} from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";

/** Starts a daemon from `paths`' configuration on `port`, collecting its log lines. */
async function start(
  paths: TestDaemonPaths,
  port = 0,
): Promise<{ tokend: Tokend; logs: string[] }> {
  const config = await testDaemonConfig(paths);
  const logs: string[] = [];
  const tokend = await startTokend({ config, port, log: (line) => logs.push(line) });
  return { tokend, logs };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Asserts that nothing the daemon creates at start exists. */
async function assertNothingCreated(paths: TestDaemonPaths): Promise<void> {
  assert.equal(await exists(paths.poolKeyFile), false, "POOL key");
  assert.equal(await exists(paths.spool), false, "spool / state directory");
  assert.equal(await exists(paths.addressFile), false, "address file");
}

Deno.test("condor_tokend refuses a POOL key file whose directory is missing, and creates neither", async () => {
  await withTempDir(async (dir) => {
    const mistyped = `${dir}/passwrods.d/POOL`;
    const paths = await prepareTestDaemonDir(dir, `SEC_TOKEN_POOL_SIGNING_KEY_FILE = ${mistyped}`);
    await Deno.remove(paths.poolKeyFile);
    await assert.rejects(
      start(paths),
      (err) =>
        err instanceof CondorError && err.code === "KEY_DIRECTORY_MISSING" &&
        err.message.startsWith(
          `Cannot create SEC_TOKEN_POOL_SIGNING_KEY_FILE ${mistyped}: its directory ${dir}/passwrods.d does not exist`,
        ) && !err.message.includes("\n"),
    );
    assert.equal(await exists(`${dir}/passwrods.d`), false);
    await assertNothingCreated(paths);
  });
});

Deno.test("condor_tokend says loudly when it creates a POOL key", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    await Deno.remove(paths.poolKeyFile);
    const { tokend, logs } = await start(paths);
    try {
      const warning = logs.find((l) => l.startsWith("WARNING: "));
      assert.ok(warning, logs.join("\n"));
      assert.ok(warning.includes(paths.poolKeyFile));
      assert.ok(warning.includes("SEC_TOKEN_POOL_SIGNING_KEY_FILE"));
      assert.match(warning, /will not be accepted by a pool that has a different POOL key/);
      assert.equal((await Deno.stat(paths.poolKeyFile)).mode! & 0o777, 0o600);
    } finally {
      await tokend.shutdown();
    }
    // An existing key is used without a word about it.
    const again = await start(paths);
    await again.tokend.shutdown();
    assert.ok(!again.logs.some((l) => l.startsWith("WARNING: ")), again.logs.join("\n"));
  });
});

Deno.test("condor_tokend refuses to create a POOL key in a directory others can write", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    await Deno.remove(paths.poolKeyFile);
    await Deno.chmod(paths.passwordDirectory, 0o777);
    await assert.rejects(
      start(paths),
      (err) =>
        err instanceof CondorError && err.code === "KEY_INSECURE" &&
        err.message.endsWith(`run "chmod 0700 ${paths.passwordDirectory}"`),
    );
    await assertNothingCreated(paths);
  });
});

Deno.test("condor_tokend finds a busy port before it creates a key or its state", async () => {
  await withTempDir(async (dir) => {
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (busy.addr as Deno.NetAddr).port;
      const paths = await prepareTestDaemonDir(dir);
      await Deno.remove(paths.poolKeyFile);
      await assert.rejects(
        start(paths, port),
        (err) =>
          err instanceof CondorError && err.code === "LISTEN_FAILED" &&
          err.message === `Cannot listen on 127.0.0.1:${port}: the address is already in use`,
      );
      await assertNothingCreated(paths);
    } finally {
      busy.close();
    }
  });
});

Deno.test("condor_tokend checks every file before it creates anything", async () => {
  await withTempDir(async (dir) => {
    // The address file's directory is checked last, after the key and the state.
    const paths = await prepareTestDaemonDir(dir, `TOKEND_ADDRESS_FILE = ${dir}/nowhere/address`);
    await Deno.remove(paths.poolKeyFile);
    await assert.rejects(
      start(paths),
      (err) => err instanceof CondorError && err.code === "ADDRESS_FILE",
    );
    await assertNothingCreated(paths);
    // A configured certificate without its key, likewise.
    const tls = await prepareTestDaemonDir(
      dir,
      [
        `AUTH_SSL_SERVER_CERTFILE = ${paths.configPath}`,
        `AUTH_SSL_SERVER_KEYFILE = ${dir}/no-such-key.pem`,
      ].join("\n"),
    );
    await Deno.remove(tls.poolKeyFile);
    await assert.rejects(
      start(tls),
      (err) => err instanceof CondorError && err.code === "TLS_NO_KEY",
    );
    await assertNothingCreated(tls);
  });
});
