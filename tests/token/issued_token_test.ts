import assert from "node:assert/strict";
import { TokenError } from "../../src/errors.ts";
import { mintToken } from "../../src/token/idtoken.ts";
import { checkIssuedToken, type IssuedTokenExpectation } from "../../src/token/issued_token.ts";
import { signingKeyFromFileBytes } from "../../src/token/signing_key.ts";
import { VECTOR_KEY_FILE } from "../_support/temp.ts";
import type { Authorization } from "../../src/token/authz.ts";

const ASKED: IssuedTokenExpectation = {
  identity: "condor@pool.example.org",
  authz: ["ADVERTISE_STARTD"],
  lifetime: 3600,
  trustDomain: "pool.example.org",
};

async function token(
  claims: {
    identity?: string;
    issuer?: string;
    authz?: Authorization[];
    lifetime?: number;
  } = {},
): Promise<string> {
  const key = await signingKeyFromFileBytes("POOL", VECTOR_KEY_FILE, { isPool: true });
  return (await mintToken(key, {
    identity: claims.identity ?? "condor@pool.example.org",
    issuer: claims.issuer ?? "pool.example.org",
    now: 1_700_000_000,
    authz: claims.authz ?? ["ADVERTISE_STARTD"],
    ...(!("lifetime" in claims)
      ? { lifetime: 3600 }
      : claims.lifetime === undefined
      ? {}
      : { lifetime: claims.lifetime }),
  })).token;
}

function refused(words: RegExp) {
  return (err: unknown) =>
    err instanceof TokenError && err.code === "TOKEN_NOT_AS_REQUESTED" && words.test(err.message);
}

Deno.test("checkIssuedToken() accepts the token asked for, or a narrower one", async () => {
  assert.deepEqual(checkIssuedToken(await token(), ASKED).authz, ["ADVERTISE_STARTD"]);
  // HTCondor's own tokens may live one second more than asked (two clock readings).
  checkIssuedToken(await token({ lifetime: 3601 }), ASKED);
  // READ is part of ADVERTISE_STARTD; a shorter life is less than asked, not more.
  checkIssuedToken(await token({ authz: ["READ"], lifetime: 60 }), ASKED);
  // Unrestricted was asked: any scope and life are within it.
  checkIssuedToken(await token({ authz: ["WRITE"], lifetime: undefined }), {
    ...ASKED,
    authz: [],
    lifetime: null,
  });
  // Without a known trust domain the issuer is not compared.
  checkIssuedToken(await token({ issuer: "other" }), { ...ASKED, trustDomain: undefined });
});

Deno.test("checkIssuedToken() refuses a token for another identity or from another issuer", async () => {
  assert.throws(
    () => checkIssuedToken("", ASKED),
    (err) => err instanceof TokenError && err.code === "TOKEN_MALFORMED",
  );
  const forged = await token({ identity: "attacker@evil", issuer: "evil" });
  assert.throws(
    () => checkIssuedToken(forged, ASKED),
    refused(/"attacker@evil", not the identity asked for/),
  );
  const evil = await token({ issuer: "evil" });
  assert.throws(
    () => checkIssuedToken(evil, ASKED),
    refused(/issuer "evil" is not the pool's trust domain "pool.example.org"/),
  );
  // A subject that merely looks the same is not the same.
  const lookalike = await token({ identity: "condor@pool.example.org\u200b" });
  assert.throws(() => checkIssuedToken(lookalike, ASKED), refused(/not the identity asked for/));
});

Deno.test("checkIssuedToken() refuses a token signed with another key than the one asked for (fetch -key)", async () => {
  const pool = await token();
  // No key asked: the daemon's own choice is taken.
  checkIssuedToken(pool, ASKED);
  checkIssuedToken(pool, { ...ASKED, key: "POOL" });
  assert.throws(
    () => checkIssuedToken(pool, { ...ASKED, key: "SITE" }),
    refused(/signed with key "POOL", not the key asked for \("SITE"\)/),
  );
});

Deno.test("checkIssuedToken() refuses more authorizations or a longer life than asked", () => {
  assert.throws(
    () => checkIssuedToken(pending.write, ASKED),
    refused(/scope grants "condor:\/WRITE", which was not asked for \(ADVERTISE_STARTD\)/),
  );
  assert.throws(
    () => checkIssuedToken(pending.unrestricted, ASKED),
    refused(/unrestricted, but only ADVERTISE_STARTD was asked for/),
  );
  assert.throws(
    () => checkIssuedToken(pending.longer, ASKED),
    refused(/lives 3602 s, longer than the 3600 s asked for/),
  );
  assert.throws(() => checkIssuedToken(pending.forever, ASKED), refused(/never expires/));
});

Deno.test("checkIssuedToken() refuses what is no compact JWT: extra lines could land in a token file", async () => {
  const good = await token();
  for (const bad of [good + "\n" + good, good + " ", `${good}.x`, "a.b", "x".repeat(20_000)]) {
    assert.throws(
      () => checkIssuedToken(bad, ASKED),
      (err) => err instanceof TokenError && err.code === "TOKEN_MALFORMED",
      JSON.stringify(bad.slice(0, 40)),
    );
  }
  // Another algorithm, or no key name, is no IDTOKEN.
  const [, payload, signature] = good.split(".");
  const header = (h: object) =>
    btoa(JSON.stringify(h)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  for (const h of [{ alg: "none", kid: "POOL" }, { alg: "HS256" }, { alg: "HS256", kid: "../x" }]) {
    assert.throws(
      () => checkIssuedToken(`${header(h)}.${payload}.${signature}`, ASKED),
      (err) => err instanceof TokenError && err.code === "TOKEN_MALFORMED",
      JSON.stringify(h),
    );
  }
});

const pending = {
  write: await token({ authz: ["WRITE"] }),
  unrestricted: await token({ authz: [] }),
  longer: await token({ lifetime: 3602 }),
  forever: await token({ lifetime: undefined }),
};
