/**
 * Authentication and authorization over HTTPS: bearer IDTOKENS (forged,
 * expired, wrong issuer, alg:none, unknown kid refused), administrators from
 * ALLOW_ADMINISTRATOR and condor@TRUST_DOMAIN, self-approval within the
 * caller's own scope and lifetime, and condor_token_fetch's server side.
 */
import assert from "node:assert/strict";
import { mintToken, signCompact } from "../../src/token/idtoken.ts";
import { readSigningKey, signingKeyFromFileBytes } from "../../src/token/signing_key.ts";
import { TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { payloadOf } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

const LIST = "/v1/token-requests";
const ALICE = `alice@${TEST_TRUST_DOMAIN}`;
const BOB = `bob@${TEST_TRUST_DOMAIN}`;

function b64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

Deno.test("condor_tokend refuses forged, expired, foreign, alg:none and unknown-key tokens", async () => {
  await withDaemon({}, async ({ daemon, api, dir }) => {
    const paths = testDaemonPaths(dir);
    const now = Math.floor(Date.now() / 1000);
    const good = await daemon.mintToken(ALICE);
    const [h, p, s] = good.split(".");
    const otherKey = await signingKeyFromFileBytes(
      "POOL",
      crypto.getRandomValues(new Uint8Array(64)),
      { isPool: true },
    );
    const poolKey = await readSigningKey("POOL", {
      poolKeyFile: paths.poolKeyFile,
      passwordDirectory: paths.passwordDirectory,
    });
    const namedKey = await signingKeyFromFileBytes("SITEKEY", new Uint8Array(64), {
      isPool: false,
    });
    const payload = JSON.stringify({
      iat: now,
      iss: TEST_TRUST_DOMAIN,
      jti: "0".repeat(32),
      sub: ALICE,
    });
    const cases: [string, string, string][] = [
      [
        "flipped signature",
        `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`,
        "TOKEN_BAD_SIGNATURE",
      ],
      [
        "tampered payload",
        `${h}.${b64url(payload.replace("alice", "admin"))}.${s}`,
        "TOKEN_BAD_SIGNATURE",
      ],
      [
        "another pool's key",
        (await mintToken(otherKey, { identity: ALICE, issuer: TEST_TRUST_DOMAIN, now })).token,
        "TOKEN_BAD_SIGNATURE",
      ],
      [
        "expired",
        (await mintToken(poolKey, {
          identity: ALICE,
          issuer: TEST_TRUST_DOMAIN,
          now: now - 100,
          lifetime: 50,
        }))
          .token,
        "TOKEN_EXPIRED",
      ],
      [
        "wrong issuer",
        (await mintToken(poolKey, { identity: ALICE, issuer: "other.example.org", now })).token,
        "TOKEN_WRONG_ISSUER",
      ],
      ["alg none", `${b64url('{"alg":"none","kid":"POOL"}')}.${b64url(payload)}.`, "TOKEN_BAD_ALG"],
      [
        "alg HS512",
        `${b64url('{"alg":"HS512","kid":"POOL"}')}.${b64url(payload)}.${s}`,
        "TOKEN_BAD_ALG",
      ],
      ["no kid", `${b64url('{"alg":"HS256"}')}.${b64url(payload)}.${s}`, "TOKEN_NO_KID"],
      ["unknown kid", await signCompact(namedKey, payload), "TOKEN_UNKNOWN_KEY"],
      [
        "path kid",
        `${b64url('{"alg":"HS256","kid":"../POOL"}')}.${b64url(payload)}.${s}`,
        "TOKEN_UNKNOWN_KEY",
      ],
      ["not a token", "not-a-token", "TOKEN_MALFORMED"],
    ];
    const enqueueBody = {
      identity: ALICE,
      authz: [],
      lifetime: null,
      clientId: "c",
      secret: "s".repeat(43),
    };
    for (const [name, token, code] of cases) {
      const listed = await api.get(LIST, token);
      // A bad token on a call anonymous callers may make is refused, not ignored.
      const enqueued = await api.call("POST", LIST, { token, body: enqueueBody });
      for (const answer of [listed, enqueued]) {
        assert.equal(answer.status, 401, name);
        assert.equal(answer.body.error.code, code, name);
        assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="condor_tokend"');
        assert.ok(!answer.body.error.message.includes(token), name);
      }
    }
    const wrongScheme = await fetchWithHeader(daemon, "Basic YWxpY2U6cHc=");
    assert.deepEqual([wrongScheme.status, wrongScheme.code], [401, "AUTH_SCHEME"]);
  });
});

async function fetchWithHeader(daemon: { url: string; certPem: string }, authorization: string) {
  const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
  try {
    const response = await fetch(daemon.url + LIST, { headers: { authorization }, client });
    return { status: response.status, code: (await response.json()).error.code };
  } finally {
    client.close();
  }
}

Deno.test("condor_tokend shows administrators every request and others only their own", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const forAlice = await api.enqueue({ identity: ALICE, authz: ["READ"] });
    const forBob = await api.enqueue({ identity: BOB, authz: ["READ"] });
    const ids = (answer: { body: { requests: { requestId: string }[] } }) =>
      answer.body.requests.map((r) => r.requestId).sort();
    const all = [forAlice.body.requestId, forBob.body.requestId].sort();
    assert.deepEqual(ids(await api.get(LIST, daemon.adminToken)), all);
    const condor = await daemon.mintToken(`condor@${TEST_TRUST_DOMAIN}`);
    assert.deepEqual(ids(await api.get(LIST, condor)), all);
    assert.deepEqual(ids(await api.get(LIST, await daemon.mintToken(ALICE))), [
      forAlice.body.requestId,
    ]);
    // An administrator's token scoped without ADMINISTRATOR is just a user.
    const narrowAdmin = await daemon.mintToken(`admin@${TEST_TRUST_DOMAIN}`, ["READ"]);
    assert.deepEqual(ids(await api.get(LIST, narrowAdmin)), []);
    const byId = await api.get(`${LIST}?reqid=${forBob.body.requestId}`, daemon.adminToken);
    assert.deepEqual(ids(byId), [forBob.body.requestId]);
    const badId = await api.get(`${LIST}?reqid=12x`, daemon.adminToken);
    assert.deepEqual([badId.status, badId.body.error.message], [
      400,
      "Unable to convert request ID to integer.",
    ]);
    const anonymous = await api.get(LIST);
    assert.deepEqual([anonymous.status, anonymous.body.error.code], [401, "NOT_AUTHENTICATED"]);
  });
});

