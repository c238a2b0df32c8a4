import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { CondorError } from "../../src/errors.ts";
import {
  createSelfSigned,
  loadTlsIdentity,
  pemFingerprint,
  selfSignedIdentity,
} from "../../src/server/certificate.ts";
import { withTempDir } from "../_support/temp.ts";

const names = {
  dnsNames: ["cm.example.org", "cm", "localhost"],
  ipAddresses: ["127.0.0.1", "::1"],
};

Deno.test("selfSignedIdentity() creates an ECDSA P-256 CA:FALSE certificate with the host's names", async () => {
  await withTempDir(async (dir) => {
    const identity = await selfSignedIdentity({
      stateDirectory: `${dir}/state`,
      now: Date.now(),
      ...names,
    });
    assert.equal(identity.created, true);
    const cert = new x509.X509Certificate(identity.certPem);
    const constraints = cert.getExtension(x509.BasicConstraintsExtension)!;
    assert.equal(constraints.ca, false);
    assert.equal(constraints.critical, true);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    const entries = san.names.items.map((n) => `${n.type}:${n.value}`);
    for (
      const expected of ["dns:cm.example.org", "dns:cm", "dns:localhost", "ip:127.0.0.1", "ip:::1"]
    ) {
      assert.ok(entries.includes(expected), `${expected} in ${entries}`);
    }
    assert.equal((cert.publicKey.algorithm as EcKeyAlgorithm).namedCurve, "P-256");
    assert.equal((await Deno.stat(`${dir}/state/tokend_key.pem`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    assert.match(identity.fingerprint, /^sha256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const thumb = new Uint8Array(await cert.getThumbprint("SHA-256"));
    assert.equal(
      identity.fingerprint,
      "sha256:" + Array.from(thumb, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":"),
    );
  });
});

Deno.test("selfSignedIdentity() reuses its certificate and refuses a key others can read", async () => {
  await withTempDir(async (dir) => {
    const options = { stateDirectory: dir, now: Date.now(), ...names };
    const first = await selfSignedIdentity(options);
    const second = await selfSignedIdentity(options);
    assert.equal(second.created, false);
    assert.equal(second.fingerprint, first.fingerprint);
    await Deno.chmod(`${dir}/tokend_key.pem`, 0o644);
    await assert.rejects(
      selfSignedIdentity(options),
      (err) =>
        err instanceof CondorError && err.code === "TLS_KEY_INSECURE" && /0644/.test(err.message),
    );
  });
});

Deno.test("loadTlsIdentity() uses the first configured pair that exists", async () => {
  await withTempDir(async (dir) => {
    const made = await createSelfSigned({ now: Date.now(), ...names });
    await Deno.writeTextFile(`${dir}/host.crt`, made.certPem);
    await Deno.writeTextFile(`${dir}/host.key`, made.keyPem, { mode: 0o600 });
    const identity = await loadTlsIdentity(
      {
        certFiles: [`${dir}/missing.crt`, `${dir}/host.crt`],
        keyFiles: [`${dir}/missing.key`, `${dir}/host.key`],
      },
      { stateDirectory: `${dir}/state`, now: Date.now(), ...names },
    );
    assert.equal(identity.certFile, `${dir}/host.crt`);
    assert.equal(identity.fingerprint, await pemFingerprint(made.certPem));
    const fallback = await loadTlsIdentity(
      { certFiles: [`${dir}/missing.crt`], keyFiles: [] },
      { stateDirectory: `${dir}/state`, now: Date.now(), ...names },
    );
    assert.equal(fallback.created, true);
    await assert.rejects(
      loadTlsIdentity(
        { certFiles: [`${dir}/host.crt`], keyFiles: [`${dir}/missing.key`] },
        { stateDirectory: `${dir}/state`, now: Date.now(), ...names },
      ),
      (err) => err instanceof CondorError && err.code === "TLS_NO_KEY",
    );
  });
});
