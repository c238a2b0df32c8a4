/**
 * The daemon's state directory, database files, self-signed TLS key and
 * address file are guarded like the signing key: with the state directory
 * 0777 and tokend.sqlite 0666 a local user could insert an approved row
 * with a secret of their choice and collect an unrestricted token. The
 * daemon now refuses to start on any such file (writable by others, owned
 * by another user, a symbolic link), with one line naming the path, what
 * is wrong and the command that fixes it. Real files, a real in-process
 * daemon; ownership cases need root (to give a file away) and are skipped
 * otherwise.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CondorError } from "../../src/errors.ts";
import { startTokend, type Tokend } from "../../src/server/tokend.ts";
import { sha256Hex } from "../../src/server/requests.ts";
import {
  prepareTestDaemonDir,
  testDaemonConfig,
  type TestDaemonPaths,
  testDaemonPaths,
} from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { newSecret } from "../_support/api.ts";

const ROOT = Deno.uid() === 0;
/** A uid that is neither root nor this user: `nobody`. */
const OTHER_UID = 65534;

/** Starts a daemon from the test configuration in `dir` (prepared already, or now). */
async function start(dir: string, extraConfig = ""): Promise<Tokend> {
  const paths = await prepareTestDaemonDir(dir, extraConfig);
  const config = await testDaemonConfig(paths);
  return await startTokend({ config, port: 0, log: () => {} });
}

/** Starts and stops a daemon once, so the state directory, database and TLS files exist. */
async function initialise(dir: string): Promise<TestDaemonPaths> {
  const tokend = await start(dir);
  await tokend.shutdown();
  return testDaemonPaths(dir);
}

