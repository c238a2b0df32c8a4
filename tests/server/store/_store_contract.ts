/**
 * One contract for every store engine, run against each (as hono runs its
 * shared router tests against every router): what requests.ts relies on,
 * stated once. sqlite_store_test.ts and postgres_store_test.ts call
 * {@link storeContract} with a way to open a fresh, empty store.
 */
import assert from "node:assert/strict";
import type { NewRequest, Store } from "../../../src/server/store/store.ts";
import { StoreError } from "../../../src/server/store/store.ts";

/** A fresh empty store and how to dispose of it. */
export interface OpenedStore {
  store: Store;
  /** Closes the store and removes what it was kept in. */
  dispose(): Promise<void>;
}

/** A request row with test defaults. */
export function requestRow(overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    id: "1234567",
    secretHash: "a".repeat(64),
    requestedIdentity: "condor@pool",
    authenticatedIdentity: "anonymous@ssl",
    peerLocation: "192.0.2.1",
    clientId: "c",
    authorizations: ["READ"],
    lifetime: 60,
    state: "pending",
    requestedAt: 1000,
    expiresAt: 4600,
    decidedAt: null,
    decidedBy: null,
    reason: null,
    jti: null,
    ...overrides,
  };
}

/** Registers the contract's tests for one engine. */
export function storeContract(
  engine: string,
  open: () => Promise<OpenedStore>,
  options: { ignore?: boolean } = {},
): void {
  const test = (name: string, fn: (store: Store) => Promise<void>) =>
    Deno.test({
      name: `${engine} store ${name}`,
      ignore: options.ignore,
      fn: async () => {
        const { store, dispose } = await open();
        try {
          await fn(store);
        } finally {
          await dispose();
        }
      },
    });

  test("keeps live request ids and secrets unique and guards transitions", async (store) => {
    const first = await store.transaction((tx) => tx.insertRequest(requestRow()));
    await assert.rejects(
      store.transaction((tx) => tx.insertRequest(requestRow({ secretHash: "b".repeat(64) }))),
      "a second live request with the same id",
    );
    await assert.rejects(
      store.transaction((tx) => tx.insertRequest(requestRow({ id: "7654321" }))),
      "a second live request with the same secret",
    );
    const move = (from: "pending" | "approved", to: "approved" | "collected", jti?: string) =>
      store.transaction((tx) => tx.transition(first.seq, [from], to, jti ? { jti } : {}));
    assert.equal(await move("pending", "approved"), true);
    assert.equal(await move("approved", "collected", "j"), true);
    assert.equal(await move("approved", "collected", "k"), false, "only once");
    assert.equal((await store.bySeq(first.seq))?.jti, "j");
    // A finished request frees its id for a new live one.
    const second = await store.transaction((tx) =>
      tx.insertRequest(requestRow({ secretHash: "c".repeat(64) }))
    );
    assert.notEqual(second.seq, first.seq);
    assert.equal((await store.byId("1234567"))?.seq, second.seq, "the live one wins");
    assert.equal(await store.isLiveId("1234567"), true);
    assert.equal((await store.liveBySecret("c".repeat(64)))?.seq, second.seq);
    assert.equal(await store.liveBySecret("a".repeat(64)), undefined, "collected is not live");
    assert.equal(await store.countLive(), 1);
  });

  test("keeps every field of a request as it was given", async (store) => {
    const given = requestRow({
      requestedIdentity: "jörg@example.org",
      authorizations: ["ADVERTISE_STARTD", "READ"],
      lifetime: null,
      peerLocation: "2001:db8::7",
    });
    const stored = await store.transaction((tx) => tx.insertRequest(given));
    assert.deepEqual(await store.bySeq(stored.seq), { ...given, seq: stored.seq });
    await store.transaction((tx) =>
      tx.transition(stored.seq, ["pending"], "denied", {
        decidedAt: 1100,
        decidedBy: "admin@pool",
        reason: "no",
      })
    );
    const denied = await store.byId(given.id);
    assert.deepEqual(
      [denied?.state, denied?.decidedAt, denied?.decidedBy, denied?.reason, denied?.expiresAt],
      ["denied", 1100, "admin@pool", "no", 4600],
    );
  });

  test("rolls back a failed transaction entirely", async (store) => {
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.insertRequest(requestRow());
        await tx.appendAudit({ at: 1, event: "enqueue", requestId: "1234567" });
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(await store.countLive(), 0);
    assert.deepEqual(await store.auditTrail(), []);
    assert.equal(await store.isLiveId("1234567"), false);
  });

  test("undoes only the transaction that fails among concurrent ones", async (store) => {
    const first = store.transaction(async (tx) =>
      (await tx.insertRequest(requestRow({ id: "0000001" }))).id
    );
    const failing = store.transaction(async (tx) => {
      await tx.insertRequest(requestRow({ id: "0000002", secretHash: "b".repeat(64) }));
      throw new Error("refused");
    });
    const refused = assert.rejects(failing, /refused/);
    const third = store.transaction(async (tx) =>
      (await tx.insertRequest(requestRow({ id: "0000003", secretHash: "c".repeat(64) }))).id
    );
    assert.deepEqual(await Promise.all([first, third]), ["0000001", "0000003"]);
    await refused;
    assert.equal(await store.isLiveId("0000002"), false);
    assert.equal(await store.countLive(), 2);
  });

  test("counts live requests through inserts, transitions and rollbacks", async (store) => {
    const insert = (id: string, i: number, state: NewRequest["state"] = "pending") =>
      store.transaction(async (tx) =>
        (await tx.insertRequest(requestRow({ id, state, secretHash: String(i).repeat(64) }))).seq
      );
    const live = async () => (await store.liveDue(Number.MAX_SAFE_INTEGER)).length;
    assert.equal(await store.countLive(), 0);
    const seqs = [
      await insert("0000001", 1),
      await insert("0000002", 2),
      await insert("0000003", 3),
    ];
    await insert("0000004", 4, "denied");
    assert.deepEqual([await store.countLive(), await live()], [3, 3]);
    const move = (seq: number, from: NewRequest["state"][], to: NewRequest["state"]) =>
      store.transaction((tx) => tx.transition(seq, from, to));
    await move(seqs[0], ["pending"], "approved");
    await move(seqs[1], ["pending"], "denied");
    await move(seqs[0], ["approved"], "collected");
    assert.deepEqual([await store.countLive(), await live()], [1, 1]);
    await move(seqs[2], ["pending", "collected"], "expired");
    assert.deepEqual([await store.countLive(), await live()], [0, 0]);
    await assert.rejects(store.transaction(async (tx) => {
      await tx.insertRequest(requestRow({ id: "0000005", secretHash: "5".repeat(64) }));
      throw new Error("boom");
    }));
    assert.deepEqual([await store.countLive(), await live()], [0, 0]);
    assert.equal(await store.countPending(), 0);
  });

  test("counts pending requests by peer group", async (store) => {
    const insert = (id: string, peerLocation: string) =>
      store.transaction(async (tx) =>
        (await tx.insertRequest(
          requestRow({ id, peerLocation, secretHash: id.repeat(10).slice(0, 64) }),
        )).seq
      );
    const a = await insert("0000001", "192.0.2.1");
    await insert("0000002", "192.0.2.1");
    await insert("0000003", "2001:db8::1");
    await insert("0000004", "2001:db8::2");
    assert.equal(await store.countPendingFrom("192.0.2.1"), 2);
    assert.equal(await store.countPendingFrom("::ffff:192.0.2.1"), 2);
    assert.equal(await store.countPendingFrom("2001:db8::99"), 2, "one /64");
    assert.equal(await store.countPendingFrom("192.0.2.2"), 0);
    await store.transaction((tx) => tx.transition(a, ["pending"], "approved"));
    assert.equal(await store.countPendingFrom("192.0.2.1"), 1, "a decided request does not wait");
    await assert.rejects(store.transaction(async (tx) => {
      await tx.insertRequest(requestRow({ id: "0000005", secretHash: "5".repeat(64) }));
      throw new Error("boom");
    }));
    assert.equal(await store.countPendingFrom("192.0.2.1"), 1);
    assert.equal(await store.countPending(), 3);
  });

  test("lists pending and due requests and forgets old finished ones", async (store) => {
    const insert = (id: string, overrides: Partial<NewRequest>) =>
      store.transaction((tx) =>
        tx.insertRequest(requestRow({ id, secretHash: id.padStart(64, "0"), ...overrides }))
      );
    await insert("0000001", { expiresAt: 2000 });
    await insert("0000002", { expiresAt: 3000 });
    await insert("0000003", { state: "approved", expiresAt: 1500 });
    await insert("0000004", { state: "expired", expiresAt: 1000 });
    await insert("0000005", { state: "denied", expiresAt: 9000, decidedAt: 1000 });
    assert.deepEqual((await store.pending()).map((r) => r.id), ["0000001", "0000002"]);
    assert.deepEqual((await store.pending("0000002")).map((r) => r.id), ["0000002"]);
    assert.deepEqual(await store.pending("0000003"), []);
    assert.deepEqual((await store.liveDue(2000)).map((r) => r.id), ["0000001", "0000003"]);
    assert.equal(await store.transaction((tx) => tx.pruneFinished(1500)), 1, "only 0000004");
    assert.equal(await store.byId("0000004"), undefined);
    assert.equal((await store.byId("0000005"))?.state, "denied");
  });

  test("keeps rules, daemon ads and the audit trail", async (store) => {
    const rule = await store.transaction((tx) =>
      tx.insertRule({ netblock: "192.0.2.0/24", issuedAt: 100, expiresAt: 200, createdBy: "a@p" })
    );
    await store.transaction((tx) =>
      tx.insertRule({ netblock: "2001:db8::/32", issuedAt: 100, expiresAt: 400, createdBy: "b@p" })
    );
    assert.deepEqual(await store.activeRules(200), [
      {
        seq: rule.seq,
        netblock: "192.0.2.0/24",
        issuedAt: 100,
        expiresAt: 200,
        createdBy: "a@p",
        approved: 0,
      },
      {
        seq: (await store.activeRules(0))[1].seq,
        netblock: "2001:db8::/32",
        issuedAt: 100,
        expiresAt: 400,
        createdBy: "b@p",
        approved: 0,
      },
    ]);
    assert.equal(await store.transaction((tx) => tx.pruneRules(300)), 1);
    assert.deepEqual((await store.activeRules(0)).map((r) => r.netblock), ["2001:db8::/32"]);

    const ad = { name: "ap1.example.org", type: "SCHEDD", address: "https://ap1:9618" };
    await store.transaction((tx) => tx.upsertDaemon({ ...ad, expiresAt: 500 }));
    await store.transaction((tx) =>
      tx.upsertDaemon({ ...ad, address: "https://ap1:9619", expiresAt: 600 })
    );
    assert.deepEqual(await store.daemons(550), [{
      ...ad,
      address: "https://ap1:9619",
      expiresAt: 600,
    }]);
    assert.deepEqual(await store.daemons(600), [], "expired at its time");
    assert.equal(await store.transaction((tx) => tx.pruneDaemons(600)), 1);

    await store.transaction(async (tx) => {
      await tx.appendAudit({ at: 1, event: "enqueue", requestId: "0000001", actor: "x@y" });
      await tx.appendAudit({ at: 2, event: "rule", detail: { netblock: "*" } });
      await tx.appendAudit({ at: 3, event: "approve", requestId: "0000001", detail: { n: 1 } });
    });
    assert.deepEqual(await store.auditTrail("0000001"), [
      { at: 1, event: "enqueue", requestId: "0000001", actor: "x@y", detail: {} },
      { at: 3, event: "approve", requestId: "0000001", detail: { n: 1 } },
    ]);
    assert.deepEqual((await store.auditTrail()).map((r) => r.event), [
      "enqueue",
      "rule",
      "approve",
    ]);
  });

  test("lists the records of issued tokens newest first, a page at a time", async (store) => {
    await store.transaction(async (tx) => {
      await tx.appendAudit({ at: 1, event: "issue", requestId: "0000001", detail: { jti: "a" } });
      await tx.appendAudit({ at: 2, event: "approve", requestId: "0000002" });
      await tx.appendAudit({ at: 3, event: "fetch", actor: "x@y", detail: { jti: "b" } });
      await tx.appendAudit({ at: 4, event: "issue", requestId: "0000002", detail: { jti: "c" } });
    });
    const all = await store.issuedRecords(undefined, 10);
    assert.deepEqual(all.map((r) => r.record.detail?.jti), ["c", "b", "a"]);
    assert.ok(all[0].seq > all[1].seq && all[1].seq > all[2].seq);
    const page = await store.issuedRecords(all[0].seq, 1);
    assert.deepEqual(page.map((r) => r.record.detail?.jti), ["b"]);
    assert.deepEqual(await store.issuedRecords(all[2].seq, 10), []);
  });

  test("lists rules in force oldest first, with the requests each approved", async (store) => {
    const insert = (netblock: string, expiresAt: number, createdBy = "admin@pool") =>
      store.transaction((tx) => tx.insertRule({ netblock, issuedAt: 1000, expiresAt, createdBy }));
    const a = await insert("10.0.0.0/8", 2000);
    const b = await insert("192.0.2.0/24", 4000, "other@pool");
    assert.deepEqual(a, {
      seq: a.seq,
      netblock: "10.0.0.0/8",
      issuedAt: 1000,
      expiresAt: 2000,
      createdBy: "admin@pool",
      approved: 0,
    });
    assert.ok(b.seq > a.seq, "a rule's ID grows with each rule installed");
    await store.transaction(async (tx) => {
      await tx.countRuleApprovals(a.seq, 1);
      await tx.countRuleApprovals(b.seq, 3);
      await tx.countRuleApprovals(a.seq, 1);
    });
    // A count made in a transaction that fails is undone with it.
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.countRuleApprovals(a.seq, 5);
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual((await store.activeRules(1500)).map((r) => [r.seq, r.approved]), [
      [a.seq, 2],
      [b.seq, 3],
    ]);
    assert.deepEqual((await store.activeRules(2001)).map((r) => r.seq), [b.seq], "a expired");
    // Reads inside a transaction see its own counts.
    assert.equal(
      await store.transaction(async (tx) => {
        await tx.countRuleApprovals(b.seq, 1);
        return (await tx.activeRules(1500))[1].approved;
      }),
      4,
    );
  });

  test("removes only a rule still in force, and gives it back as it was", async (store) => {
    const rule = await store.transaction((tx) =>
      tx.insertRule({
        netblock: "10.0.0.0/8",
        issuedAt: 1000,
        expiresAt: 2000,
        createdBy: "admin@pool",
      })
    );
    const other = await store.transaction((tx) =>
      tx.insertRule({ netblock: "::1/128", issuedAt: 1000, expiresAt: 2000, createdBy: "a@p" })
    );
    await store.transaction((tx) => tx.countRuleApprovals(rule.seq, 2));
    assert.equal(await store.transaction((tx) => tx.removeRule(rule.seq, 2001)), undefined);
    assert.equal(await store.transaction((tx) => tx.removeRule(other.seq + 1000, 1500)), undefined);
    // A removal in a transaction that fails is undone with it.
    let seen: unknown[] = [];
    await assert.rejects(
      store.transaction(async (tx) => {
        seen = [
          (await tx.removeRule(rule.seq, 1500))?.seq,
          (await tx.activeRules(1500)).map((r) => r.seq),
        ];
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual(seen, [rule.seq, [other.seq]], "the transaction saw its own removal");
    assert.equal((await store.activeRules(1500)).length, 2);
    assert.deepEqual(
      await store.transaction((tx) => tx.removeRule(rule.seq, 1500)),
      { ...rule, approved: 2 },
    );
    assert.deepEqual((await store.activeRules(1500)).map((r) => r.seq), [other.seq]);
    assert.equal(await store.transaction((tx) => tx.removeRule(rule.seq, 1500)), undefined);
    // Counting for a rule removed meanwhile changes nothing and fails nothing.
    await store.transaction((tx) => tx.countRuleApprovals(rule.seq, 1));
    assert.deepEqual((await store.activeRules(1500)).map((r) => r.approved), [0]);
  });

  test("keeps the circuit breaker's counts, rolls back with the transaction, prunes a gone rule's", async (store) => {
    const rule = await store.transaction((tx) =>
      tx.insertRule({ netblock: "10.0.0.0/8", issuedAt: 1000, expiresAt: 2000, createdBy: "a@p" })
    );
    assert.deepEqual(
      await store.transaction((tx) => tx.lockBreaker(rule.seq)),
      { rule: rule.seq, windowStart: 0, approved: 0, heldSince: null },
      "never saved: window 0, nothing approved",
    );
    await store.transaction(async (tx) => {
      await tx.saveBreaker({ rule: 0, windowStart: 1200, approved: 7, heldSince: null });
      await tx.saveBreaker({ rule: rule.seq, windowStart: 1200, approved: 3, heldSince: 1300 });
    });
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.saveBreaker({ rule: 0, windowStart: 1800, approved: 1, heldSince: null });
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual(await store.breakers(), [
      { rule: 0, windowStart: 1200, approved: 7, heldSince: null },
      { rule: rule.seq, windowStart: 1200, approved: 3, heldSince: 1300 },
    ]);
    assert.deepEqual(
      (await store.transaction((tx) => tx.lockBreaker(rule.seq))).heldSince,
      1300,
    );
    // Once the rule is pruned its count goes; the total stays.
    await store.transaction((tx) => tx.pruneRules(3000));
    assert.deepEqual((await store.breakers()).map((b) => b.rule), [0]);
  });

  test("refuses text it would read back as something else (NUL, lone surrogate)", async (store) => {
    for (const requestedIdentity of ["condor@pool\u0000.evil.org", "a\u0000b@c", "x\ud800@y"]) {
      await assert.rejects(
        store.transaction((tx) => tx.insertRequest(requestRow({ requestedIdentity }))),
        (err) => err instanceof StoreError && err.code === "STORE_TEXT",
        JSON.stringify(requestedIdentity),
      );
    }
    assert.equal(await store.countLive(), 0);
    // Lookups too: a NUL would otherwise compare as a shorter key.
    await assert.rejects(store.byId("1234567\u0000"), (err) => err instanceof StoreError);
  });

  test("says it can commit, and runs an exclusive transaction nobody else holds", async (store) => {
    assert.equal(await store.writeHealth(Date.now()), undefined);
    assert.equal(await store.transaction(() => Promise.resolve(7), { exclusive: "sweep" }), 7);
  });
}
