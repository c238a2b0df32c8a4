/**
 * The PostgreSQL engine on a real server, a database of its own per test:
 * the shared contract; then what sharing one state between daemons takes
 * (two stores on one database stand for two daemons): notifications across
 * them, one winner for concurrent transitions, exclusive transactions,
 * migrations refused when newer; and the connection knobs (password file,
 * sslmode, unix socket), with no password ever in a message.
 */
import assert from "node:assert/strict";
import {
  PostgresStore,
  SCHEMA_VERSION,
} from "../../../src/server/store/postgres/postgres_store.ts";
import { connectionFor } from "../../../src/server/store/postgres/_connection.ts";
import { openStore, type Store, StoreError } from "../../../src/server/store/store.ts";
import { runSql, withTestDatabase } from "../../_support/postgres.ts";
import { withTempDir } from "../../_support/temp.ts";
import { requestRow, storeContract } from "./_store_contract.ts";

storeContract("postgresql", async () => {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => done = resolve);
  let ready!: (url: string) => void;
  const urlReady = new Promise<string>((resolve) => ready = resolve);
  const dropped = withTestDatabase(async (url) => {
    ready(url);
    await finished;
  });
  const url = await Promise.race([urlReady, dropped.then(() => "")]);
  const store = await openStore(url);
  return {
    store,
    async dispose() {
      await store.close();
      done();
      await dropped;
    },
  };
});

/** Two stores (two daemons) on one fresh database. */
async function withTwoStores(fn: (a: Store, b: Store, url: string) => Promise<void>) {
  await withTestDatabase(async (url) => {
    const a = await openStore(url);
    const b = await openStore(url);
    try {
      await fn(a, b, url);
    } finally {
      await a.close();
      await b.close();
    }
  });
}

