/**
 * The expiry sweep and the administrator's list: one commit per sweep, and
 * nothing announced before it is durable; a list never writes.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Metrics } from "../../src/server/metrics.ts";
import { TokenRequests } from "../../src/server/requests.ts";
import type { NewRequest } from "../../src/server/store/store.ts";
import { SqliteStore } from "../../src/server/store/sqlite/sqlite_store.ts";
import { Waiters } from "../../src/server/waiters.ts";
import { withTempDir } from "../_support/temp.ts";
import { FakeClock } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

const LIFETIME = 3600;

function pendingRow(id: string, now: number): NewRequest {
  return {
    id,
    secretHash: id.padStart(64, "0"),
    requestedIdentity: "condor@pool",
    authenticatedIdentity: "anonymous@ssl",
    peerLocation: "192.0.2.1",
    clientId: "c",
    authorizations: ["READ"],
    lifetime: 60,
    state: "pending",
    requestedAt: now,
    expiresAt: now + LIFETIME,
    decidedAt: null,
    decidedBy: null,
    reason: null,
    jti: null,
  };
}

Deno.test("sweep() expires all due requests in one transaction and logs only what has committed", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.sqlite`;
    const store = await SqliteStore.open(path);
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      const clock = new FakeClock();
      const now = Math.floor(clock.now() / 1000);
      const ids = Array.from({ length: 50 }, (_, i) => String(1_000_000 + i));
      await store.transaction(async (tx) => {
        for (const id of ids) await tx.insertRequest(pendingRow(id, now));
      });

      // What another connection sees when each line is logged: committed state only.
      const seenAtLog: string[] = [];
      const requests = new TokenRequests({
        store,
        waiters: new Waiters(),
        metrics: new Metrics(),
        settings: {
          trustDomain: "pool",
          issuerKey: "POOL",
          enableTokenRequest: true,
          enableTokenFetch: true,
          fetchAllowedKeys: [],
          requestLimits: [],
          issuedTokenExpiration: undefined,
          requestLifetime: LIFETIME,
          autoApproveMaxLifetime: LIFETIME,
          maxPending: 1000,
          maxPendingPerPeer: 10,
          breaker: { maxPerRule: 0, maxTotal: 0, interval: 600 },
        },
        keys: () => Promise.resolve(undefined),
        now: clock.now,
        log: (line) => {
          const id = /request=(\d{7})/.exec(line)?.[1];
          const row = reader.prepare("SELECT state FROM requests WHERE id = ?").get(id!);
          seenAtLog.push(String(row?.state));
        },
      });

      let transactions = 0;
      const transaction = store.transaction.bind(store);
      // deno-lint-ignore no-explicit-any
      store.transaction = ((fn: any, options: any) => {
        transactions++;
        return transaction(fn, options);
      }) as typeof store.transaction;
      clock.advance(LIFETIME + 1);
      assert.equal(await requests.sweep(), ids.length);
      assert.equal(transactions, 1);
      assert.deepEqual(seenAtLog, ids.map(() => "expired"));
      assert.equal(await requests.sweep(), 0);
    } finally {
      reader.close();
      await store.close();
    }
  });
});

Deno.test("list() hides requests past their deadline without expiring them", async () => {
  const clock = new FakeClock();
  const config = "SEC_TOKEN_REQUEST_LIFETIME = 60";
  await withDaemon({ now: clock.now, extraConfig: config }, async ({ daemon, api }) => {
    await api.enqueue();
    const before = await api.get("/v1/token-requests", daemon.adminToken);
    assert.equal(before.body.requests.length, 1);
    clock.advance(61);
    const after = await api.get("/v1/token-requests", daemon.adminToken);
    assert.deepEqual(after.body.requests, []);
    // The list left the expiry to the sweep.
    assert.equal(await daemon.sweep(), 1);
  });
});
