import assert from "node:assert/strict";
import { KeyError } from "../../src/errors.ts";
import {
  createKeyFileIfMissing,
  deriveJwtKeyBytes,
  readSigningKey,
  scramble,
} from "../../src/token/signing_key.ts";
import { hex, VECTOR_KEY_FILE, withTempDir, writeKeyFile } from "../_support/temp.ts";

async function rejectsWithCode(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (err: unknown) => err instanceof KeyError && err.code === code);
}

Deno.test("deriveJwtKeyBytes() matches the POOL vector (key doubled)", async () => {
  const bytes = await deriveJwtKeyBytes(scramble(VECTOR_KEY_FILE), { isPool: true });
  assert.deepEqual(hex(bytes), "292e12e9d5d2a37ee7bd72eb7bb8d51f56d34fd688a98bdaf7346549278c26ac");
});

Deno.test("deriveJwtKeyBytes() matches the named-key vector (not doubled)", async () => {
  const bytes = await deriveJwtKeyBytes(scramble(VECTOR_KEY_FILE), { isPool: false });
  assert.deepEqual(hex(bytes), "65ce6d2d9adb4e61ef1506e4ef59dfd0041f9655cdad20a8a7fe369b0d0e7fb4");
});

Deno.test("deriveJwtKeyBytes() truncates at the first NUL when the POOL key is a password", async () => {
  const withNul = Uint8Array.from([0x61, 0x62, 0, 0x63]);
  const truncated = await deriveJwtKeyBytes(withNul, { isPool: true, truncateAtNul: true });
  const plain = await deriveJwtKeyBytes(Uint8Array.from([0x61, 0x62]), { isPool: true });
  assert.deepEqual(hex(truncated), hex(plain));
});

Deno.test("scramble() is its own inverse", () => {
  assert.deepEqual(scramble(scramble(VECTOR_KEY_FILE)), VECTOR_KEY_FILE);
  assert.deepEqual(
    scramble(Uint8Array.from([0, 0, 0, 0, 0])),
    Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0xde]),
  );
});

Deno.test("readSigningKey() refuses a key file readable by group or others", async () => {
  await withTempDir(async (dir) => {
    await writeKeyFile(`${dir}/POOL`, VECTOR_KEY_FILE, 0o640);
    const where = { poolKeyFile: `${dir}/POOL`, passwordDirectory: dir };
    const err = await readSigningKey("POOL", where).catch((e) => e);
    assert.deepEqual(err.code, "KEY_INSECURE");
    assert.deepEqual(err.message.includes(`${dir}/POOL`) && err.message.includes("0640"), true);
  });
});

Deno.test("readSigningKey() reports a missing key file by name", async () => {
  await withTempDir(async (dir) => {
    const where = { poolKeyFile: `${dir}/POOL`, passwordDirectory: dir };
    await rejectsWithCode(readSigningKey("SITE", where), "KEY_MISSING");
  });
});

Deno.test("readSigningKey() refuses a kid that is not a plain file name before touching disk", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/keys`);
    await writeKeyFile(`${dir}/secret`, VECTOR_KEY_FILE);
    const where = { poolKeyFile: `${dir}/keys/POOL`, passwordDirectory: `${dir}/keys` };
    for (const kid of ["../secret", "a/b", "..", "", "x\0y"]) {
      await rejectsWithCode(readSigningKey(kid, where), "KEY_BAD_KID");
    }
  });
});

Deno.test("readSigningKey() refuses an empty key file", async () => {
  await withTempDir(async (dir) => {
    await writeKeyFile(`${dir}/EMPTY`, new Uint8Array());
    await rejectsWithCode(
      readSigningKey("EMPTY", { poolKeyFile: `${dir}/POOL`, passwordDirectory: dir }),
      "KEY_EMPTY",
    );
  });
});

Deno.test("createKeyFileIfMissing() creates a 64-byte 0600 key once and never overwrites", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/passwords.d/POOL`;
    await Deno.mkdir(`${dir}/passwords.d`, { mode: 0o700 });
    assert.deepEqual(await createKeyFileIfMissing(path), true);
    const first = await Deno.readFile(path);
    assert.deepEqual(first.length, 64);
    assert.deepEqual((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await createKeyFileIfMissing(path), false);
    assert.deepEqual(await Deno.readFile(path), first);
    // The created key is usable.
    const key = await readSigningKey("POOL", { poolKeyFile: path, passwordDirectory: dir });
    assert.deepEqual(key.kid, "POOL");
  });
});

Deno.test("createKeyFileIfMissing() never creates a missing directory", async () => {
  await withTempDir(async (dir) => {
    await rejectsWithCode(
      createKeyFileIfMissing(`${dir}/passwrods.d/POOL`),
      "KEY_DIRECTORY_MISSING",
    );
    await assert.rejects(Deno.lstat(`${dir}/passwrods.d`), Deno.errors.NotFound);
  });
});
