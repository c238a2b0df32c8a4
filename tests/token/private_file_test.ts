import assert from "node:assert/strict";
import { TokenFileError } from "../../src/errors.ts";
import {
  assertSecretsCanBePrivate,
  isPlainFileName,
  writePrivateFile,
} from "../../src/token/private_file.ts";
import { withTempDir } from "../_support/temp.ts";

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
const codeOf = (code: string, message?: RegExp) => (err: unknown) =>
  err instanceof TokenFileError && err.code === code && (!message || message.test(err.message));

async function names(dir: string): Promise<string[]> {
  const found = [];
  for await (const e of Deno.readDir(dir)) found.push(e.name);
  return found.sort();
}

Deno.test("writePrivateFile() writes the text 0600 and replaces a readable file, leaving no temporary file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state`;
    await Deno.writeTextFile(path, "old\n", { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    await writePrivateFile(path, "new\n");
    assert.equal(await Deno.readTextFile(path), "new\n");
    assert.equal(await mode(path), 0o600);
    assert.deepEqual(await names(dir), ["state"]);
  });
});

Deno.test("writePrivateFile() refuses a symlink or a directory at the path and leaves both alone", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/target`, "precious\n");
    await Deno.symlink(`${dir}/target`, `${dir}/link`);
    await assert.rejects(
      writePrivateFile(`${dir}/link`, "x\n", { label: "known-hosts file" }),
      codeOf(
        "TOKEN_FILE_SYMLINK",
        /^Cannot write known-hosts file .*\/link: it is a symbolic link/,
      ),
    );
    assert.equal(await Deno.readTextFile(`${dir}/target`), "precious\n");
    assert.equal((await Deno.lstat(`${dir}/link`)).isSymlink, true);
    await Deno.mkdir(`${dir}/sub`);
    await assert.rejects(writePrivateFile(`${dir}/sub`, "x\n"), codeOf("TOKEN_FILE_NOT_FILE"));
    assert.deepEqual(await names(dir), ["link", "sub", "target"]);
  });
});

Deno.test("writePrivateFile() creates a missing directory 0700 only when asked", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(writePrivateFile(`${dir}/a/b/f`, "x\n"), codeOf("TOKEN_FILE_MISSING"));
    assert.deepEqual(await names(dir), []);
    await writePrivateFile(`${dir}/a/b/f`, "x\n", { createDirectory: true });
    assert.equal(await Deno.readTextFile(`${dir}/a/b/f`), "x\n");
    assert.equal(await mode(`${dir}/a/b`), 0o700);
    assert.equal(await mode(`${dir}/a/b/f`), 0o600);
  });
});

Deno.test("isPlainFileName() accepts only a name that stays inside its directory", () => {
  for (const name of ["POOL", "admin.token", ".hidden", "a..b"]) {
    assert.equal(isPlainFileName(name), true, name);
  }
  for (const name of ["", ".", "..", "../x", "a/b", "/abs", "a\\b", "..\\x", "x\0y"]) {
    assert.equal(isPlainFileName(name), false, JSON.stringify(name));
  }
});

Deno.test("assertSecretsCanBePrivate() refuses a secret file on Windows, saying what to do instead", () => {
  for (const os of ["linux", "darwin", "freebsd"] as const) {
    assertSecretsCanBePrivate("/x/token", "write token file", os);
  }
  assert.throws(
    () => assertSecretsCanBePrivate("C:/Users/alice/token", "write token file", "windows"),
    (err) =>
      err instanceof TokenFileError && err.code === "TOKEN_FILE_UNPROTECTED" &&
      /^Cannot write token file C:\/Users\/alice\/token: on Windows this tool cannot make a file readable by you alone .*leave out -token, -file and -state/
        .test(err.message),
  );
});

Deno.test("writePrivateFile() of a secret is refused on Windows before anything is written", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/token`;
    if (Deno.build.os === "windows") {
      await assert.rejects(
        writePrivateFile(path, "secret\n", { secret: true }),
        (err) => err instanceof TokenFileError && err.code === "TOKEN_FILE_UNPROTECTED",
      );
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    } else {
      await writePrivateFile(path, "secret\n", { secret: true });
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    }
  });
});
