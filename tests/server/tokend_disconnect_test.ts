/**
 * A requester that disconnects during a long poll must not lose its token:
 * against a real in-process daemon over HTTPS on a loopback port.
 */
import assert from "node:assert/strict";
import type { Api } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

/** The daemon's count of long polls in progress, from /metrics. */
async function waitingPolls(api: Api): Promise<number> {
  const metrics = await api.get("/metrics");
  const match = /^condor_tokend_waiting_polls (\d+)$/m.exec(metrics.body);
  assert.ok(match, "condor_tokend_waiting_polls missing from /metrics");
  return Number(match[1]);
}

/** Polls /metrics until `want` long polls are waiting, or `ms` passed; returns the last count. */
async function settleWaiting(api: Api, want: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let count = await waitingPolls(api);
  while (count !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    count = await waitingPolls(api);
  }
  return count;
}

Deno.test("collect() keeps the token for the next collect when the long-polling requester disconnects", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const enqueued = await api.enqueue();
    const id = enqueued.body.requestId;

    // A long poll on its own connection, then the requester goes away.
    const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
    const gone = new AbortController();
    try {
      const poll = fetch(`${daemon.url}/v1/token-requests/${id}/collect`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ secret: enqueued.secret, waitSeconds: 30 }),
        client,
        signal: gone.signal,
      });
      assert.equal(await settleWaiting(api, 1, 5_000), 1);
      gone.abort();
      await assert.rejects(poll);
      // Give the daemon time to see the disconnect; without req.signal it never does.
      await settleWaiting(api, 0, 2_000);
    } finally {
      client.close();
    }

    const approved = await api.post(
      `/v1/token-requests/${id}/approve`,
      undefined,
      daemon.adminToken,
    );
    assert.equal(approved.body.state, "approved");
    // Let a dead poll, if one was still waiting, act on the approval first.
    await new Promise((r) => setTimeout(r, 200));

    const back = await api.post(`/v1/token-requests/${id}/collect`, {
      secret: enqueued.secret,
      waitSeconds: 0,
    });
    assert.equal(back.status, 200);
    assert.equal(back.body.state, "collected");
    assert.equal(typeof back.body.token, "string");
  });
});

Deno.test("collect() issues no token when the requester goes away while the token is being minted", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const enqueued = await api.enqueue();
    const id = enqueued.body.requestId;
    const remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
    const gone = new AbortController();
    const poll = daemon.handler(
      new Request(`https://127.0.0.1/v1/token-requests/${id}/collect`, {
        method: "POST",
        body: JSON.stringify({ secret: enqueued.secret, waitSeconds: 30 }),
        signal: gone.signal,
      }),
      { remoteAddr },
    );
    assert.equal(await settleWaiting(api, 1, 5_000), 1);

    const approved = await daemon.handler(
      new Request(`https://127.0.0.1/v1/token-requests/${id}/approve`, {
        method: "POST",
        headers: { authorization: `Bearer ${daemon.adminToken}` },
      }),
      { remoteAddr },
    );
    assert.equal((await approved.json()).state, "approved");
    // The approval woke the poll, which is now signing (an asynchronous
    // Web Crypto call): the requester disconnects before it finishes.
    gone.abort();
    const answer = await (await poll).json();
    assert.equal(answer.token, undefined);

    const back = await api.post(`/v1/token-requests/${id}/collect`, {
      secret: enqueued.secret,
      waitSeconds: 0,
    });
    assert.equal(back.body.state, "collected");
    assert.equal(typeof back.body.token, "string");
  });
});
