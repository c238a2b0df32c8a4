/**
 * What a daemon presented in its TLS handshake, as the trust decision reads
 * it, whichever TLS client saw it (a socket to condor_tokend, or the TLS
 * tunnel inside HTCondor's SSL method).
 *
 * @module
 */
import type tls from "node:tls";
import { fingerprintOf, toPem } from "../api/fingerprint.ts";
import { certificateHostNames } from "./_certificate_names.ts";
import { printable } from "./_printable.ts";

/** What a daemon presented in its TLS handshake. */
export interface PeerCertificate {
  /** `sha256:AB:CD:...` of the leaf certificate's DER bytes. */
  fingerprint: string;
  /** The leaf certificate, DER. */
  der: Uint8Array;
  /** The leaf certificate, PEM. */
  pem: string;
  /** DNS names and IP addresses it is valid for (subjectAltName). */
  names: string[];
  /** End of validity, epoch milliseconds, when known. */
  notAfter: number | undefined;
  /** Whether the chain verified against the CAs in use (system or `ca`). */
  authorized: boolean;
  /** Why it did not verify, as the TLS library says it. */
  authorizationError: string | undefined;
  /** DER of the certificates the daemon sent above its own (its CA's, for HTCondor). */
  chain: Uint8Array[];
}

/** What a TLS client saw of a daemon's certificate, as {@link PeerCertificate}. */
export async function peerCertificate(seen: {
  raw: Uint8Array;
  /**
   * Node's subjectaltname text (ignored: the names are read from `raw`, as
   * that text cannot tell a name from a URI or e-mail entry containing
   * ", DNS:"), or the names already parsed.
   */
  names: string | string[];
  /** Epoch milliseconds, or Node's valid_to text. */
  notAfter: number | string | undefined;
  authorized: boolean;
  authorizationError: string | undefined;
  /** DER of the issuers' certificates, when the TLS library gave them. */
  chain?: Uint8Array[];
}): Promise<PeerCertificate> {
  return {
    fingerprint: await fingerprintOf(seen.raw),
    der: seen.raw,
    pem: toPem("CERTIFICATE", seen.raw),
    names: (typeof seen.names === "string" ? certificateHostNames(seen.raw) : seen.names).map((n) =>
      printable(n, 255)
    ),
    notAfter: typeof seen.notAfter === "string"
      ? Date.parse(seen.notAfter) || undefined
      : seen.notAfter,
    authorized: seen.authorized,
    authorizationError: seen.authorizationError,
    chain: seen.chain ?? [],
  };
}

/**
 * The certificate a connected node:tls socket was shown, or undefined when
 * it was shown none.
 */
export async function socketPeerCertificate(
  socket: tls.TLSSocket,
): Promise<PeerCertificate | undefined> {
  const cert = socket.getPeerCertificate(true);
  if (!cert?.raw) return undefined;
  return await peerCertificate({
    raw: new Uint8Array(cert.raw),
    names: cert.subjectaltname ?? "",
    notAfter: cert.valid_to,
    authorized: socket.authorized,
    authorizationError: socket.authorizationError === undefined
      ? undefined
      : String(socket.authorizationError),
    chain: issuersOf(cert),
  });
}

/** DER of the issuers above a certificate node:tls returned with its chain (`getPeerCertificate(true)`). */
export function issuersOf(cert: tls.DetailedPeerCertificate): Uint8Array[] {
  const chain: Uint8Array[] = [];
  let at = cert;
  // node:tls ends the chain with a certificate that is its own issuer.
  while (at.issuerCertificate && at.issuerCertificate !== at && chain.length < 10) {
    at = at.issuerCertificate;
    if (at.raw) chain.push(new Uint8Array(at.raw));
  }
  return chain;
}
