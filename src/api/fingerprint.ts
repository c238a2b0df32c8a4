/**
 * Certificate fingerprints as users copy them from the daemon's log into
 * `-trust`: `sha256:AB:CD:...`, the SHA-256 of the certificate's DER bytes
 * in upper-case hex pairs. Daemon and client both print and read them, so
 * the format lives here, once.
 *
 * @module
 */

/** Prefix of every fingerprint printed or accepted. */
export const FINGERPRINT_PREFIX = "sha256:";

/**
 * Normalises a SHA-256 fingerprint to `sha256:AB:CD:...` (32 upper-case
 * bytes). Accepts it with or without the prefix and the colons, in any case;
 * returns undefined for anything else.
 */
export function parseFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/^sha-?256:/i, "").replace(/[:\s]/g, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return undefined;
  return FINGERPRINT_PREFIX + hex.toUpperCase().match(/../g)!.join(":");
}

/** The `sha256:AB:CD:...` fingerprint of a DER-encoded certificate. */
export async function fingerprintOf(der: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der as BufferSource));
  return FINGERPRINT_PREFIX +
    Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** DER bytes as a PEM block with `label` (e.g. "CERTIFICATE"), 64 characters a line. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = btoa(Array.from(der, (b) => String.fromCharCode(b)).join(""));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * DER bytes of the first PEM block labelled `label` in `pem`, or undefined
 * when there is none.
 */
export function firstPemBlock(pem: string, label: string): Uint8Array | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!match) return undefined;
  try {
    return Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch (err) {
    if (err instanceof DOMException) return undefined; // not base64
    throw err;
  }
}
