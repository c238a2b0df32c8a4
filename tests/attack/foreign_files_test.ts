/**
 * Attacks by a hostile local user on the files that decide whom the tools
 * trust (docs/security.md, "Files that grant trust": refused when another
 * user could have written them, "owned by another non-root user, or reached
 * through another user's symbolic link"). Run as root, as provisioning
 * scripts do: root can read a file another user made private to themselves.
 */
import assert from "node:assert/strict";
import { CondorError, TrustError } from "../../src/errors.ts";
import { readSavedRequest } from "../../src/client/saved_request.ts";
import { readKnownHosts } from "../../src/client/known_hosts.ts";
import { withTempDir } from "../_support/temp.ts";

const NOBODY = 65534;
const FP = "sha256:" + Array.from({ length: 32 }, () => "AB").join(":");

Deno.test({
  name:
    "attack: a -state file another user planted (0600, theirs) in a shared directory is not resumed",
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await withTempDir(async (dir) => {
      // A shared directory like /tmp: world-writable with the sticky bit.
      const shared = `${dir}/tmp`;
      await Deno.mkdir(shared);
      await Deno.chmod(shared, 0o1777);
      const path = `${shared}/token-request.json`;
      // Mallory's file: her daemon, her certificate pinned, her "secret".
      await Deno.writeTextFile(
        path,
        JSON.stringify({
          format: "condor-token-request/1",
          daemon: "https://mallory.example.org:9443",
          fingerprint: FP,
          secret: "mallory-knows-this-secret-0123456789abcdefghi",
          clientId: "worker-1",
          identity: "condor@pool.example.org",
          authz: [],
          lifetime: null,
          createdAt: Math.floor(Date.now() / 1000),
        }),
        { mode: 0o600 },
      );
      await Deno.chown(path, NOBODY, NOBODY);
      const outcome = await readSavedRequest(path).then((saved) => saved, (e) => e);
      assert.ok(
        outcome instanceof CondorError,
        `resumed another user's request: daemon ${outcome?.daemon}, pin ${outcome?.fingerprint}`,
      );
    });
  },
});

Deno.test({
  name:
    "attack: a known-hosts file reached through another user's symbolic link is refused, not read as missing or as theirs",
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await withTempDir(async (dir) => {
      // A root-owned file with lines Mallory chose (e.g. one she had root write for her).
      await Deno.writeTextFile(`${dir}/elsewhere`, `cm.example.org:9618 ${FP}\n`, { mode: 0o600 });
      const path = `${dir}/known_hosts`;
      await Deno.symlink(`${dir}/elsewhere`, path);
      await lchown(path, NOBODY);
      const read = await readKnownHosts(path).then((m) => [...m.entries()], (e) => e);
      assert.ok(read instanceof TrustError, `read through Mallory's link: ${JSON.stringify(read)}`);

      // A dangling link of hers: not "no known hosts" (that would drop every remembered pin).
      await Deno.remove(path);
      await Deno.symlink(`${dir}/nowhere`, path);
      await lchown(path, NOBODY);
      const dangling = await readKnownHosts(path).then((m) => [...m.entries()], (e) => e);
      assert.ok(
        dangling instanceof TrustError,
        `dangling link read as ${JSON.stringify(dangling)}`,
      );
    });
  },
});

/** chown of the link itself (Deno has no lchown). */
async function lchown(path: string, uid: number): Promise<void> {
  const { code } = await new Deno.Command("chown", { args: ["-h", `${uid}:${uid}`, path] })
    .output();
  assert.equal(code, 0, `chown -h ${path}`);
}
