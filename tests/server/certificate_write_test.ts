/** How the daemon writes its self-signed TLS identity: nothing left behind, no links followed. */
import "reflect-metadata";
import assert from "node:assert/strict";
import { CondorError } from "../../src/errors.ts";
import { selfSignedIdentity } from "../../src/server/certificate.ts";
import { withTempDir } from "../_support/temp.ts";

const names = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };

async function namesIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

Deno.test("selfSignedIdentity() refuses a directory where its key goes and writes nothing", async () => {
  await withTempDir(async (dir) => {
    // A directory where the key file goes: refused before anything is written.
    await Deno.mkdir(`${dir}/tokend_key.pem`);
    await assert.rejects(
      selfSignedIdentity({ stateDirectory: dir, now: Date.now(), ...names }),
      (err) =>
        err instanceof CondorError && err.code === "TLS_KEY_INSECURE" &&
        /tokend_key\.pem is not a file$/.test(err.message),
    );
    assert.deepEqual(await namesIn(dir), ["tokend_key.pem"]);
  });
});

Deno.test("selfSignedIdentity() refuses to write its key over a symbolic link", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/state`);
    await Deno.symlink(`${dir}/elsewhere.pem`, `${dir}/state/tokend_key.pem`);
    await assert.rejects(
      selfSignedIdentity({ stateDirectory: `${dir}/state`, now: Date.now(), ...names }),
      (err) =>
        err instanceof CondorError && err.code === "TLS_KEY_INSECURE" &&
        /symbolic link/.test(err.message),
    );
    assert.ok((await Deno.lstat(`${dir}/state/tokend_key.pem`)).isSymlink);
    assert.deepEqual(await namesIn(`${dir}/state`), ["tokend_key.pem"]);
    assert.deepEqual(await namesIn(dir), ["state"]);
  });
});