Deno.test("PostgresStore tells the other daemons of a new request and a change once it commits, within 50 ms", async () => {
  await withTwoStores(async (a, b) => {
    const seen: { id: string | undefined; at: number }[] = [];
    b.watch((id) => seen.push({ id, at: performance.now() }));
    const ownSeen: (string | undefined)[] = [];
    a.watch((id) => ownSeen.push(id));
    const request = await a.transaction((tx) => tx.insertRequest(requestRow()));
    // A new request is announced too (administrators watch for them).
    const inserted = performance.now() + 2_000;
    while (seen.length === 0 && performance.now() < inserted) {
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(seen.map((s) => s.id), [request.id]);
    seen.length = 0;
    // A transition that is rolled back announces nothing.
    await assert.rejects(a.transaction(async (tx) => {
      await tx.transition(request.seq, ["pending"], "denied");
      throw new Error("undone");
    }));
    const started = performance.now();
    await a.transaction((tx) => tx.transition(request.seq, ["pending"], "approved"));
    const deadline = started + 2_000;
    while (seen.length === 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(seen.map((s) => s.id), [request.id]);
    const latency = seen[0].at - started;
    assert.ok(latency < 50, `notified after ${latency.toFixed(1)} ms`);
    assert.deepEqual(ownSeen, [], "a daemon is not told of its own changes");
  });
});

Deno.test("PostgresStore lets exactly one of two daemons' concurrent transitions win", async () => {
  await withTwoStores(async (a, b) => {
    for (let round = 0; round < 20; round++) {
      const id = String(1_000_000 + round);
      const request = await a.transaction((tx) =>
        tx.insertRequest(requestRow({ id, state: "approved", secretHash: id.padStart(64, "0") }))
      );
      const collect = (store: Store, jti: string) =>
        store.transaction(async (tx) => {
          if (!await tx.transition(request.seq, ["approved"], "collected", { jti })) return false;
          await tx.appendAudit({ at: 1, event: "issue", requestId: id, detail: { jti } });
          return true;
        });
      const won = await Promise.all([collect(a, "a"), collect(b, "b")]);
      assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won}`);
      const issued = (await b.auditTrail(id)).filter((r) => r.event === "issue");
      assert.equal(issued.length, 1);
      assert.equal((await a.bySeq(request.seq))?.jti, issued[0].detail?.jti);
    }
  });
});

Deno.test("PostgresStore runs an exclusive transaction on one daemon at a time", async () => {
  await withTwoStores(async (a, b) => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => entered = resolve);
    const first = a.transaction(async () => {
      entered();
      await held;
      return "a";
    }, { exclusive: "sweep" });
    await inside;
    assert.equal(
      await b.transaction(() => Promise.resolve("b"), { exclusive: "sweep" }),
      undefined,
    );
    release();
    assert.equal(await first, "a");
    assert.equal(await b.transaction(() => Promise.resolve("b"), { exclusive: "sweep" }), "b");
  });
});

Deno.test("PostgresStore gives a request id to one daemon when two take it at once", async () => {
  await withTwoStores(async (a, b) => {
    // The same secret on both daemons (a requester retrying on the other):
    // one inserts, the other runs again and finds that row.
    const enqueue = (store: Store) =>
      store.transaction(async (tx) => {
        const existing = await tx.liveBySecret("f".repeat(64));
        if (existing) return { created: false, seq: existing.seq };
        const row = await tx.insertRequest(requestRow({ secretHash: "f".repeat(64) }));
        return { created: true, seq: row.seq };
      });
    const results = await Promise.all([enqueue(a), enqueue(b)]);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(results[0].seq, results[1].seq);
    assert.equal(await a.countLive(), 1);
  });
});

Deno.test("PostgresStore creates and versions its schema, and refuses a newer one in one line", async () => {
  await withTestDatabase(async (url) => {
    await (await openStore(url)).close();
    const [{ version }] = await runSql(url, "SELECT version FROM condor_tokend.schema_version");
    assert.equal(version, SCHEMA_VERSION);
    // Opening again changes nothing and loses nothing.
    const again = await openStore(url);
    await again.transaction((tx) => tx.insertRequest(requestRow()));
    await again.close();
    const reopened = await openStore(url);
    assert.equal(await reopened.countLive(), 1);
    await reopened.close();

    await runSql(url, `UPDATE condor_tokend.schema_version SET version = ${SCHEMA_VERSION + 1}`);
    await assert.rejects(
      openStore(url),
      (err) =>
        err instanceof StoreError && err.code === "STORE_TOO_NEW" &&
        err.message.includes(`schema version ${SCHEMA_VERSION + 1}`) && !err.message.includes("\n"),
    );
    await runSql(url, "DROP TABLE condor_tokend.schema_version");
    await assert.rejects(
      openStore(url),
      (err) => err instanceof StoreError && err.code === "STORE_FOREIGN",
    );
  });
});

Deno.test("PostgresStore migrates a schema 1 database: rules count the approvals the audit trail records", async () => {
  await withTestDatabase(async (url) => {
    await (await openStore(url)).close();
    // What a schema 1 daemon left: rules without a count, approvals in the audit trail.
    await runSql(
      url,
      `ALTER TABLE condor_tokend.rules DROP COLUMN approved;
       DROP TABLE condor_tokend.breakers;
       UPDATE condor_tokend.schema_version SET version = 1;
       INSERT INTO condor_tokend.rules (netblock, issued_at, expires_at, created_by)
         VALUES ('10.0.0.0/8', 1000, 4600, 'admin@pool'),
                ('192.0.2.0/24', 1000, 4600, 'admin@pool');
       INSERT INTO condor_tokend.audit (at, event, request_id, actor, detail) VALUES
         (1000, 'auto-approve', '0000001', 'auto-approval rule 10.0.0.0/8', '{}'),
         (2000, 'auto-approve', '0000002', 'auto-approval rule 10.0.0.0/8', '{}'),
         (9000, 'auto-approve', '0000003', 'auto-approval rule 10.0.0.0/8', '{}'),
         (2000, 'approve', '0000004', 'admin@pool', '{}')`,
    );
    // Two daemons starting together: one migrates, the other finds it done.
    const [a, b] = await Promise.all([openStore(url), openStore(url)]);
    try {
      assert.deepEqual((await b.activeRules(2000)).map((r) => [r.netblock, r.approved]), [
        ["10.0.0.0/8", 2],
        ["192.0.2.0/24", 0],
      ]);
      const seq = (await a.activeRules(2000))[1].seq;
      await a.transaction((tx) => tx.countRuleApprovals(seq, 3));
      assert.equal((await b.activeRules(2000))[1].approved, 3);
      // Version 3's breakers start empty.
      assert.deepEqual(await b.breakers(), []);
    } finally {
      await a.close();
      await b.close();
    }
    const [{ version }] = await runSql(url, "SELECT version FROM condor_tokend.schema_version");
    assert.equal(version, 3);
    assert.equal(SCHEMA_VERSION, 3);
  });
});

Deno.test("PostgresStore.open() connects through the unix socket", async () => {
  await withTestDatabase(async (url) => {
    const database = new URL(url).pathname.slice(1);
    const store = await openStore(
      `postgresql://postgres@/${database}?host=/var/run/postgresql`,
    );
    try {
      assert.ok(store.location.includes("/var/run/postgresql"));
      await store.transaction((tx) => tx.insertRequest(requestRow()));
      assert.equal(await store.countLive(), 1);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.open() fails at once with a clear line when the server cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const started = Date.now();
  await assert.rejects(
    openStore(`postgresql://tokend:s3cret-pw@127.0.0.1:${port}/x?connect_timeout=3`),
    (err) =>
      err instanceof StoreError && err.code === "STORE_OPEN" &&
      err.message.includes(`postgresql://tokend@127.0.0.1:${port}/x`) &&
      !err.message.includes("s3cret-pw"),
  );
  assert.ok(Date.now() - started < 5_000);
});

Deno.test("connectionFor() takes the password from the URL, a private file or PGPASSWORD, and never shows it", async () => {
  await withTempDir(async (dir) => {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    const fromUrl = await connectionFor(
      "postgresql://u:p%40ss@db.example.org/d",
      env({}),
      undefined,
    );
    assert.equal(fromUrl.options.pass(), "p@ss");
    assert.equal(fromUrl.location, "postgresql://u@db.example.org:5432/d");
    assert.ok(fromUrl.options.ssl, "TLS for a host that is not loopback");

    const file = `${dir}/pw`;
    await Deno.writeTextFile(file, "from-file\n", { mode: 0o600 });
    await Deno.chmod(file, 0o600);
    const fromFile = await connectionFor(
      "postgresql://u@127.0.0.1/d",
      env({ PGPASSWORD: "from-env" }),
      file,
    );
    assert.equal(fromFile.options.pass(), "from-file");
    assert.equal(fromFile.options.ssl, false, "loopback needs no TLS by default");
    const fromEnv = await connectionFor(
      "postgresql:///d",
      env({ PGPASSWORD: "from-env", PGHOST: "db", PGUSER: "pguser", PGPORT: "6543" }),
      undefined,
    );
    assert.equal(fromEnv.options.pass(), "from-env");
    assert.equal(fromEnv.location, "postgresql://pguser@db:6543/d");

    await Deno.chmod(file, 0o644);
    await assert.rejects(
      connectionFor("postgresql://u@127.0.0.1/d", env({}), file),
      (err) =>
        err instanceof StoreError && err.code === "STORE_CONFIG" &&
        /chmod 0?600/.test(err.message) &&
        !err.message.includes("from-file"),
    );
    await Deno.chmod(file, 0o600);
    await Deno.symlink(file, `${dir}/link`);
    await assert.rejects(
      connectionFor("postgresql://u@127.0.0.1/d", env({}), `${dir}/link`),
      (err) => err instanceof StoreError && /symbolic link/.test(err.message),
    );
    for (const bad of ["postgresql://u:pw@h/d?sslmode=prefer", "postgresql://u:pw@h/d?opt=pw"]) {
      await assert.rejects(
        connectionFor(bad, env({}), undefined),
        (err) =>
          err instanceof StoreError && err.code === "STORE_CONFIG" && !err.message.includes("pw@"),
        bad,
      );
    }
  });
});

Deno.test("PostgresStore.open() with sslmode=require refuses a server that offers no TLS", async () => {
  await withTestDatabase(async (url) => {
    const tls = new URL(url);
    tls.searchParams.set("sslmode", "require");
    tls.searchParams.set("connect_timeout", "3");
    await assert.rejects(
      openStore(tls.href),
      (err) => err instanceof StoreError && err.code === "STORE_OPEN",
    );
  });
});

Deno.test("PostgresStore answers STORE_UNAVAILABLE while its server is out of reach", async () => {
  await withTestDatabase(async (url) => {
    const store = await PostgresStore.open(url);
    try {
      const database = new URL(url).pathname.slice(1);
      // Cut every connection of the store, as a server restart would.
      await runSql(
        url.replace(`/${database}`, "/postgres"),
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '${database}' AND pid <> pg_backend_pid()`,
      );
      // The pool reconnects: the next call works again.
      let answer: number | undefined;
      for (let i = 0; i < 20 && answer === undefined; i++) {
        try {
          answer = await store.countLive();
        } catch (err) {
          assert.ok(err instanceof StoreError && err.code === "STORE_UNAVAILABLE", String(err));
        }
      }
      assert.equal(answer, 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore listens again after losing its connection, and wakes every waiter then", async () => {
  await withTwoStores(async (a, b, url) => {
    const seen: (string | undefined)[] = [];
    b.watch((id) => seen.push(id));
    const database = new URL(url).pathname.slice(1);
    // Cut every connection to the database, as a server restart or failover would.
    await runSql(
      url.replace(`/${database}`, "/postgres"),
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = '${database}' AND pid <> pg_backend_pid()`,
    );
    const deadline = Date.now() + 10_000;
    while (!seen.includes(undefined) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(seen, [undefined], "one wake-up for all, as changes may have been missed");
    // And it hears the other daemon's changes again (A's first call may find its
    // pooled connection cut: a 503 its caller retries).
    let request;
    for (let i = 0; request === undefined && i < 5; i++) {
      request = await a.transaction((tx) => tx.insertRequest(requestRow())).catch((err) => {
        assert.ok(err instanceof StoreError && err.code === "STORE_UNAVAILABLE", String(err));
        return undefined;
      });
    }
    assert.ok(request);
    await a.transaction((tx) => tx.transition(request.seq, ["pending"], "approved"));
    // The new request, then its change.
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seen, [undefined, request.id, request.id]);
  });
});
