import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type NewRequest, SCHEMA_VERSION, Store, StoreError } from "../../src/server/store.ts";
import { withTempDir } from "../_support/temp.ts";

const row = (overrides: Partial<NewRequest> = {}): NewRequest => ({
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
});

Deno.test("Store.open() creates a 0600 WAL database with the current schema version", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/t.sqlite`);
    store.close();
    assert.equal((await Deno.stat(`${dir}/t.sqlite`)).mode! & 0o777, 0o600);
    const db = new DatabaseSync(`${dir}/t.sqlite`);
    try {
      assert.deepEqual(
        { ...db.prepare("PRAGMA user_version").get() },
        { user_version: SCHEMA_VERSION },
      );
      assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    } finally {
      db.close();
    }
  });
});

Deno.test("Store.open() refuses a database from a newer daemon or another program", async () => {
  await withTempDir(async (dir) => {
    const newer = new DatabaseSync(`${dir}/newer.sqlite`);
    newer.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    await assert.rejects(
      Store.open(`${dir}/newer.sqlite`),
      (err) =>
        err instanceof StoreError && err.code === "STORE_TOO_NEW" && /newer/.test(err.message),
    );
    const foreign = new DatabaseSync(`${dir}/foreign.sqlite`);
    foreign.exec("CREATE TABLE t (x)");
    foreign.close();
    await assert.rejects(
      Store.open(`${dir}/foreign.sqlite`),
      (err) => err instanceof StoreError && err.code === "STORE_FOREIGN",
    );
    await Deno.writeTextFile(
      `${dir}/junk.sqlite`,
      "this is not a database at all, not even close".repeat(20),
    );
    await assert.rejects(Store.open(`${dir}/junk.sqlite`), (err) => err instanceof StoreError);
  });
});

Deno.test("Store.open() upgrades a schema 1 database: rules count the approvals the audit trail records", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/old.sqlite`;
    (await Store.open(path)).close();
    // What a schema 1 daemon left: rules without a count, approvals in the audit trail.
    const old = new DatabaseSync(path);
    old.exec(`
      ALTER TABLE rules DROP COLUMN approved;
      PRAGMA user_version = 1;
      INSERT INTO rules (netblock, issued_at, expires_at, created_by)
        VALUES ('10.0.0.0/8', 1000, 4600, 'admin@pool'), ('192.0.2.0/24', 1000, 4600, 'admin@pool');
      INSERT INTO audit (at, event, request_id, actor, detail) VALUES
        (1000, 'auto-approve', '0000001', 'auto-approval rule 10.0.0.0/8', '{}'),
        (2000, 'auto-approve', '0000002', 'auto-approval rule 10.0.0.0/8', '{}'),
        (9000, 'auto-approve', '0000003', 'auto-approval rule 10.0.0.0/8', '{}'),
        (2000, 'approve', '0000004', 'admin@pool', '{}');
    `);
    old.close();
    const store = await Store.open(path);
    try {
      assert.deepEqual(store.activeRules(2000).map((r) => [r.netblock, r.approved]), [
        ["10.0.0.0/8", 2],
        ["192.0.2.0/24", 0],
      ]);
      store.transaction(() => store.countRuleApprovals(store.activeRules(2000)[1].seq, 3));
      assert.equal(store.activeRules(2000)[1].approved, 3);
    } finally {
      store.close();
    }
    const db = new DatabaseSync(path);
    try {
      assert.deepEqual({ ...db.prepare("PRAGMA user_version").get() }, { user_version: 2 });
    } finally {
      db.close();
    }
  });
});

Deno.test("Store.removeRule() deletes only a rule still in force and gives it back as it was", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/t.sqlite`);
    try {
      const rule = store.transaction(() =>
        store.insertRule({
          netblock: "10.0.0.0/8",
          issuedAt: 1000,
          expiresAt: 2000,
          createdBy: "admin@pool",
        })
      );
      assert.equal(store.transaction(() => store.removeRule(rule.seq, 2001)), undefined);
      assert.deepEqual(store.transaction(() => store.removeRule(rule.seq, 1500)), rule);
      assert.deepEqual(store.activeRules(1500), []);
      assert.equal(store.transaction(() => store.removeRule(rule.seq, 1500)), undefined);
    } finally {
      store.close();
    }
  });
});

Deno.test("Store keeps live request ids and secrets unique and guards transitions", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/t.sqlite`);
    try {
      const first = store.insertRequest(row());
      assert.throws(() => store.insertRequest(row({ secretHash: "b".repeat(64) })), /UNIQUE/);
      assert.throws(() => store.insertRequest(row({ id: "7654321" })), /UNIQUE/);
      assert.equal(store.transition(first.seq, ["pending"], "approved"), true);
      assert.equal(store.transition(first.seq, ["approved"], "collected", { jti: "j" }), true);
      assert.equal(store.transition(first.seq, ["approved"], "collected", { jti: "k" }), false);
      assert.equal(store.bySeq(first.seq)?.jti, "j");
      // A finished request frees its id for a new live one.
      const second = store.insertRequest(row({ secretHash: "c".repeat(64) }));
      assert.equal(store.byId("1234567")?.seq, second.seq);
      assert.equal(store.countLive(), 1);
    } finally {
      store.close();
    }
  });
});