Deno.test("condor_tokend honours ALLOW_ADMINISTRATOR patterns for token identities", async () => {
  const extraConfig = [
    "ALLOW_ADMINISTRATOR = *@admins.example.org, carol@*/127.0.0.1, dave@*/192.0.2.0/24, \\",
    "  erin@*/*, $(FULL_HOSTNAME), 127.0.0.1, condor@tokend-test.example.org/127.0.0.0/8",
  ].join("\n");
  await withDaemon({ extraConfig }, async ({ daemon, api }) => {
    const request = await api.enqueue({ identity: BOB });
    const sees = async (identity: string) =>
      (await api.get(LIST, await daemon.mintToken(identity))).body.requests.length === 1;
    assert.equal(await sees("Zed@Admins.Example.org"), true);
    assert.equal(await sees("carol@anywhere.example.org"), true);
    assert.equal(await sees("dave@anywhere.example.org"), false);
    assert.equal(await sees("erin@elsewhere"), true);
    assert.equal(await sees("condor_pool@tokend-test.example.org"), true);
    assert.equal(await sees("frank@tokend-test.example.org"), false);
    assert.equal(await sees(BOB), true, "bob sees his own request");
    const approve = await api.post(
      `${LIST}/${request.body.requestId}/approve`,
      undefined,
      await daemon.mintToken("zed@admins.example.org"),
    );
    assert.equal(approve.body.state, "approved");
  });
});

