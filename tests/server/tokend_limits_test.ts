/**
 * Rate limits, HTCondor's request knobs and token lifetimes, over HTTPS.
 * Bad input, health, metrics, info and the daemon directory are in
 * handler_test.ts.
 */
import assert from "node:assert/strict";
import { peerGroup } from "../../src/server/rules.ts";
import { RateLimiter } from "../../src/server/rate_limit.ts";
import { FakeClock, payloadOf } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

const LIST = "/v1/token-requests";

Deno.test("condor_tokend refuses new requests when SEC_ENABLE_TOKEN_REQUEST is false", async () => {
  await withDaemon({ extraConfig: "SEC_ENABLE_TOKEN_REQUEST = false" }, async ({ api }) => {
    const answer = await api.enqueue();
    assert.deepEqual([answer.status, answer.body.error.code, answer.body.error.message], [
      403,
      "TOKEN_REQUEST_DISABLED",
      "Token request disabled.",
    ]);
  });
});

Deno.test("condor_tokend applies SEC_TOKEN_REQUEST_LIMITS as HTCondor does", async () => {
  const extraConfig = "SEC_TOKEN_REQUEST_LIMITS = READ, ADVERTISE_STARTD";
  await withDaemon({ extraConfig }, async ({ daemon, api }) => {
    const trimmed = await api.enqueue({ authz: ["READ", "WRITE"] });
    assert.equal(trimmed.status, 201);
    const none = await api.enqueue({ authz: [] });
    const listed = await api.get(LIST, daemon.adminToken);
    const authzOf = (id: string) =>
      listed.body.requests.find((r: { requestId: string }) => r.requestId === id).authorizations;
    assert.deepEqual(authzOf(trimmed.body.requestId), ["READ"]);
    assert.deepEqual(authzOf(none.body.requestId), ["ADVERTISE_STARTD", "READ"]);
    const eliminated = await api.enqueue({ authz: ["WRITE", "ADMINISTRATOR"] });
    assert.deepEqual(
      [eliminated.status, eliminated.body.error.code, eliminated.body.error.message],
      [
        403,
        "AUTHZ_ELIMINATED",
        "All requested authorizations were eliminated by the SEC_TOKEN_REQUEST_LIMITS setting",
      ],
    );
  });
});

Deno.test("condor_tokend caps token lifetimes at SEC_ISSUED_TOKEN_EXPIRATION and uses it by default", async () => {
  await withDaemon(
    { extraConfig: "SEC_ISSUED_TOKEN_EXPIRATION = 300" },
    async ({ daemon, api }) => {
      const lifetimes: (number | null)[] = [];
      for (const lifetime of [600, null, 100]) {
        const { body, secret } = await api.enqueue({ lifetime });
        await api.post(`${LIST}/${body.requestId}/approve`, undefined, daemon.adminToken);
        const collected = await api.post(`${LIST}/${body.requestId}/collect`, {
          secret,
          waitSeconds: 0,
        });
        const claims = payloadOf(collected.body.token);
        lifetimes.push(Number(claims.exp) - Number(claims.iat));
      }
      assert.deepEqual(lifetimes, [300, 300, 100]);
    },
  );
});

Deno.test("condor_tokend issues tokens without expiry when none is asked and none is capped", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { body, secret } = await api.enqueue({ lifetime: null, authz: [] });
    await api.post(`${LIST}/${body.requestId}/approve`, undefined, daemon.adminToken);
    const collected = await api.post(`${LIST}/${body.requestId}/collect`, {
      secret,
      waitSeconds: 0,
    });
    const claims = payloadOf(collected.body.token);
    assert.equal(claims.exp, undefined);
    assert.equal(claims.scope, undefined);
  });
});

Deno.test("condor_tokend rate-limits enqueues per peer with TOKEND_RATE_LIMIT", async () => {
  const clock = new FakeClock();
  await withDaemon(
    { now: clock.now, extraConfig: "TOKEND_RATE_LIMIT = 3" },
    async ({ api }) => {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await api.enqueue()).status);
      assert.deepEqual(statuses, [201, 201, 201, 429]);
      const limited = await api.enqueue();
      assert.deepEqual([limited.body.error.code, limited.body.error.message], [
        "RATE_LIMITED",
        "Request rate limit hit.",
      ]);
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);
      clock.advance(20); // one call's worth of refill at 3 per minute
      assert.equal((await api.enqueue()).status, 201);
      assert.equal((await api.enqueue()).status, 429);
    },
  );
});

Deno.test("peerGroup() counts IPv4 peers by address and IPv6 peers by /64", () => {
  assert.equal(peerGroup("192.0.2.7"), "192.0.2.7");
  assert.equal(peerGroup("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(peerGroup("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(peerGroup("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
  assert.notEqual(peerGroup("2001:db8:1:3::1"), peerGroup("2001:db8:1:2::1"));
});

Deno.test("RateLimiter allows a minute's burst, then the limit's pace, per key", () => {
  const clock = new FakeClock();
  const limiter = new RateLimiter(6, clock.now);
  const taken = Array.from({ length: 7 }, () => limiter.take("a"));
  assert.deepEqual(taken.slice(0, 6), [0, 0, 0, 0, 0, 0]);
  assert.equal(taken[6], 10);
  assert.equal(limiter.take("b"), 0, "another peer has its own bucket");
  clock.advance(10);
  assert.equal(limiter.take("a"), 0);
  assert.equal(new RateLimiter(0, clock.now).take("a"), 0, "0 disables the limit");
});
