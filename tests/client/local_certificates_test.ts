import assert from "node:assert/strict";
import { localDaemonCertificates } from "../../src/client/local_certificates.ts";
import { createTestCa } from "../_support/test_ca.ts";

Deno.test({
  name: "localDaemonCertificates() takes a certificate only where nobody else could replace it",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const id = await (await createTestCa()).issue({ ips: ["127.0.0.1"] });
    const root = await Deno.makeTempDir();
    try {
      const safe = `${root}/safe`;
      const open = `${root}/open`;
      await Deno.mkdir(safe, { mode: 0o755 });
      await Deno.mkdir(open);
      await Deno.chmod(safe, 0o755);
      await Deno.chmod(open, 0o777);
      await Deno.writeTextFile(`${safe}/tokend.pem`, id.certPem, { mode: 0o644 });
      await Deno.writeTextFile(`${open}/tokend.pem`, id.certPem, { mode: 0o644 });
      await Deno.chmod(`${open}/tokend.pem`, 0o644);
      // A link in a safe directory to a file in one anyone may write.
      await Deno.symlink(`${open}/tokend.pem`, `${safe}/linked.pem`);
      // A link in a safe directory to a file in another safe one.
      await Deno.symlink(`${safe}/tokend.pem`, `${root}/good-link.pem`);
      await Deno.chmod(root, 0o755);

      assert.deepEqual(await localDaemonCertificates([`${safe}/tokend.pem`]), [
        { fingerprint: id.fingerprint, file: `${safe}/tokend.pem` },
      ]);
      assert.deepEqual(await localDaemonCertificates([`${root}/good-link.pem`]), [
        { fingerprint: id.fingerprint, file: `${root}/good-link.pem` },
      ]);
      assert.deepEqual(await localDaemonCertificates([`${open}/tokend.pem`]), []);
      assert.deepEqual(
        await localDaemonCertificates([`${safe}/linked.pem`]),
        [],
        "its target can be swapped by anyone who can write the target's directory",
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
