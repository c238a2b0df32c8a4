/**
 * failoverClient() over two real daemons sharing one PostgreSQL database:
 * a call whose daemon has gone is made again at the next address, the
 * client stays there, and every address is trusted on its own certificate.
 */
import assert from "node:assert/strict";
import { httpsClient, TrustSessions } from "../../src/client/connect.ts";
import { failoverClient } from "../../src/client/failover_client.ts";
import { DaemonError, TrustError } from "../../src/errors.ts";
import { startTestDaemon, testDaemonPaths } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor } from "../_support/api.ts";

Deno.test("failoverClient() carries a call on at the next daemon when the first has gone, judging each by its own certificate", async () => {
  await withTestDatabase(async (url) => {
    await withTempDir(async (dir) => {
      const extraConfig = `TOKEND_DATABASE = ${url}`;
      const a = await startTestDaemon({ dir: `${dir}/a`, extraConfig });
      await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
      await Deno.copyFile(
        testDaemonPaths(`${dir}/a`).poolKeyFile,
        testDaemonPaths(`${dir}/b`).poolKeyFile,
      );
      const b = await startTestDaemon({ dir: `${dir}/b`, extraConfig });
      let aClosed = false;
      try {
        const api = apiFor(b);
        const enqueued = await api.enqueue().finally(() => api.close());
        const connectWith = (pins: string[]) => {
          const trust = new TrustSessions({ pins, knownHostsFile: undefined, now: Date.now });
          return (target: URL) =>
            Promise.resolve(
              httpsClient(target, trust, { credential: () => Promise.resolve(a.adminToken) }),
            );
        };
        const addresses = [new URL(a.url), new URL(b.url)];
        const moves: string[] = [];
        const connect = connectWith([a.fingerprint, b.fingerprint]);
        const client = failoverClient({
          addresses,
          first: { client: await connect(addresses[0]), url: addresses[0] },
          connect,
          onFailover: (e) => void moves.push(`${e.from} -> ${e.to} (${e.error.code})`),
        });
        try {
          assert.equal((await client.list()).length, 1, "A answers first");
          assert.equal(client.address, a.url);
          await a.close();
          aClosed = true;
          const listed = await client.list(enqueued.body.requestId);
          assert.deepEqual(listed.map((r) => r.requestId), [enqueued.body.requestId]);
          assert.equal(client.address, b.url, "B answered, and the client stays there");
          assert.deepEqual(moves, [`${a.url} -> ${b.url} (DAEMON_UNREACHABLE)`]);
          assert.equal((await client.approve(enqueued.body.requestId)).state, "approved");
        } finally {
          client.close();
        }

        // Trusting only A's certificate: once A has gone, B is refused, not used.
        const onlyA = connectWith([a.fingerprint]);
        const strict = failoverClient({
          addresses,
          first: { client: await onlyA(addresses[0]), url: addresses[0] },
          connect: onlyA,
        });
        try {
          await assert.rejects(strict.list(), (err) => err instanceof TrustError);
        } finally {
          strict.close();
        }

        // No daemon left: the failure names every address tried.
        await b.close();
        const none = failoverClient({
          addresses,
          first: { client: await connect(addresses[0]), url: addresses[0] },
          connect,
        });
        try {
          await assert.rejects(
            none.list(),
            (err) =>
              err instanceof DaemonError && err.code === "DAEMON_UNREACHABLE" &&
              err.message.includes("tried every daemon of the pool"),
          );
        } finally {
          none.close();
        }
      } finally {
        if (!aClosed) await a.close();
        await b.close();
      }
    });
  });
});
