/**
 * Attack: HTCondor's known_hosts line names the pool's CA certificate (which
 * HTCondor records). An impostor with its own key presents a leaf that merely
 * *claims* that CA as issuer, and appends the real CA certificate (public) to
 * its chain. The CA never signed the leaf; the impostor holds no CA key.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { TrustError } from "../../src/errors.ts";
import { tlsDialer } from "../../src/client/tls_dialer.ts";
import { TrustSessions } from "../../src/client/trust.ts";
import { toPem } from "../../src/api/fingerprint.ts";
import { createTestCa } from "../_support/test_ca.ts";
import { withTempDir } from "../_support/temp.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

function derOf(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function base64(der: Uint8Array): string {
  return btoa(String.fromCharCode(...der));
}

/** A leaf that names `ca` as its issuer (subject, key identifier) but is signed by the attacker. */
async function forgedLeaf(caPem: string, ip: string) {
  const ca = new x509.X509Certificate(caPem);
  const caKey = await ca.publicKey.export();
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "01",
    subject: `CN=${ip}`,
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "ip", value: ip }]),
      await x509.AuthorityKeyIdentifierExtension.create(caKey),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: leaf.toString("pem") + "\n", keyPem: toPem("PRIVATE KEY", pkcs8) };
}

Deno.test("attack: a leaf the trusted CA never signed, with the CA's certificate appended, is not trusted through HTCondor's known_hosts line", async () => {
  await withTempDir(async (dir) => {
    const ca = await createTestCa("Pool CA");
    // HTCondor's tools were told to trust this host; its line names the pool CA.
    await Deno.writeTextFile(
      `${dir}/known_hosts`,
      `127.0.0.1 SSL ${base64(derOf(ca.certPem))}\n`,
      { mode: 0o600 },
    );
    const forged = await forgedLeaf(ca.certPem, "127.0.0.1");
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: forged.certPem + ca.certPem,
      key: forged.keyPem,
    });
    const received: number[] = [];
    const serving = (async () => {
      for await (const conn of listener) {
        (async () => {
          const buf = new Uint8Array(1024);
          try {
            await conn.handshake();
            const n = await conn.read(buf);
            if (n !== null) received.push(n);
          } catch { /* closed */ }
          conn.close();
        })();
      }
    })();
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const sessions = new TrustSessions({
        pins: [],
        knownHostsFile: `${dir}/known_hosts`,
        now: Date.now,
      });
      const dialer = tlsDialer("127.0.0.1", port, sessions.for(`127.0.0.1:${port}`, "127.0.0.1"));
      const outcome = await dialer.probe().then(() => "trusted", (e) => e);
      assert.ok(
        outcome instanceof TrustError,
        `the impostor was trusted (${
          outcome === "trusted"
            ? sessions.for(`127.0.0.1:${port}`, "127.0.0.1").judgement?.basis
            : outcome
        })`,
      );
    } finally {
      listener.close();
      await serving.catch(() => {});
    }
  });
});

Deno.test("a leaf the CA in HTCondor's known_hosts line really signed is still trusted", async () => {
  await withTempDir(async (dir) => {
    const ca = await createTestCa("Pool CA");
    await Deno.writeTextFile(
      `${dir}/known_hosts`,
      `127.0.0.1 SSL ${base64(derOf(ca.certPem))}\n`,
      { mode: 0o600 },
    );
    const real = await ca.issue({ ips: ["127.0.0.1"] });
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: real.certPem + ca.certPem,
      key: real.keyPem,
    });
    const serving = (async () => {
      for await (const conn of listener) {
        conn.handshake().catch(() => {}).finally(() => conn.close());
      }
    })();
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const sessions = new TrustSessions({
        pins: [],
        knownHostsFile: `${dir}/known_hosts`,
        now: Date.now,
      });
      const session = sessions.for(`127.0.0.1:${port}`, "127.0.0.1");
      await tlsDialer("127.0.0.1", port, session).probe();
      assert.equal(session.judgement?.basis, "known_host");
      assert.equal(session.judgement?.fingerprint, real.fingerprint);
    } finally {
      listener.close();
      await serving.catch(() => {});
    }
  });
});
