/**
 * The host names a certificate is valid for, read from its DER bytes: the
 * DNS names and IP addresses of its subjectAltName extension and nothing
 * else. A TLS library's text rendering of those names is not escaped (a URI
 * entry can carry ", IP Address:127.0.0.1"), so the trust decision reads
 * the bytes itself. A small DER walk keeps an X.509 library out of the
 * requester.
 *
 * @module
 */

/** OID 2.5.29.17 (subjectAltName), DER-encoded content. */
const SAN_OID = [0x55, 0x1d, 0x11];

interface Tlv {
  tag: number;
  /** Where the contents start and end. */
  start: number;
  end: number;
}

/** Reads the TLV at `at` within `limit`; undefined when it is malformed. */
function tlv(der: Uint8Array, at: number, limit: number): Tlv | undefined {
  if (at + 2 > limit) return undefined;
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > limit) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i];
    start += count;
  }
  const end = start + length;
  return end > limit ? undefined : { tag, start, end };
}

/** The TLVs directly inside `outer`. */
function children(der: Uint8Array, outer: Tlv): Tlv[] | undefined {
  const out: Tlv[] = [];
  for (let at = outer.start; at < outer.end;) {
    const next = tlv(der, at, outer.end);
    if (!next) return undefined;
    out.push(next);
    at = next.end;
  }
  return out;
}

/**
 * DNS names (lower case) and IP addresses (dotted IPv4, or IPv6 in
 * canonical text) of the certificate's subjectAltName; none when there is
 * no such extension or the DER is malformed.
 */
export function certificateHostNames(der: Uint8Array): string[] {
  const cert = tlv(der, 0, der.length);
  const tbs = cert && cert.tag === 0x30 ? children(der, cert)?.[0] : undefined;
  const fields = tbs && tbs.tag === 0x30 ? children(der, tbs) : undefined;
  const explicit = fields?.find((f) => f.tag === 0xa3); // [3] extensions
  const list = explicit ? children(der, explicit)?.[0] : undefined;
  const extensions = list && list.tag === 0x30 ? children(der, list) : undefined;
  for (const extension of extensions ?? []) {
    const parts = children(der, extension);
    const oid = parts?.[0];
    if (
      !parts || !oid || oid.tag !== 0x06 || oid.end - oid.start !== SAN_OID.length ||
      !SAN_OID.every((b, i) => der[oid.start + i] === b)
    ) continue;
    const value = parts[parts.length - 1]; // OCTET STRING after an optional critical flag
    if (value.tag !== 0x04) return [];
    const sequence = tlv(der, value.start, value.end);
    const names = sequence && sequence.tag === 0x30 ? children(der, sequence) : undefined;
    return (names ?? []).flatMap((name) => {
      const bytes = der.subarray(name.start, name.end);
      if (name.tag === 0x82) {
        // dNSName: IA5String; anything outside printable ASCII is no host name.
        const text = String.fromCharCode(...bytes);
        return /^[\x21-\x7e]+$/.test(text) ? [text.toLowerCase()] : [];
      }
      if (name.tag === 0x87) return ipText(bytes);
      return [];
    });
  }
  return [];
}

function ipText(bytes: Uint8Array): string[] {
  if (bytes.length === 4) return [Array.from(bytes).join(".")];
  if (bytes.length !== 16) return [];
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // The URL parser writes IPv6 in its canonical compressed form.
  return [new URL(`https://[${groups.join(":")}]/`).hostname.replace(/^\[|\]$/g, "")];
}
