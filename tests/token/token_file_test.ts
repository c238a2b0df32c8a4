import assert from "node:assert/strict";
import { TokenFileError } from "../../src/errors.ts";
import {
  readTokenDirectory,
  writeTokenFile,
  writeTokenToDirectory,
} from "../../src/token/token_file.ts";
import { withTempDir } from "../_support/temp.ts";

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
const codeOf = (code: string) => (err: unknown) =>
  err instanceof TokenFileError && err.code === code;

Deno.test("writeTokenToDirectory() creates a 0700 directory and a 0600 file ending in a newline", async () => {
  await withTempDir(async (dir) => {
    const tokens = `${dir}/home/.condor/tokens.d`;
    const path = await writeTokenToDirectory(tokens, "friend", "aaa.bbb.ccc");
    assert.deepEqual(path, `${tokens}/friend`);
    assert.deepEqual(await Deno.readTextFile(path), "aaa.bbb.ccc\n");
    assert.deepEqual(await mode(path), 0o600);
    assert.deepEqual(await mode(tokens), 0o700);
  });
});

Deno.test("writeTokenFile() replaces an existing token atomically and leaves no temporary file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/tok`;
    await writeTokenFile(path, "old.old.old");
    await Deno.chmod(path, 0o644);
    await writeTokenFile(path, "new.new.new");
    assert.deepEqual(await Deno.readTextFile(path), "new.new.new\n");
    assert.deepEqual(await mode(path), 0o600);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["tok"]);
  });
});

Deno.test("writeTokenFile() refuses to write through a symlink and leaves its target alone", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/target`, "precious\n");
    await Deno.symlink(`${dir}/target`, `${dir}/link`);
    await assert.rejects(writeTokenFile(`${dir}/link`, "x.y.z"), codeOf("TOKEN_FILE_SYMLINK"));
    assert.deepEqual(await Deno.readTextFile(`${dir}/target`), "precious\n");
    assert.deepEqual((await Deno.lstat(`${dir}/link`)).isSymlink, true);
  });
});

Deno.test("writeTokenToDirectory() refuses names that are not plain file names", async () => {
  await withTempDir(async (dir) => {
    for (const name of ["../escape", "a/b", "", ".", ".."]) {
      await assert.rejects(
        writeTokenToDirectory(dir, name, "x.y.z"),
        codeOf("TOKEN_FILE_BAD_NAME"),
      );
    }
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, []);
  });
});

Deno.test("writeTokenFile() reports a missing directory without creating anything", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(writeTokenFile(`${dir}/nope/tok`, "x.y.z"), codeOf("TOKEN_FILE_MISSING"));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, [], "neither the directory nor a temporary file was created");
  });
});

Deno.test("readTokenDirectory() reads several tokens per file, skipping blanks and comments", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/b`, "# comment\n\n  t2.b.c  \nt3.b.c\n", { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/a`, "t1.b.c\n", { mode: 0o600 });
    const scan = await readTokenDirectory(dir);
    assert.deepEqual(scan.tokens.map((t) => t.token), ["t1.b.c", "t2.b.c", "t3.b.c"]);
    assert.deepEqual(scan.tokens[1], { token: "t2.b.c", file: `${dir}/b`, line: 3 });
    assert.deepEqual(scan.warnings, []);
  });
});

Deno.test("readTokenDirectory() skips symlinks and files others can read, with a warning naming each", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/good`, "g.b.c\n", { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/open`, "o.b.c\n");
    await Deno.chmod(`${dir}/open`, 0o644);
    await Deno.symlink(`${dir}/good`, `${dir}/link`);
    const scan = await readTokenDirectory(dir);
    assert.deepEqual(scan.tokens.map((t) => t.token), ["g.b.c"]);
    assert.deepEqual(scan.warnings.length, 2);
    assert.deepEqual(scan.warnings.some((w) => w.includes(`${dir}/link`)), true);
    assert.deepEqual(
      scan.warnings.some((w) => w.includes(`${dir}/open`) && w.includes("0644")),
      true,
    );
  });
});

Deno.test("readTokenDirectory() treats a missing directory as holding no tokens", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await readTokenDirectory(`${dir}/none`), { tokens: [], warnings: [] });
  });
});