Deno.test("Store rolls back a failed transaction entirely", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/t.sqlite`);
    try {
      assert.throws(() =>
        store.transaction(() => {
          store.insertRequest(row());
          store.appendAudit({ at: 1, event: "enqueue", requestId: "1234567" });
          throw new Error("boom");
        })
      );
      assert.equal(store.countLive(), 0);
      assert.deepEqual(store.auditTrail(), []);
    } finally {
      store.close();
    }
  });
});

Deno.test("Store.sharedTransaction() commits calls together and undoes only a failing one", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await Store.open(path);
    try {
      const first = store.sharedTransaction(() => store.insertRequest(row({ id: "0000001" })).id);
      const failing = store.sharedTransaction(() => {
        store.insertRequest(row({ id: "0000002", secretHash: "b".repeat(64) }));
        throw new Error("refused");
      });
      const third = store.sharedTransaction(() => {
        // Sees the first call's row: the calls run one after the other.
        assert.equal(store.isLiveId("0000001"), true);
        return store.insertRequest(row({ id: "0000003", secretHash: "c".repeat(64) })).id;
      });
      // Nothing is committed before the promises settle.
      const reader = new DatabaseSync(path, { readOnly: true });
      try {
        const count = () =>
          Number((reader.prepare("SELECT count(*) AS n FROM requests").get() as { n: number }).n);
        assert.equal(count(), 0);
        assert.deepEqual(await Promise.all([first, third]), ["0000001", "0000003"]);
        await assert.rejects(failing, /refused/);
        assert.equal(count(), 2, "committed once the promises resolved");
      } finally {
        reader.close();
      }
      assert.equal(store.isLiveId("0000002"), false);
      assert.equal(store.countLive(), 2);
    } finally {
      store.close();
    }
  });
});

Deno.test("Store.close() commits calls still waiting for a shared transaction", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await Store.open(path);
    const queued = store.sharedTransaction(() => store.insertRequest(row()).id);
    store.close();
    assert.equal(await queued, "1234567");
    const again = await Store.open(path);
    try {
      assert.equal(again.countLive(), 1);
    } finally {
      again.close();
    }
  });
});

Deno.test("Store.countLive() follows inserts, transitions and rollbacks", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await Store.open(path);
    const counted = () => {
      const reader = new DatabaseSync(path, { readOnly: true });
      try {
        return Number(
          (reader.prepare(
            "SELECT count(*) AS n FROM requests WHERE state IN ('pending', 'approved')",
          ).get() as { n: number }).n,
        );
      } finally {
        reader.close();
      }
    };
    try {
      assert.equal(store.countLive(), 0);
      const seqs = ["0000001", "0000002", "0000003"].map((id, i) =>
        store.transaction(() => store.insertRequest(row({ id, secretHash: String(i).repeat(64) })))
          .seq
      );
      store.transaction(() => store.insertRequest(row({ id: "0000004", state: "denied" })));
      assert.deepEqual([store.countLive(), counted()], [3, 3]);
      store.transition(seqs[0], ["pending"], "approved");
      store.transition(seqs[1], ["pending"], "denied");
      store.transition(seqs[0], ["approved"], "collected");
      assert.deepEqual([store.countLive(), counted()], [1, 1]);
      store.transition(seqs[2], ["pending", "collected"], "expired");
      assert.deepEqual([store.countLive(), counted()], [0, 0]);
      assert.throws(() =>
        store.transaction(() => {
          store.insertRequest(row({ id: "0000005", secretHash: "5".repeat(64) }));
          throw new Error("boom");
        })
      );
      assert.deepEqual([store.countLive(), counted()], [0, 0]);
      await assert.rejects(store.sharedTransaction(() => {
        store.insertRequest(row({ id: "0000006", secretHash: "6".repeat(64) }));
        throw new Error("refused");
      }));
      assert.deepEqual([store.countLive(), counted()], [0, 0]);
    } finally {
      store.close();
    }
  });
});

Deno.test("Store.countPendingFrom() counts by peer group through inserts, transitions and rollbacks", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await Store.open(path);
    try {
      const insert = (id: string, peerLocation: string) =>
        store.transaction(() =>
          store.insertRequest(row({ id, peerLocation, secretHash: id.repeat(10).slice(0, 64) }))
        ).seq;
      const a = insert("0000001", "192.0.2.1");
      insert("0000002", "192.0.2.1");
      insert("0000003", "2001:db8::1");
      insert("0000004", "2001:db8::2");
      assert.equal(store.countPendingFrom("192.0.2.1"), 2);
      assert.equal(store.countPendingFrom("::ffff:192.0.2.1"), 2);
      assert.equal(store.countPendingFrom("2001:db8::99"), 2, "one /64");
      assert.equal(store.countPendingFrom("192.0.2.2"), 0);
      store.transition(a, ["pending"], "approved");
      assert.equal(store.countPendingFrom("192.0.2.1"), 1, "a decided request does not wait");
      assert.throws(() =>
        store.transaction(() => {
          insert("0000005", "192.0.2.1");
          throw new Error("boom");
        })
      );
      assert.equal(store.countPendingFrom("192.0.2.1"), 1);
      const reopened = await Store.open(path);
      try {
        assert.equal(reopened.countPendingFrom("192.0.2.1"), 1, "counted from the rows");
      } finally {
        reopened.close();
      }
    } finally {
      store.close();
    }
  });
});

Deno.test("Store.open() creates a new database whole, leaving nothing else behind", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/t.sqlite`);
    store.close();
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.filter((n) => !n.startsWith("t.sqlite")), []);
    assert.ok((await Deno.stat(`${dir}/t.sqlite`)).size > 0);
  });
});