/** Asserts that starting refuses with `code` and a one-line message matching every pattern. */
async function assertRefused(dir: string, code: string, patterns: RegExp[], extraConfig = "") {
  let started: Tokend | undefined;
  try {
    started = await start(dir, extraConfig);
  } catch (err) {
    assert.ok(err instanceof CondorError, String(err));
    assert.equal(err.code, code, err.message);
    assert.doesNotMatch(err.message, /\n/);
    for (const pattern of patterns) assert.match(err.message, pattern);
    return;
  } finally {
    await started?.shutdown();
  }
  assert.fail(`the daemon started; expected ${code}`);
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("condor_tokend creates its state directory 0700 and its database files 0600", async () => {
  await withTempDir(async (dir) => {
    const paths = testDaemonPaths(dir);
    const tokend = await start(dir);
    try {
      const mode = async (p: string) => (await Deno.lstat(p)).mode! & 0o7777;
      assert.equal(await mode(paths.stateDirectory), 0o700);
      for (const suffix of ["", "-wal", "-shm"]) {
        assert.equal(await mode(`${paths.stateDirectory}/tokend.sqlite${suffix}`), 0o600, suffix);
      }
      assert.equal(await mode(`${paths.stateDirectory}/tokend_key.pem`), 0o600);
    } finally {
      await tokend.shutdown();
    }
  });
});

Deno.test("condor_tokend refuses a state directory and database others can write, which let them issue themselves a token", async () => {
  await withTempDir(async (dir) => {
    const paths = await initialise(dir);
    const database = `${paths.stateDirectory}/tokend.sqlite`;
    await Deno.chmod(paths.stateDirectory, 0o777);
    await Deno.chmod(database, 0o666);
    // What a local user could then do: an approved request with a secret they know.
    const secret = newSecret();
    const db = new DatabaseSync(database);
    const now = Math.floor(Date.now() / 1000);
    db.prepare(
      `INSERT INTO requests (id, secret_hash, requested_identity, authenticated_identity,
         peer_location, client_id, authorizations, lifetime, state, requested_at, expires_at)
       VALUES ('6666666', ?, 'condor@tokend-test.example.org', 'anonymous@ssl', '127.0.0.1',
         'x', '[]', NULL, 'approved', ?, ?)`,
    ).run(sha256Hex(secret), now, now + 3600);
    db.close();

    await assertRefused(dir, "STATE_INSECURE", [
      new RegExp(`^Cannot use TOKEND_STATE_DIRECTORY: ${escaped(paths.stateDirectory)} `),
      /has mode 0777, writable by other users/,
      new RegExp(`run "chmod 0700 ${escaped(paths.stateDirectory)}"$`),
    ]);
    await Deno.chmod(paths.stateDirectory, 0o700);
    await assertRefused(dir, "STATE_INSECURE", [
      new RegExp(`^Cannot use state database: ${escaped(database)} has mode 0666`),
      new RegExp(`run "chmod 0600 ${escaped(database)}"$`),
    ]);
  });
});

Deno.test("condor_tokend refuses database companion files others can write", async () => {
  await withTempDir(async (dir) => {
    const paths = await initialise(dir);
    for (const suffix of ["-wal", "-shm", "-journal"]) {
      const file = `${paths.stateDirectory}/tokend.sqlite${suffix}`;
      await Deno.writeFile(file, new Uint8Array(0), { mode: 0o600 });
      await Deno.chmod(file, 0o620);
      await assertRefused(dir, "STATE_INSECURE", [
        new RegExp(`${escaped(file)} has mode 0620, writable by other users`),
        new RegExp(`run "chmod 0600 ${escaped(file)}"$`),
      ]);
      await Deno.remove(file);
    }
  });
});

Deno.test("condor_tokend refuses symbolic links for its state directory and database, dangling ones too", async () => {
  await withTempDir(async (dir) => {
    const paths = await initialise(dir);
    const database = `${paths.stateDirectory}/tokend.sqlite`;
    // A dangling link at the database: refused, and nothing created where it points.
    await Deno.rename(database, `${dir}/kept.sqlite`);
    await Deno.remove(`${database}-wal`).catch(() => {});
    await Deno.remove(`${database}-shm`).catch(() => {});
    await Deno.symlink(`${dir}/planted.sqlite`, database);
    await assertRefused(dir, "STATE_INSECURE", [
      new RegExp(`${escaped(database)} is a symbolic link, which is not followed here`),
    ]);
    await assert.rejects(Deno.lstat(`${dir}/planted.sqlite`), Deno.errors.NotFound);
    // A link to a real database is no better.
    await Deno.remove(database);
    await Deno.symlink(`${dir}/kept.sqlite`, database);
    await assertRefused(dir, "STATE_INSECURE", [/is a symbolic link/]);
    await Deno.remove(database);
    await Deno.rename(`${dir}/kept.sqlite`, database);

    // The directory itself a link to a private directory elsewhere.
    await Deno.rename(paths.stateDirectory, `${dir}/real-state`);
    await Deno.symlink(`${dir}/real-state`, paths.stateDirectory);
    await assertRefused(dir, "STATE_INSECURE", [
      new RegExp(
        `^Cannot use TOKEND_STATE_DIRECTORY: ${escaped(paths.stateDirectory)} is a symbolic link`,
      ),
    ]);
    // Even when the knob is written with a trailing slash, which would follow it.
    await assertRefused(
      dir,
      "STATE_INSECURE",
      [/is a symbolic link/],
      [
        `TOKEND_STATE_DIRECTORY = ${paths.stateDirectory}/`,
      ].join("\n"),
    );
  });
});

Deno.test({
  name: "condor_tokend refuses a state directory or database owned by another user",
  ignore: !ROOT,
  fn: async () => {
    await withTempDir(async (dir) => {
      const paths = await initialise(dir);
      await Deno.chown(paths.stateDirectory, OTHER_UID, OTHER_UID);
      await assertRefused(dir, "STATE_INSECURE", [
        new RegExp(`${escaped(paths.stateDirectory)} is owned by uid ${OTHER_UID}`),
        new RegExp(`run "chown 0 ${escaped(paths.stateDirectory)}"$`),
      ]);
      await Deno.chown(paths.stateDirectory, 0, 0);
      const shm = `${paths.stateDirectory}/tokend.sqlite-shm`;
      await Deno.writeFile(shm, new Uint8Array(0), { mode: 0o600 });
      await Deno.chown(shm, OTHER_UID, OTHER_UID);
      await Deno.chmod(shm, 0o666);
      await assertRefused(dir, "STATE_INSECURE", [
        new RegExp(
          `${
            escaped(shm)
          } is owned by uid ${OTHER_UID}, not by this user \\(uid 0\\) or root and has mode 0666`,
        ),
        new RegExp(`run "chown 0 ${escaped(shm)} && chmod 0600 ${escaped(shm)}"$`),
      ]);
    });
  },
});

Deno.test("condor_tokend refuses a self-signed TLS key others can read or replace", async () => {
  await withTempDir(async (dir) => {
    const paths = await initialise(dir);
    const key = `${paths.stateDirectory}/tokend_key.pem`;
    await Deno.chmod(key, 0o640);
    await assertRefused(dir, "TLS_KEY_INSECURE", [
      new RegExp(`${escaped(key)} has mode 0640, readable by other users`),
      new RegExp(`run "chmod 0600 ${escaped(key)}"$`),
    ]);
    await Deno.chmod(key, 0o600);
    await Deno.chmod(paths.certFile, 0o666);
    await assertRefused(dir, "TLS_CERT_INSECURE", [
      new RegExp(`run "chmod 0644 ${escaped(paths.certFile)}"$`),
    ]);
    await Deno.chmod(paths.certFile, 0o644);
    await Deno.rename(key, `${dir}/key.pem`);
    await Deno.symlink(`${dir}/key.pem`, key);
    await assertRefused(dir, "TLS_KEY_INSECURE", [/is a symbolic link/]);
    if (ROOT) {
      await Deno.remove(key);
      await Deno.rename(`${dir}/key.pem`, key);
      await Deno.chown(key, OTHER_UID, OTHER_UID);
      await assertRefused(dir, "TLS_KEY_INSECURE", [new RegExp(`is owned by uid ${OTHER_UID}`)]);
    }
  });
});

Deno.test("condor_tokend refuses an address file others could replace, but takes a sticky directory", async () => {
  await withTempDir(async (dir) => {
    const open = `${dir}/open`;
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o777);
    await assertRefused(dir, "ADDRESS_FILE", [
      new RegExp(`^Cannot use TOKEND_ADDRESS_FILE: ${escaped(open)} has mode 0777, writable`),
    ], `TOKEND_ADDRESS_FILE = ${open}/tokend.address`);
    await assertRefused(
      dir,
      "ADDRESS_FILE",
      [/directory .*missing does not exist$/],
      [
        `TOKEND_ADDRESS_FILE = ${dir}/missing/tokend.address`,
      ].join("\n"),
    );

    // /tmp's way: others may create files there but not replace this one.
    await Deno.chmod(open, 0o1777);
    const tokend = await start(dir, `TOKEND_ADDRESS_FILE = ${open}/tokend.address`);
    try {
      assert.equal((await Deno.readTextFile(`${open}/tokend.address`)).trim(), tokend.url);
    } finally {
      await tokend.shutdown();
    }
    await Deno.chmod(`${open}/tokend.address`, 0o666);
    await assertRefused(
      dir,
      "ADDRESS_FILE",
      [/tokend\.address has mode 0666/],
      [
        `TOKEND_ADDRESS_FILE = ${open}/tokend.address`,
      ].join("\n"),
    );
  });
});
