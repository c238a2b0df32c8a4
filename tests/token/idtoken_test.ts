import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { TokenError } from "../../src/errors.ts";
import {
  base64UrlBytes,
  base64UrlText,
  decodeToken,
  mintToken,
  signCompact,
  verifyToken,
} from "../../src/token/idtoken.ts";
import { type SigningKey, signingKeyFromFileBytes } from "../../src/token/signing_key.ts";
import { referenceKey, referenceSign, referenceVerify } from "../_support/reference_idtoken.ts";
import { VECTOR_KEY_FILE } from "../_support/temp.ts";

const VECTOR_FULL =
  "eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ.eyJleHAiOjE3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoicG9vbC5leGFtcGxlLm9yZyIsImp0aSI6IjAwMTEyMjMzNDQ1NTY2Nzc4ODk5YWFiYmNjZGRlZWZmIiwic2NvcGUiOiJjb25kb3I6L1JFQUQgY29uZG9yOi9XUklURSIsInN1YiI6ImFsaWNlQGV4YW1wbGUub3JnIn0.oAXfDGhOppVRnLcI-ct8bCCalhsI5LEN7Wgz7Haz4hA";
const VECTOR_POOL =
  "eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ.eyJpYXQiOjE3MDAwMDAwMDAsImlzcyI6InBvb2wuZXhhbXBsZS5vcmciLCJqdGkiOiJmZmVlZGRjY2JiYWE5OTg4Nzc2NjU1NDQzMzIyMTEwMCIsInN1YiI6ImNvbmRvckBwb29sLmV4YW1wbGUub3JnIn0.I5oYburt08FOCL9r052GstJm065v343zIzvRanlH-IM";
const VECTOR_SITEKEY =
  "eyJhbGciOiJIUzI1NiIsImtpZCI6IlNJVEVLRVkifQ.eyJpYXQiOjE3MDAwMDAwMDAsImlzcyI6InBvb2wuZXhhbXBsZS5vcmciLCJqdGkiOiJmZmVlZGRjY2JiYWE5OTg4Nzc2NjU1NDQzMzIyMTEwMCIsInN1YiI6ImNvbmRvckBwb29sLmV4YW1wbGUub3JnIn0._hCZwpi3nZLvjgC0VwTaGvAk2lYldG6aYSmSLSrXtqo";

const ISSUER = "pool.example.org";
const NOW = 1700000000;

async function keys() {
  const pool = await signingKeyFromFileBytes("POOL", VECTOR_KEY_FILE, { isPool: true });
  const site = await signingKeyFromFileBytes("SITEKEY", VECTOR_KEY_FILE, { isPool: false });
  const held = new Map<string, SigningKey>([["POOL", pool], ["SITEKEY", site]]);
  return { pool, site, resolve: (kid: string) => Promise.resolve(held.get(kid)) };
}

function codeOf(code: string) {
  return (err: unknown) => err instanceof TokenError && err.code === code;
}

Deno.test("mintToken() reproduces the spec's full test vector byte for byte", async () => {
  const { pool } = await keys();
  const { token } = await mintToken(pool, {
    identity: "alice@example.org",
    issuer: ISSUER,
    now: NOW,
    lifetime: 600,
    authz: ["READ", "WRITE"],
    jti: "00112233445566778899aabbccddeeff",
  });
  assert.deepEqual(token, VECTOR_FULL);
});

Deno.test("mintToken() reproduces the POOL and named-key vectors", async () => {
  const { pool, site } = await keys();
  const common = {
    identity: "condor@pool.example.org",
    issuer: ISSUER,
    now: NOW,
    jti: "ffeeddccbbaa99887766554433221100",
  };
  assert.deepEqual((await mintToken(pool, common)).token, VECTOR_POOL);
  assert.deepEqual((await mintToken(site, common)).token, VECTOR_SITEKEY);
});

Deno.test("verifyToken() accepts every spec vector", async () => {
  const { resolve } = await keys();
  for (const token of [VECTOR_FULL, VECTOR_POOL, VECTOR_SITEKEY]) {
    const verified = await verifyToken(token, resolve, { issuer: ISSUER, now: NOW + 1 });
    assert.deepEqual(verified.claims.iss, ISSUER);
  }
  const full = await verifyToken(VECTOR_FULL, resolve, { issuer: ISSUER, now: NOW });
  assert.deepEqual(full.authz, ["READ", "WRITE"]);
  assert.deepEqual(full.claims.sub, "alice@example.org");
});

Deno.test("mintToken() tokens verify under the independent node:crypto implementation", async () => {
  const { pool } = await keys();
  const { token, claims } = await mintToken(pool, {
    identity: "bob@example.org",
    issuer: ISSUER,
    now: NOW,
    lifetime: 60,
    authz: ["ADVERTISE_STARTD"],
  });
  const ref = referenceVerify(referenceKey(VECTOR_KEY_FILE, true), token);
  assert.deepEqual(ref.header, { alg: "HS256", kid: "POOL" });
  assert.deepEqual(ref.payload.sub, "bob@example.org");
  assert.deepEqual(ref.payload.exp, NOW + 60);
  assert.deepEqual(ref.payload.scope, "condor:/ADVERTISE_STARTD");
  assert.deepEqual(/^[0-9a-f]{32}$/.test(claims.jti), true);
});

