/**
 * An independent implementation of spec/idtokens.md built on node:crypto
 * (HMAC and HKDF from OpenSSL) rather than WebCrypto and jose, so tests can
 * check our tokens against code that shares nothing with ours.
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** Derives the HS256 key from on-disk key file bytes. */
export function referenceKey(fileBytes: Uint8Array, pool: boolean): Buffer {
  const pattern = [0xde, 0xad, 0xbe, 0xef];
  const pw = Buffer.from(fileBytes.map((b, i) => b ^ pattern[i % 4]));
  const ikm = pool ? Buffer.concat([pw, pw]) : pw;
  return Buffer.from(hkdfSync("sha256", ikm, "htcondor", "master jwt", 32));
}

/** Signs exact header and payload JSON texts. */
export function referenceSign(key: Buffer, headerJson: string, payloadJson: string): string {
  const input = `${Buffer.from(headerJson).toString("base64url")}.${
    Buffer.from(payloadJson).toString("base64url")
  }`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

/** Verifies a token's HMAC and returns its decoded header and payload, or throws. */
export function referenceVerify(
  key: Buffer,
  token: string,
): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p, s] = token.split(".");
  const expected = createHmac("sha256", key).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Error("reference: bad signature");
  }
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString()),
    payload: JSON.parse(Buffer.from(p, "base64url").toString()),
  };
}