Deno.test("condor_tokend lets a user approve only their own identity within their token", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const approve = async (id: string, token: string) =>
      await api.post(`${LIST}/${id}/approve`, undefined, token);
    const alice = await daemon.mintToken(ALICE);
    const bobs = await api.enqueue({ identity: BOB, authz: ["READ"] });
    const other = await approve(bobs.body.requestId, alice);
    assert.deepEqual([other.status, other.body.error.code, other.body.error.message], [
      403,
      "NOT_AUTHORIZED",
      "Insufficient privilege to approve request.",
    ]);
    const denyOther = await api.post(`${LIST}/${bobs.body.requestId}/deny`, {}, alice);
    assert.deepEqual([denyOther.status, denyOther.body.error.code, denyOther.body.error.message], [
      403,
      "NOT_AUTHORIZED",
      "Insufficient privilege to deny request.",
    ]);

    const own = await api.enqueue({ identity: ALICE, authz: ["READ", "WRITE"], lifetime: null });
    assert.equal((await approve(own.body.requestId, alice)).body.state, "approved");

    const readOnly = await daemon.mintToken(ALICE, ["READ"]);
    const wider = await api.enqueue({ identity: ALICE, authz: ["READ", "WRITE"] });
    const unrestricted = await api.enqueue({ identity: ALICE, authz: [] });
    for (const id of [wider.body.requestId, unrestricted.body.requestId]) {
      const refused = await approve(id, readOnly);
      assert.deepEqual([refused.status, refused.body.error.code, refused.body.error.message], [
        403,
        "SCOPE_RESTRICTED",
        "Insufficient privilege to approve request (scope restricted).",
      ]);
    }
    const within = await api.enqueue({ identity: ALICE, authz: ["READ"], lifetime: 300 });
    assert.equal((await approve(within.body.requestId, readOnly)).body.state, "approved");

    const shortLived = await daemon.mintToken(ALICE, [], 600);
    const tooLong = await api.enqueue({ identity: ALICE, authz: ["READ"], lifetime: 900 });
    const forever = await api.enqueue({ identity: ALICE, authz: ["READ"], lifetime: null });
    for (const id of [tooLong.body.requestId, forever.body.requestId]) {
      const refused = await approve(id, shortLived);
      assert.deepEqual([refused.status, refused.body.error.message], [
        403,
        "Insufficient privilege to approve request (lifetime).",
      ]);
    }
    const fits = await api.enqueue({ identity: ALICE, authz: ["READ"], lifetime: 300 });
    assert.equal((await approve(fits.body.requestId, shortLived)).body.state, "approved");

    const anonymous = await api.post(`${LIST}/${fits.body.requestId}/approve`);
    assert.equal(anonymous.status, 401);
    const unknown = await approve(
      fits.body.requestId === "9999999" ? "9999998" : "9999999",
      daemon.adminToken,
    );
    assert.deepEqual([unknown.status, unknown.body.error.message], [404, "Request unknown."]);
  });
});

Deno.test("condor_tokend fetches a token for the caller's own identity, never broader", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const fetchToken = async (body: unknown, token?: string) =>
      await api.post("/v1/tokens", body, token);
    const anonymous = await fetchToken({ authz: [], lifetime: null });
    assert.deepEqual([anonymous.status, anonymous.body.error.message], [
      401,
      "Server did not successfully authenticate session.",
    ]);

    const alice = await daemon.mintToken(ALICE);
    const free = await fetchToken({ authz: ["READ"], lifetime: 100 }, alice);
    assert.equal(free.status, 200);
    const claims = payloadOf(free.body.token);
    assert.deepEqual([claims.sub, claims.scope, Number(claims.exp) - Number(claims.iat)], [
      ALICE,
      "condor:/READ",
      100,
    ]);

    const narrow = await daemon.mintToken(ALICE, ["READ", "WRITE"], 600);
    const inherited = payloadOf(
      (await fetchToken({ authz: [], lifetime: null }, narrow)).body.token,
    );
    assert.equal(inherited.scope, "condor:/READ condor:/WRITE");
    assert.ok(Number(inherited.exp) - Number(inherited.iat) <= 600);
    const trimmed = payloadOf(
      (await fetchToken({ authz: ["READ", "ADMINISTRATOR"], lifetime: 100_000 }, narrow)).body
        .token,
    );
    assert.equal(trimmed.scope, "condor:/READ");
    assert.ok(Number(trimmed.exp) - Number(trimmed.iat) <= 600);
    const broader = await fetchToken({ authz: ["ADMINISTRATOR"], lifetime: null }, narrow);
    assert.deepEqual([broader.status, broader.body.error.message], [
      403,
      "Session doesn't allow requested authorization levels.",
    ]);
    const otherKey = await fetchToken({ authz: [], lifetime: null, key: "SITEKEY" }, alice);
    assert.deepEqual([otherKey.status, otherKey.body.error.message], [
      403,
      "Server will not sign with requested key.",
    ]);
  });
});

Deno.test("condor_tokend refuses token fetch when SEC_ENABLE_TOKEN_FETCH is false", async () => {
  await withDaemon({ extraConfig: "SEC_ENABLE_TOKEN_FETCH = false" }, async ({ daemon, api }) => {
    const answer = await api.post("/v1/tokens", { authz: [], lifetime: null }, daemon.adminToken);
    assert.deepEqual([answer.status, answer.body.error.message], [403, "Token fetch disabled."]);
  });
});
