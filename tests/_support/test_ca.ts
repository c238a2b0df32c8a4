/**
 * A certificate authority of the tests' own: a CA certificate and server
 * certificates it signs, for attacks that need a certificate "a trusted
 * authority" vouches for (the runtime trusts the CA through DENO_CERT, or a
 * tool through AUTH_SSL_CLIENT_CAFILE).
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { toPem } from "../../src/api/fingerprint.ts";
import { pemFingerprint } from "../../src/server/certificate.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A CA able to sign server certificates. */
export interface TestCa {
  certPem: string;
  /** Signs a server certificate for these IP addresses and DNS names. */
  issue(names: { ips?: string[]; dns?: string[] }): Promise<ServerIdentity>;
}

/** A server certificate and its key, PEM. */
export interface ServerIdentity {
  certPem: string;
  keyPem: string;
  fingerprint: string;
}

/** Makes a new CA ("CN=<name>"), valid from a minute ago for a day. */
export async function createTestCa(name = "Test CA"): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: ca.toString("pem") + "\n",
    async issue(names) {
      const leafKeys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${names.dns?.[0] ?? names.ips?.[0] ?? "server"}`,
        issuer: ca.subject,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([
            ...(names.dns ?? []).map((value) => ({ type: "dns" as const, value })),
            ...(names.ips ?? []).map((value) => ({ type: "ip" as const, value })),
          ]),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const certPem = leaf.toString("pem") + "\n";
      const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
      return {
        certPem,
        keyPem: toPem("PRIVATE KEY", pkcs8),
        fingerprint: await pemFingerprint(certPem),
      };
    },
  };
}

function serial(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b, i) => (i === 0 ? b & 0x7f : b).toString(16).padStart(2, "0"),
  ).join("");
}