Deno.test("verifyToken() accepts tokens minted by the independent implementation, HTCondor's escaping included", async () => {
  const { resolve } = await keys();
  const key = referenceKey(VECTOR_KEY_FILE, false);
  // HTCondor escapes "/" as "\/" inside JSON strings; the HMAC covers the exact bytes.
  const payload =
    '{"iat":1700000000,"iss":"pool.example.org","jti":"0123456789abcdef0123456789abcdef","scope":"condor:\\/READ","sub":"carol@example.org"}';
  const token = referenceSign(key, '{"alg":"HS256","kid":"SITEKEY"}', payload);
  const verified = await verifyToken(token, resolve, { issuer: ISSUER, now: NOW });
  assert.deepEqual(verified.claims.sub, "carol@example.org");
  assert.deepEqual(verified.authz, ["READ"]);
});

Deno.test("verifyToken() refuses alg none, a forged signature and an unknown kid", async () => {
  const { resolve } = await keys();
  const [, payload] = VECTOR_POOL.split(".");
  const none = `${Buffer.from('{"alg":"none","kid":"POOL"}').toString("base64url")}.${payload}.`;
  await assert.rejects(
    verifyToken(none, resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_BAD_ALG"),
  );

  const forged = VECTOR_POOL.slice(0, -2) + (VECTOR_POOL.endsWith("AA") ? "AB" : "AA");
  await assert.rejects(
    verifyToken(forged, resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_BAD_SIGNATURE"),
  );

  const otherKey = referenceKey(VECTOR_KEY_FILE, true);
  const unknown = referenceSign(otherKey, '{"alg":"HS256","kid":"NOPE"}', '{"iss":"x"}');
  await assert.rejects(
    verifyToken(unknown, resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_UNKNOWN_KEY"),
  );
  const traversal = referenceSign(otherKey, '{"alg":"HS256","kid":"../POOL"}', '{"iss":"x"}');
  await assert.rejects(
    verifyToken(traversal, resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_UNKNOWN_KEY"),
  );
});

Deno.test("verifyToken() refuses a token signed with another key under a known kid", async () => {
  const { resolve } = await keys();
  const wrong = referenceKey(Uint8Array.from([1, 2, 3]), true);
  const token = referenceSign(
    wrong,
    '{"alg":"HS256","kid":"POOL"}',
    '{"iat":1,"iss":"pool.example.org","jti":"ab","sub":"mallory@example.org"}',
  );
  await assert.rejects(
    verifyToken(token, resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_BAD_SIGNATURE"),
  );
});

Deno.test("verifyToken() refuses a wrong issuer, an expired token, and missing kid or jti", async () => {
  const { pool, resolve } = await keys();
  const sign = (payload: object, header = '{"alg":"HS256","kid":"POOL"}') =>
    referenceSign(referenceKey(VECTOR_KEY_FILE, true), header, JSON.stringify(payload));
  const base = { iat: NOW, iss: ISSUER, jti: "00", sub: "a@b" };
  await assert.rejects(
    verifyToken(sign({ ...base, iss: "other.org" }), resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_WRONG_ISSUER"),
  );
  await assert.rejects(
    verifyToken(sign({ ...base, exp: NOW }), resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_EXPIRED"),
  );
  await assert.rejects(
    verifyToken(sign({ ...base, jti: undefined }), resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_MALFORMED"),
  );
  await assert.rejects(
    verifyToken(sign(base, '{"alg":"HS256"}'), resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_NO_KID"),
  );
  await assert.rejects(
    verifyToken("not.a-token", resolve, { issuer: ISSUER, now: NOW }),
    codeOf("TOKEN_MALFORMED"),
  );
  // Sanity: a well-formed token from our own minting with the same key is fine.
  const ok = await signCompact(pool, JSON.stringify(base));
  assert.deepEqual(
    (await verifyToken(ok, resolve, { issuer: ISSUER, now: NOW })).claims.sub,
    "a@b",
  );
});

Deno.test("mintToken() refuses an issuer with spaces or commas", async () => {
  const { pool } = await keys();
  for (const issuer of ["", "a b", "a,b"]) {
    await assert.rejects(
      mintToken(pool, { identity: "a@b", issuer, now: NOW }),
      codeOf("TOKEN_BAD_ISSUER"),
    );
  }
});

Deno.test("decodeToken() returns header and payload without verifying", () => {
  const { header, payload } = decodeToken(VECTOR_POOL);
  assert.deepEqual(header, { alg: "HS256", kid: "POOL" });
  assert.deepEqual((payload as { sub: string }).sub, "condor@pool.example.org");
});

Deno.test("base64UrlText() and base64UrlBytes() refuse anything but base64url text with TOKEN_MALFORMED", () => {
  assert.equal(base64UrlText("eyJhIjoxfQ"), '{"a":1}');
  assert.deepEqual(base64UrlBytes("_-8"), new Uint8Array([0xff, 0xef]));
  // One leftover character, an illegal character, bytes that are not UTF-8.
  for (const bad of ["A", "ab+c", "_w"]) {
    assert.throws(
      () => base64UrlText(bad),
      (err) => err instanceof TokenError && err.code === "TOKEN_MALFORMED",
      bad,
    );
  }
});
