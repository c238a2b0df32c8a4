/**
 * Attacks on how a certificate's names are read. The TLS library hands the
 * names over as one text ("DNS:a, IP Address:b, URI:c"); a name that itself
 * contains ", DNS:" or ", IP Address:" (a URI or e-mail entry, which a CA
 * signs without treating it as a host name) must not become a host name, and
 * control characters in a name must never reach the terminal (the
 * trust-on-first-use prompt shows the names before the user decides).
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { TrustError } from "../../src/errors.ts";
import { toPem } from "../../src/api/fingerprint.ts";
import { tlsDialer } from "../../src/client/tls_dialer.ts";
import { type TrustQuestion, TrustSessions } from "../../src/client/trust.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

type AltName = { type: "dns" | "ip" | "url" | "email"; value: string };

/** A CA and a server certificate it signs with exactly `names` as subjectAltName. */
async function caAndLeaf(names: AltName[]) {
  const caKeys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Workload CA",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=workload",
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    caPem: ca.toString("pem") + "\n",
    certPem: leaf.toString("pem") + "\n",
    keyPem: toPem("PRIVATE KEY", pkcs8),
  };
}

async function withServer(
  cert: { certPem: string; keyPem: string },
  fn: (port: number) => Promise<void>,
) {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
  });
  const serving = (async () => {
    for await (const conn of listener) {
      conn.handshake().catch(() => {}).finally(() => conn.close());
    }
  })();
  try {
    await fn((listener.addr as Deno.NetAddr).port);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
}

Deno.test('attack: a URI or e-mail name that contains ", IP Address:127.0.0.1" does not make a CA-signed certificate valid for 127.0.0.1', async () => {
  for (
    const injected of [
      { type: "url", value: "spiffe://pool.example.org/worker, IP Address:127.0.0.1" },
      { type: "email", value: "worker@pool.example.org, IP Address:127.0.0.1" },
      { type: "url", value: "spiffe://pool.example.org/w, DNS:127.0.0.1" },
    ] as AltName[]
  ) {
    const issued = await caAndLeaf([{ type: "dns", value: "worker.pool.example.org" }, injected]);
    await withServer(issued, async (port) => {
      const sessions = new TrustSessions({
        pins: [],
        caPem: issued.caPem,
        knownHostsFile: undefined,
        now: Date.now,
      });
      const session = sessions.for(`127.0.0.1:${port}`, "127.0.0.1");
      const outcome = await tlsDialer("127.0.0.1", port, session).probe().then(
        () => `trusted (${session.judgement?.basis})`,
        (e) => e,
      );
      assert.ok(outcome instanceof TrustError, `${injected.value}: ${outcome}`);
      assert.equal(outcome.code, "TRUST_NAME_MISMATCH", injected.value);
    });
  }
});

Deno.test("attack: control characters in a certificate's names never reach the trust prompt or an error message", async () => {
  const escape = "evil\x1b[8m\x1b]0;owned\x07.example.org";
  const issued = await caAndLeaf([{ type: "ip", value: "127.0.0.1" }, {
    type: "dns",
    value: escape,
  }]);
  await withServer(issued, async (port) => {
    let asked: TrustQuestion | undefined;
    const sessions = new TrustSessions({
      pins: [],
      knownHostsFile: undefined,
      now: Date.now,
      ask: (q) => {
        asked = q;
        return Promise.resolve(false);
      },
    });
    await tlsDialer("127.0.0.1", port, sessions.for(`127.0.0.1:${port}`, "127.0.0.1")).probe()
      .catch(() => {});
    assert.ok(asked, "the user was not asked");
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(asked.names.join(" "), /[\u0000-\u001f\u007f-\u009f]/);

    // Reached by a name the certificate does not cover: the refusal lists its names.
    const other = new TrustSessions({ pins: [], knownHostsFile: undefined, now: Date.now });
    const refusal = await tlsDialer("localhost", port, other.for(`localhost:${port}`, "localhost"))
      .probe().then(() => undefined, (e) => e);
    assert.ok(refusal instanceof TrustError, String(refusal));
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(refusal.message, /[\u0000-\u001f\u007f-\u009f]/);
  });
});
