/**
 * GET /v1/token-requests?watch=1, the long poll behind
 * condor_token_request_approve -watch, against real in-process daemons over
 * HTTPS: it answers at once without a cursor, as soon as a request arrives
 * with one (also one that arrives at another daemon on the same PostgreSQL
 * database), at the end of its wait otherwise; administrators only, and
 * only so many at once.
 */
import assert from "node:assert/strict";
import { MAX_WATCHERS } from "../../src/api/protocol.ts";
import { startTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

const WATCH = "/v1/token-requests?watch=1";

Deno.test("condor_tokend watch: at once without a cursor, at the next request with one, at the wait's end otherwise", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const first = await api.get(WATCH, daemon.adminToken);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body.requests, []);
    assert.match(first.body.cursor, /^[0-9a-f]{32}$/);

    // Nothing changes: the answer comes when the wait ends, with the same cursor.
    const started = performance.now();
    const idle = await api.get(`${WATCH}&after=${first.body.cursor}&wait=1`, daemon.adminToken);
    const idleMs = performance.now() - started;
    assert.equal(idle.body.cursor, first.body.cursor);
    assert.ok(idleMs >= 900 && idleMs < 5_000, `${idleMs} ms`);

    // A request arrives while an administrator watches: the answer comes at once.
    const watching = api.get(`${WATCH}&after=${first.body.cursor}&wait=30`, daemon.adminToken);
    await new Promise((r) => setTimeout(r, 200));
    const arrived = performance.now();
    const enqueued = await api.enqueue({ identity: "alice@tokend-test.example.org" });
    const woke = await watching;
    const latency = performance.now() - arrived;
    assert.ok(latency < 2_000, `new request -> watch answer: ${latency} ms`);
    assert.deepEqual(woke.body.requests.map((r: { requestId: string }) => r.requestId), [
      enqueued.body.requestId,
    ]);
    assert.notEqual(woke.body.cursor, first.body.cursor);

    // A cursor for another set answers at once with the current one.
    const stale = await api.get(`${WATCH}&after=${first.body.cursor}&wait=30`, daemon.adminToken);
    assert.equal(stale.body.cursor, woke.body.cursor);

    for (
      const [query, code] of [
        ["&after=nonsense", "BAD_QUERY"],
        ["&wait=-1", "BAD_QUERY"],
      ]
    ) {
      const bad = await api.get(`${WATCH}${query}`, daemon.adminToken);
      assert.deepEqual([bad.status, bad.body.error.code], [400, code]);
    }
    const user = await daemon.mintToken("alice@tokend-test.example.org", [], 600);
    const refused = await api.get(WATCH, user);
    assert.deepEqual([refused.status, refused.body.error.code], [403, "NOT_AUTHORIZED"]);
    const anonymous = await api.get(WATCH);
    assert.equal(anonymous.status, 401);
  });
});

Deno.test("condor_tokend watch: at most MAX_WATCHERS at once; the next is told to come back", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { cursor } = (await api.get(WATCH, daemon.adminToken)).body;
    const watches = Array.from(
      { length: MAX_WATCHERS },
      () => api.get(`${WATCH}&after=${cursor}&wait=30`, daemon.adminToken),
    );
    await new Promise((r) => setTimeout(r, 500));
    const over = await api.get(`${WATCH}&after=${cursor}&wait=30`, daemon.adminToken);
    assert.deepEqual([over.status, over.body.error.code], [503, "TOO_MANY_WATCHERS"]);
    assert.equal(over.headers.get("retry-after"), "10");
    // A request wakes them all; then there is room again.
    await api.enqueue({ identity: "alice@tokend-test.example.org" });
    for (const watch of await Promise.all(watches)) assert.equal(watch.body.requests.length, 1);
    const again = await api.get(WATCH, daemon.adminToken);
    assert.equal(again.status, 200);
  });
});

Deno.test("condor_tokend watch on one PostgreSQL database: a request enqueued on B wakes a watch on A at once", async () => {
  await withTestDatabase(async (url) => {
    await withTempDir(async (dir) => {
      const config = `TOKEND_DATABASE = ${url}\n`;
      const a = await startTestDaemon({ dir: `${dir}/a`, extraConfig: config });
      try {
        await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
        await Deno.copyFile(
          testDaemonPaths(`${dir}/a`).poolKeyFile,
          testDaemonPaths(`${dir}/b`).poolKeyFile,
        );
        const b = await startTestDaemon({ dir: `${dir}/b`, extraConfig: config });
        const apiA = apiFor(a);
        const apiB = apiFor(b);
        try {
          const { cursor } = (await apiA.get(WATCH, a.adminToken)).body;
          const watching = apiA.get(`${WATCH}&after=${cursor}&wait=30`, a.adminToken);
          await new Promise((r) => setTimeout(r, 200));
          const arrived = performance.now();
          const enqueued = await apiB.enqueue({ identity: "alice@tokend-test.example.org" });
          const woke = await watching;
          const latency = performance.now() - arrived;
          assert.ok(latency < 2_000, `enqueue on B -> watch answer on A: ${latency} ms`);
          assert.deepEqual(woke.body.requests.map((r: { requestId: string }) => r.requestId), [
            enqueued.body.requestId,
          ]);
        } finally {
          apiA.close();
          apiB.close();
          await b.close();
        }
      } finally {
        await a.close();
      }
    });
  });
});
