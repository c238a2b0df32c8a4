/**
 * The SQLite engine: the shared contract, then what only a file has (its
 * creation, mode, schema checks, refusals of lost state) and group commit.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SCHEMA_VERSION, SqliteStore } from "../../../src/server/store/sqlite/sqlite_store.ts";
import { openStore, StoreError } from "../../../src/server/store/store.ts";
import { requestRow, storeContract } from "./_store_contract.ts";

storeContract("sqlite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "condor-token-test-" });
  const store = await openStore(`${dir}/t.sqlite`);
  return {
    store,
    async dispose() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "condor-token-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("openStore() of a path creates a 0600 WAL SQLite database with the current schema version", async () => {
  await withDir(async (dir) => {
    const store = await openStore(`${dir}/t.sqlite`);
    assert.equal(store.engine, "sqlite");
    await store.close();
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

Deno.test("SqliteStore.open() refuses a database from a newer daemon or another program", async () => {
  await withDir(async (dir) => {
    const newer = new DatabaseSync(`${dir}/newer.sqlite`);
    newer.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    await assert.rejects(
      SqliteStore.open(`${dir}/newer.sqlite`),
      (err) =>
        err instanceof StoreError && err.code === "STORE_TOO_NEW" && /newer/.test(err.message),
    );
    const foreign = new DatabaseSync(`${dir}/foreign.sqlite`);
    foreign.exec("CREATE TABLE t (x)");
    foreign.close();
    await assert.rejects(
      SqliteStore.open(`${dir}/foreign.sqlite`),
      (err) => err instanceof StoreError && err.code === "STORE_FOREIGN",
    );
    await Deno.writeTextFile(
      `${dir}/junk.sqlite`,
      "this is not a database at all, not even close".repeat(20),
    );
    await assert.rejects(
      SqliteStore.open(`${dir}/junk.sqlite`),
      (err) => err instanceof StoreError,
    );
  });
});

Deno.test("SqliteStore.open() upgrades a schema 1 database: rules count the approvals the audit trail records", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/old.sqlite`;
    await (await SqliteStore.open(path)).close();
    // What a schema 1 daemon left: rules without a count, approvals in the audit trail.
    const old = new DatabaseSync(path);
    old.exec(`
      ALTER TABLE rules DROP COLUMN approved;
      DROP TABLE breakers;
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
    const store = await SqliteStore.open(path);
    try {
      assert.deepEqual((await store.activeRules(2000)).map((r) => [r.netblock, r.approved]), [
        ["10.0.0.0/8", 2],
        ["192.0.2.0/24", 0],
      ]);
      const seq = (await store.activeRules(2000))[1].seq;
      await store.transaction((tx) => tx.countRuleApprovals(seq, 3));
      assert.equal((await store.activeRules(2000))[1].approved, 3);
      // Version 3's breakers start empty.
      assert.deepEqual(await store.breakers(), []);
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path);
    try {
      assert.deepEqual({ ...db.prepare("PRAGMA user_version").get() }, { user_version: 3 });
    } finally {
      db.close();
    }
  });
});

Deno.test("SqliteStore.open() leaves a database whose upgrade fails as it was, and says so", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/odd.sqlite`;
    await (await SqliteStore.open(path)).close();
    // Version 1 by its number, yet it has the column the upgrade adds.
    const odd = new DatabaseSync(path);
    odd.exec("PRAGMA user_version = 1");
    odd.close();
    await assert.rejects(
      SqliteStore.open(path),
      (err) =>
        err instanceof StoreError && err.code === "STORE_SCHEMA" &&
        err.message.includes(`Cannot upgrade state database ${path} from schema version 1`),
    );
    const db = new DatabaseSync(path);
    try {
      assert.deepEqual({ ...db.prepare("PRAGMA user_version").get() }, { user_version: 1 });
    } finally {
      db.close();
    }
  });
});

Deno.test("SqliteStore commits concurrent transactions together, and nothing before they resolve", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await SqliteStore.open(path);
    const reader = new DatabaseSync(path, { readOnly: true });
    const count = () =>
      Number((reader.prepare("SELECT count(*) AS n FROM requests").get() as { n: number }).n);
    try {
      const first = store.transaction((tx) => tx.insertRequest(requestRow({ id: "0000001" })));
      const second = store.transaction(async (tx) => {
        // Sees the first call's row: the calls run one after the other.
        assert.equal(await tx.isLiveId("0000001"), true);
        return await tx.insertRequest(requestRow({ id: "0000002", secretHash: "b".repeat(64) }));
      });
      // A read outside the transactions sees what has committed, nothing else.
      const outside = store.countLive();
      assert.equal(count(), 0, "nothing is committed before the promises settle");
      await Promise.all([first, second]);
      assert.equal(count(), 2);
      assert.equal(await outside, 0);
      assert.equal(await store.countLive(), 2);
    } finally {
      reader.close();
      await store.close();
    }
  });
});

Deno.test("SqliteStore.close() commits transactions still queued", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await SqliteStore.open(path);
    const queued = store.transaction(async (tx) => (await tx.insertRequest(requestRow())).id);
    await store.close();
    assert.equal(await queued, "1234567");
    const again = await SqliteStore.open(path);
    try {
      assert.equal(await again.countLive(), 1, "counted from the rows");
      assert.equal(await again.countPendingFrom("192.0.2.1"), 1);
    } finally {
      await again.close();
    }
  });
});

Deno.test("SqliteStore.open() creates a new database whole, leaving nothing else behind", async () => {
  await withDir(async (dir) => {
    await (await SqliteStore.open(`${dir}/t.sqlite`)).close();
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.filter((n) => !n.startsWith("t.sqlite")), []);
    assert.ok((await Deno.stat(`${dir}/t.sqlite`)).size > 0);
  });
});

Deno.test("SqliteStore.open() refuses an emptied database instead of starting afresh", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    const store = await SqliteStore.open(path);
    await store.transaction((tx) => tx.insertRequest(requestRow()));
    await store.close();
    await Deno.truncate(path, 0);
    await Deno.remove(`${path}-wal`).catch(() => {});
    await assert.rejects(
      SqliteStore.open(path),
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
      SqliteStore.open(path),
      (err) => err instanceof StoreError && err.code === "STORE_EMPTY",
    );
  });
});

Deno.test("SqliteStore.open() refuses a missing database whose write-ahead log is still there", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/t.sqlite`;
    await Deno.writeFile(`${path}-wal`, new Uint8Array(64), { mode: 0o600 });
    await assert.rejects(
      SqliteStore.open(path),
      (err) =>
        err instanceof StoreError && err.code === "STORE_LEFTOVER" &&
        err.message.includes(`${path}-wal`),
    );
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  });
});

Deno.test("SqliteStore.open() refuses a schema with tables or columns missing or unknown", async () => {
  await withDir(async (dir) => {
    const cases: [string, RegExp][] = [
      ["DROP TABLE audit", /table audit missing/],
      ["CREATE TABLE extra (x)", /unknown table extra/],
      ["ALTER TABLE rules DROP COLUMN created_by", /table rules lacks column created_by/],
      ["ALTER TABLE daemons ADD COLUMN note TEXT", /table daemons has unknown column note/],
    ];
    for (const [i, [change, message]] of cases.entries()) {
      const path = `${dir}/t${i}.sqlite`;
      await (await SqliteStore.open(path)).close();
      const db = new DatabaseSync(path);
      db.exec(change);
      db.close();
      await assert.rejects(
        SqliteStore.open(path),
        (err) =>
          err instanceof StoreError && err.code === "STORE_SCHEMA" && message.test(err.message) &&
          err.message.includes(path),
        change,
      );
    }
  });
});

Deno.test("SqliteStore keeps a NUL-free text that is not ASCII", async () => {
  await withDir(async (dir) => {
    const store = await SqliteStore.open(`${dir}/t.sqlite`);
    try {
      const kept = await store.transaction((tx) =>
        tx.insertRequest(requestRow({ requestedIdentity: "jörg@example.org" }))
      );
      assert.equal((await store.bySeq(kept.seq))?.requestedIdentity, "jörg@example.org");
    } finally {
      await store.close();
    }
  });
});
