import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createECDH, hkdfSync } from "node:crypto";
import {
  deriveSessionKey,
  type EcdhKeyPair,
  ecdhKeyPair,
  newEcdhKeyPair,
  prepareEcdhKeyPair,
} from "../../../src/client/cedar/session_key.ts";

/** Two fixed P-256 key pairs, generated once for these tests. */
const CLIENT_JWK = {
  kty: "EC",
  crv: "P-256",
  x: "YHS3yAvMrIWAdkZVgdEQ0TJQ2bQmPms78_gx_NmjpF4",
  y: "pi-30_0L4OxncHZdPPwVI9s3PlILHWJonWKhSV8AH_w",
  d: "nB1pYPVvr0IMlhUKUv1f5DPlfLkkxjr8yD0JA0QGZu8",
};
const DAEMON_JWK = {
  kty: "EC",
  crv: "P-256",
  x: "o-NqLd_ZudCvcn3PtV7pvFAiYWa72eWqgBfJZ4AUtMU",
  y: "1VATBGQZEEAaVvbYHAoDH33fqL9caN7VoqqlA8yKw1Q",
  d: "zWpydcIEMPSMa7FbKPl9bpENTBsEPG8y1yW4w6XxDwA",
};
/** Their public keys as HTCondor sends them. */
const CLIENT_PUBLIC =
  "BGB0t8gLzKyFgHZGVYHRENEyUNm0Jj5rO/P4MfzZo6Repi+30/0L4OxncHZdPPwVI9s3PlILHWJonWKhSV8AH/w=";
const DAEMON_PUBLIC =
  "BKPjai3f2bnQr3J9z7Ve6bxQImFmu9nlqoAXyWeAFLTF1VATBGQZEEAaVvbYHAoDH33fqL9caN7VoqqlA8yKw1Q=";
/** The session key of this pair, computed outside Deno (Python `cryptography`). */
const SESSION_KEY = "5f6680c72d899c0571878599f18899ba4c4fa5e76bbfa84ded19b91ecc2b60ba";

Deno.test("ecdhKeyPair() gives the public key as base64 of the 65-byte uncompressed point", async () => {
  for (
    const [jwk, expected] of [[CLIENT_JWK, CLIENT_PUBLIC], [DAEMON_JWK, DAEMON_PUBLIC]] as const
  ) {
    const pair = await fixedPair(jwk);
    assert.equal(pair.publicKeyBase64, expected);
    assert.equal(pair.publicKeyBase64.length, 88);
    const point = Buffer.from(pair.publicKeyBase64, "base64");
    assert.equal(point.length, 65);
    assert.equal(point[0], 0x04);
    assert.deepEqual(point.subarray(1, 33), Buffer.from(jwk.x, "base64url"));
    assert.deepEqual(point.subarray(33), Buffer.from(jwk.y, "base64url"));
  }
});

Deno.test("newEcdhKeyPair() makes a fresh 88-character public key each time", async () => {
  const one = await newEcdhKeyPair();
  const two = await newEcdhKeyPair();
  assert.equal(one.publicKeyBase64.length, 88);
  assert.equal(Buffer.from(one.publicKeyBase64, "base64")[0], 0x04);
  assert.notEqual(one.publicKeyBase64, two.publicKeyBase64);
  assert.deepEqual(
    await deriveSessionKey(one, two.publicKeyBase64),
    await deriveSessionKey(two, one.publicKeyBase64),
  );
});

Deno.test("prepareEcdhKeyPair() makes the next key pair ahead, for one handshake only", async () => {
  prepareEcdhKeyPair();
  prepareEcdhKeyPair(); // a second call before it is taken changes nothing
  const prepared = newEcdhKeyPair();
  const next = newEcdhKeyPair();
  const [one, two] = await Promise.all([prepared, next]);
  assert.notEqual(one.publicKeyBase64, two.publicKeyBase64);
  // Taken: the following pairs are fresh ones again.
  const three = await newEcdhKeyPair();
  assert.notEqual(three.publicKeyBase64, one.publicKeyBase64);
  assert.deepEqual(
    await deriveSessionKey(one, two.publicKeyBase64),
    await deriveSessionKey(two, one.publicKeyBase64),
  );
});

Deno.test("deriveSessionKey() gives both sides the same key, HKDF-SHA256(ECDH x, htcondor, keygen)", async () => {
  const client = await fixedPair(CLIENT_JWK);
  const daemon = await fixedPair(DAEMON_JWK);
  const ours = await deriveSessionKey(client, DAEMON_PUBLIC);
  const theirs = await deriveSessionKey(daemon, CLIENT_PUBLIC);
  assert.equal(ours.length, 32);
  assert.deepEqual(ours, theirs);
  assert.equal(Buffer.from(ours).toString("hex"), SESSION_KEY);
  assert.deepEqual(ours, nodeSessionKey(CLIENT_JWK.d, DAEMON_PUBLIC));
  assert.deepEqual(ours, nodeSessionKey(DAEMON_JWK.d, CLIENT_PUBLIC));
});

Deno.test("deriveSessionKey() refuses a malformed peer key with a TypeError", async () => {
  const client = await fixedPair(CLIENT_JWK);
  const notOnCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString("base64");
  const compressedTag = Buffer.from(DAEMON_PUBLIC, "base64");
  compressedTag[0] = 0x05;
  const malformed = [
    "",
    "not base64 at all!",
    DAEMON_PUBLIC.slice(0, 44), // half a point
    notOnCurve,
    compressedTag.toString("base64"),
  ];
  for (const peer of malformed) {
    await assert.rejects(deriveSessionKey(client, peer), TypeError, JSON.stringify(peer));
  }
});

/** Imports a fixed JWK as a key pair the way a handshake holds one. */
async function fixedPair(jwk: typeof CLIENT_JWK): Promise<EcdhKeyPair> {
  const algorithm = { name: "ECDH", namedCurve: "P-256" };
  const privateKey = await crypto.subtle.importKey("jwk", jwk, algorithm, false, ["deriveBits"]);
  const { d: _, ...publicJwk } = jwk;
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, algorithm, true, []);
  return await ecdhKeyPair({ privateKey, publicKey });
}

/** The session key computed with node:crypto alone, from a private scalar and the peer's base64 point. */
function nodeSessionKey(privateD: string, peerBase64: string): Uint8Array {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(privateD, "base64url"));
  const secret = ecdh.computeSecret(Buffer.from(peerBase64, "base64"));
  return new Uint8Array(hkdfSync("sha256", secret, "htcondor", "keygen", 32));
}
