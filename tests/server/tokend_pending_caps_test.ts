/**
 * The caps on requests waiting for a decision: TOKEND_MAX_PENDING_REQUESTS
 * for the whole daemon and TOKEND_MAX_PENDING_PER_PEER per peer address, so
 * that one address cannot fill the queue and lock everyone else out. The
 * per-peer logic is driven through the handler with chosen peer addresses
 * (IPv4, IPv4-mapped, IPv6); both caps are then hit through the real daemon
 * from several loopback addresses.
 */
import assert from "node:assert/strict";
import { type Answer, type Api, apiFor, newSecret } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";
import type { TestDaemon } from "../_support/daemon.ts";

const LIST = "/v1/token-requests";
const RULES = "/v1/auto-approval-rules";
const IDENTITY = "condor@tokend-test.example.org";

/** Calls the daemon's handler as if from `peer`. */
async function callAs(
  daemon: TestDaemon,
  peer: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<Answer> {
  const response = await daemon.handler(
    new Request(`https://127.0.0.1${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }),
    { remoteAddr: { transport: "tcp", hostname: peer, port: 40000 } },
  );
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** A request no auto-approval rule can match (READ), or one it can (ADVERTISE_STARTD). */
function request(secret = newSecret(), authz = ["READ"]) {
  return { identity: IDENTITY, authz, lifetime: 600, clientId: "caps", secret };
}

Deno.test("condor_tokend caps the undecided requests of one peer address with TOKEND_MAX_PENDING_PER_PEER", async () => {
  await withDaemon({ extraConfig: "TOKEND_MAX_PENDING_PER_PEER = 3" }, async ({ daemon }) => {
    const statuses = async (peer: string, n: number) => {
      const answers = [];
      for (let i = 0; i < n; i++) answers.push(await callAs(daemon, peer, LIST, request()));
      return answers;
    };
    const first = await statuses("192.0.2.1", 4);
    assert.deepEqual(first.map((a) => a.status), [201, 201, 201, 429]);
    const refused = first[3];
    assert.equal(refused.body.error.code, "TOO_MANY_PENDING_FROM_PEER");
    assert.match(refused.body.error.message, /TOKEND_MAX_PENDING_PER_PEER/);
    assert.match(refused.body.error.message, /\b3 requests\b/);
    assert.ok(Number(refused.headers.get("retry-after")) > 0);

    // The same address written as IPv4-mapped IPv6 is the same peer.
    assert.equal((await callAs(daemon, "::ffff:192.0.2.1", LIST, request())).status, 429);
    // Another address is served.
    assert.deepEqual((await statuses("192.0.2.2", 3)).map((a) => a.status), [201, 201, 201]);
    // One IPv6 host holds a /64: its addresses count together, another /64 apart.
    assert.deepEqual(
      [
        ...await statuses("2001:db8:0:1::1", 2),
        ...await statuses("2001:db8:0:1::2", 2),
        ...await statuses("2001:db8:0:2::1", 1),
      ].map((a) => a.status),
      [201, 201, 201, 429, 201],
    );
  });
});

Deno.test("condor_tokend holds the per-peer cap when one peer's enqueues share a commit", async () => {
  await withDaemon({ extraConfig: "TOKEND_MAX_PENDING_PER_PEER = 3" }, async ({ daemon }) => {
    // Sent at once, these are written in one shared transaction.
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => callAs(daemon, "198.51.100.4", LIST, request())),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, 201, 201, ...Array(9).fill(429)]);
  });
});

Deno.test("condor_tokend answers a repeated enqueue at the per-peer cap with the same request", async () => {
  await withDaemon({ extraConfig: "TOKEND_MAX_PENDING_PER_PEER = 2" }, async ({ daemon }) => {
    const secrets = [newSecret(), newSecret()];
    const ids = [];
    for (const secret of secrets) {
      const answer = await callAs(daemon, "192.0.2.7", LIST, request(secret));
      assert.equal(answer.status, 201);
      ids.push(answer.body.requestId);
    }
    assert.equal((await callAs(daemon, "192.0.2.7", LIST, request())).status, 429);
    const repeat = await callAs(daemon, "192.0.2.7", LIST, request(secrets[1]));
    assert.deepEqual([repeat.status, repeat.body.requestId], [200, ids[1]]);

    // A decision frees a place.
    const denied = await callAs(
      daemon,
      "127.0.0.1",
      `${LIST}/${ids[0]}/deny`,
      {},
      daemon.adminToken,
    );
    assert.equal(denied.status, 200);
    assert.equal((await callAs(daemon, "192.0.2.7", LIST, request())).status, 201);
    assert.equal((await callAs(daemon, "192.0.2.7", LIST, request())).status, 429);
  });
});

Deno.test("condor_tokend issues auto-approved requests even when the peer's queue is full", async () => {
  await withDaemon({ extraConfig: "TOKEND_MAX_PENDING_PER_PEER = 2" }, async ({ daemon }) => {
    for (const expected of [201, 201, 429]) {
      assert.equal((await callAs(daemon, "192.0.2.9", LIST, request())).status, expected);
    }
    const rule = await callAs(
      daemon,
      "127.0.0.1",
      RULES,
      { netblock: "192.0.2.0/24", lifetime: 600 },
      daemon.adminToken,
    );
    assert.equal(rule.status, 200);
    const auto = await callAs(
      daemon,
      "192.0.2.9",
      LIST,
      request(newSecret(), ["ADVERTISE_STARTD"]),
    );
    assert.deepEqual([auto.status, auto.body.state, typeof auto.body.token], [
      201,
      "collected",
      "string",
    ]);
    // What the rule does not decide still waits, and still counts.
    assert.equal((await callAs(daemon, "192.0.2.9", LIST, request())).status, 429);
  });
});

Deno.test("condor_tokend keeps serving other loopback addresses when one fills its share, and caps the total", async () => {
  const extraConfig = "TOKEND_MAX_PENDING_PER_PEER = 2\nTOKEND_MAX_PENDING_REQUESTS = 5";
  await withDaemon({ extraConfig }, async ({ daemon, api: admin }) => {
    const peers = new Map<string, Api>();
    const from = (address: string) => {
      let api = peers.get(address);
      if (!api) {
        api = apiFor(daemon, { localAddress: address });
        peers.set(address, api);
      }
      return api;
    };
    try {
      const statuses = async (address: string, n: number) => {
        const result = [];
        for (let i = 0; i < n; i++) {
          result.push((await from(address).enqueue({ authz: ["READ"] })).status);
        }
        return result;
      };
      // One address gets its share and no more; the next one is still served.
      assert.deepEqual(await statuses("127.0.0.2", 3), [201, 201, 429]);
      assert.deepEqual(await statuses("127.0.0.3", 2), [201, 201]);
      assert.deepEqual(await statuses("127.0.0.4", 1), [201]);
      const listed = await admin.get(LIST, daemon.adminToken);
      assert.deepEqual(
        listed.body.requests.map((r: { peerLocation: string }) => r.peerLocation),
        ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.4"],
      );

      // Five in all is TOKEND_MAX_PENDING_REQUESTS: the whole daemon is full.
      const full = await from("127.0.0.5").enqueue({ authz: ["READ"] });
      assert.deepEqual([full.status, full.body.error.code, full.body.error.message], [
        503,
        "TOO_MANY_REQUESTS",
        "Too many requests in the system.",
      ]);
      const metrics = await admin.get("/metrics");
      assert.match(metrics.body, /^condor_tokend_pending_requests 5$/m);
      assert.match(
        metrics.body,
        /^condor_tokend_rejected_calls_total\{code="TOO_MANY_REQUESTS"\} 1$/m,
      );
      assert.match(
        metrics.body,
        /^condor_tokend_rejected_calls_total\{code="TOO_MANY_PENDING_FROM_PEER"\} 1$/m,
      );

      // A request an auto-approval rule decides at once never waits: it is issued.
      const rule = await admin.post(
        RULES,
        { netblock: "127.0.0.0/8", lifetime: 600 },
        daemon.adminToken,
      );
      assert.deepEqual([rule.status, rule.body.approved], [200, []]);
      const auto = await from("127.0.0.6").enqueue({ authz: ["ADVERTISE_STARTD"] });
      assert.deepEqual([auto.status, auto.body.state, typeof auto.body.token], [
        201,
        "collected",
        "string",
      ]);

      // Deciding one frees a place.
      const first = listed.body.requests[0].requestId;
      assert.equal(
        (await admin.post(`${LIST}/${first}/deny`, {}, daemon.adminToken)).status,
        200,
      );
      assert.equal((await from("127.0.0.5").enqueue({ authz: ["READ"] })).status, 201);
    } finally {
      for (const api of peers.values()) api.close();
    }
  });
});