Deno.test("Store.open() refuses an emptied database instead of starting afresh", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await Store.open(path);
    store.transaction(() => store.insertRequest(row()));
    store.close();
    await Deno.truncate(path, 0);
    await Deno.remove(`${path}-wal`).catch(() => {});
    await assert.rejects(
      Store.open(path),
      (err) =>
        err instanceof StoreError && err.code === "STORE_EMPTY" &&
        err.message.includes(path) && /empty \(0 bytes\)/.test(err.message) &&
        /remove it/.test(err.message) && !err.message.includes("\n"),
    );
    assert.equal((await Deno.stat(path)).size, 0, "left as found");
    // A database file with no tables and no version is no better.
    await Deno.remove(path);
    const bare = new DatabaseSync(path);
    bare.exec("CREATE TABLE t (x); DROP TABLE t");
    bare.close();
    await assert.rejects(
      Store.open(path),
      (err) => err instanceof StoreError && err.code === "STORE_EMPTY",
    );
  });
});

Deno.test("Store.open() refuses a missing database whose write-ahead log is still there", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    await Deno.writeFile(`${path}-wal`, new Uint8Array(64), { mode: 0o600 });
    await assert.rejects(
      Store.open(path),
      (err) =>
        err instanceof StoreError && err.code === "STORE_LEFTOVER" &&
        err.message.includes(`${path}-wal`),
    );
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  });
});

Deno.test("Store.open() refuses a schema with tables or columns missing or unknown", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, RegExp][] = [
      ["DROP TABLE audit", /table audit missing/],
      ["CREATE TABLE extra (x)", /unknown table extra/],
      ["ALTER TABLE rules DROP COLUMN created_by", /table rules lacks column created_by/],
      ["ALTER TABLE daemons ADD COLUMN note TEXT", /table daemons has unknown column note/],
    ];
    for (const [i, [change, message]] of cases.entries()) {
      const path = `${dir}/t${i}.sqlite`;
      (await Store.open(path)).close();
      const db = new DatabaseSync(path);
      db.exec(change);
      db.close();
      await assert.rejects(
        Store.open(path),
        (err) =>
          err instanceof StoreError && err.code === "STORE_SCHEMA" && message.test(err.message) &&
          err.message.includes(path),
        change,
      );
    }
  });
});

Deno.test("Store refuses text it would read back as something else (NUL, lone surrogate)", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/t.sqlite`);
    try {
      for (const requestedIdentity of ["condor@pool\u0000.evil.org", "a\u0000b@c", "x\ud800@y"]) {
        assert.throws(
          () => store.transaction(() => store.insertRequest(row({ requestedIdentity }))),
          (err) => err instanceof StoreError && err.code === "STORE_TEXT",
          JSON.stringify(requestedIdentity),
        );
      }
      assert.equal(store.countLive(), 0);
      // Lookups too: a NUL would otherwise compare as a shorter key.
      assert.throws(() => store.byId("1234567\u0000"), (err) => err instanceof StoreError);
      const kept = store.transaction(() =>
        store.insertRequest(row({ requestedIdentity: "jörg@example.org" }))
      );
      assert.equal(store.bySeq(kept.seq)?.requestedIdentity, "jörg@example.org");
    } finally {
      store.close();
    }
  });
});
