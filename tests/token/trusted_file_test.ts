import assert from "node:assert/strict";
import { inspectTrusted, judge, type TrustRule } from "../../src/token/trusted_file.ts";
import { withTempDir } from "../_support/temp.ts";

const FILE: TrustRule = { kind: "file", privateBits: 0o077, fixMode: 0o600 };

/** A FileInfo with just what judge() looks at. */
function info(mode: number, fields: Partial<Deno.FileInfo> = {}): Deno.FileInfo {
  return {
    isFile: true,
    isDirectory: false,
    isSymlink: false,
    mode,
    uid: Deno.uid(),
    ...fields,
  } as Deno.FileInfo;
}

Deno.test("judge() says which access others have and the chmod that takes it away", () => {
  assert.equal(judge("/k", info(0o100600), FILE), undefined);
  assert.equal(
    judge("/k", info(0o100640), FILE)?.reason,
    '/k has mode 0640, readable by other users; run "chmod 0600 /k"',
  );
  assert.equal(
    judge("/k", info(0o100666), FILE)?.reason,
    '/k has mode 0666, readable and writable by other users; run "chmod 0600 /k"',
  );
  const writeOnly: TrustRule = { kind: "file", privateBits: 0o022 };
  assert.equal(judge("/c", info(0o100644), writeOnly), undefined);
  assert.equal(
    judge("/c", info(0o100664), writeOnly)?.reason,
    '/c has mode 0664, writable by other users; run "chmod 0644 /c"',
  );
});

Deno.test("judge() refuses links and the wrong kind, and takes sticky directories only when asked", () => {
  assert.equal(judge("/l", info(0o120777, { isSymlink: true }), FILE)?.kind, "symlink");
  assert.equal(
    judge("/d", info(0o40700, { isFile: false, isDirectory: true }), FILE)?.reason,
    "/d is not a file",
  );
  const dir = info(0o41777, { isFile: false, isDirectory: true });
  const rule: TrustRule = { kind: "directory", privateBits: 0o022 };
  assert.equal(judge("/tmp", dir, rule)?.kind, "access");
  assert.equal(judge("/tmp", dir, { ...rule, allowSticky: true }), undefined);
});

Deno.test({
  name: "judge() trusts files of this user or root and names the chown for others",
  ignore: Deno.uid() === null,
  fn: () => {
    const rule: TrustRule = { ...FILE, checkOwner: true };
    assert.equal(judge("/k", info(0o100600, { uid: 0 }), rule), undefined);
    const uid = Deno.uid()!;
    const other = uid === 65534 ? 65533 : 65534;
    assert.equal(
      judge("/k", info(0o100644, { uid: other }), rule)?.reason,
      `/k is owned by uid ${other}, not by this user (uid ${uid}) or root and has mode 0644, ` +
        `readable by other users; run "chown ${uid} /k && chmod 0600 /k"`,
    );
  },
});

Deno.test("inspectTrusted() reports a missing path without a problem and does not follow links", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await inspectTrusted(`${dir}/none`, FILE), {
      info: undefined,
      problem: undefined,
    });
    await Deno.symlink(`${dir}/none`, `${dir}/dangling`);
    assert.equal((await inspectTrusted(`${dir}/dangling`, FILE)).problem?.kind, "symlink");
    const followed = await inspectTrusted(`${dir}/dangling`, { ...FILE, followSymlinks: true });
    assert.equal(followed.info, undefined);
  });
});
