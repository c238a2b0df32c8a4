import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { hkdfSync } from "node:crypto";
import { hmacSha1, tokenMasterKey } from "../../../src/client/cedar/auth_token.ts";

/** HTCondor's SEED_A (256 bytes), the salt prefix of the TOKEN method's master key. */
const SEED_A_HEX = "3e4a502047d5f4e5dc7c69bb5210cbb6167add8084f7dd9ef3ad2cca71d283dd" +
  "114a4fbb7b1ee90adfa862c44304de5473a3172f735c2cbb6e775b5d40d39fac" +
  "e873182523f9252b623be0d4b167a3a8040cacfee9ee3da02c0abbf4d9d8b11f" +
  "89004c943923ce5d9508bb3f04bc66a3fa20a13a416c5e6f4e0d3187d45fc783" +
  "35c5e485db2c5a3717970cc26e7b6b9d1965b47a67df77a31f22f08a6c0ba570" +
  "97a21a9ca7c60424f72739ab5cb915a4185bd109828e35e42108ab851c08a3df" +
  "fde0e3b06f3d3938cdad6df6ef9a6f6dc2cb74f0228512eb7a3d6823010684b0" +
  "15c12ac3014c4f9f938e384dad1e3bd745ff8c141fd70b465ba8af5d1b98b4b1";

/** A fixed token (sub "alice@example.org"); its signature holds a "-", so base64url matters. */
const TOKEN =
  "eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ.eyJleHAiOjE3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoicG9vbC5leGFtcGxlLm9yZyIsImp0aSI6IjAwMTEyMjMzNDQ1NTY2Nzc4ODk5YWFiYmNjZGRlZWZmIiwic2NvcGUiOiJjb25kb3I6L1JFQUQgY29uZG9yOi9XUklURSIsInN1YiI6ImFsaWNlQGV4YW1wbGUub3JnIn0.oAXfDGhOppVRnLcI-ct8bCCalhsI5LEN7Wgz7Haz4hA";
/** Its master key, computed outside Deno (Python `cryptography` HKDF). */
const TOKEN_MASTER_KEY = "d653095be07e5d7687068a11b348255c4e6680cc8562cfb1de4fbc579bc46b46";

const HEADER = base64Url(JSON.stringify({ alg: "HS256", kid: "POOL" }));
const SIGNATURE = "c2lnbmF0dXJlLWJ5dGVzLWZvci10ZXN0cw";

Deno.test("hmacSha1() matches RFC 2202 test cases 1 and 2", async () => {
  assert.equal(
    hexOf(await hmacSha1(new Uint8Array(20).fill(0x0b), ascii("Hi There"))),
    "b617318655057264e28bc0b6fb378c8ef146be00",
  );
  assert.equal(
    hexOf(await hmacSha1(ascii("Jefe"), ascii("what do ya want for nothing?"))),
    "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
  );
});

Deno.test("SEED_A copied into these tests is HTCondor's 256 bytes", () => {
  const seed = Buffer.from(SEED_A_HEX, "hex");
  assert.equal(seed.length, 256);
  assert.deepEqual([seed[0], seed[1], seed[255]], [0x3e, 0x4a, 0xb1]);
});

Deno.test("tokenMasterKey() derives HKDF-SHA256(signature, SEED_A ‖ header.payload, master ka)", async () => {
  const { subject, signedPart, key } = await tokenMasterKey(TOKEN);
  assert.equal(subject, "alice@example.org");
  assert.equal(signedPart, TOKEN.slice(0, TOKEN.lastIndexOf(".")));
  assert.equal(hexOf(key), TOKEN_MASTER_KEY);
  assert.deepEqual(key, nodeMasterKey(TOKEN));
});

Deno.test("tokenMasterKey() takes the subject from jti when there is no sub", async () => {
  const token = tokenWith({ iss: "pool.example.org", jti: "00ff00ff" });
  const { subject, key } = await tokenMasterKey(token);
  assert.equal(subject, "00ff00ff");
  assert.deepEqual(key, nodeMasterKey(token));
  // A sub that is not a string does not count.
  assert.equal((await tokenMasterKey(tokenWith({ sub: 42, jti: "abc" }))).subject, "abc");
});

Deno.test("tokenMasterKey() refuses a token with neither sub nor jti, or not a JWT, with a TypeError", async () => {
  const bad = [
    tokenWith({ iss: "pool.example.org" }),
    tokenWith({ sub: "", jti: "" }),
    tokenWith({ sub: 1, jti: 2 }),
    "only.two",
    "a.b.c.d",
  ];
  for (const token of bad) await assert.rejects(tokenMasterKey(token), TypeError, token);
});

/** The master key computed with node:crypto alone. */
function nodeMasterKey(token: string): Uint8Array {
  const [header, payload, signature] = token.split(".");
  const salt = Buffer.concat([Buffer.from(SEED_A_HEX, "hex"), ascii(`${header}.${payload}`)]);
  return new Uint8Array(
    hkdfSync("sha256", Buffer.from(signature, "base64url"), salt, "master ka", 32),
  );
}

function tokenWith(claims: Record<string, unknown>): string {
  return `${HEADER}.${base64Url(JSON.stringify(claims))}.${SIGNATURE}`;
}

function base64Url(text: string): string {
  return Buffer.from(text).toString("base64url");
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
