/**
 * GET /v1/issued-tokens against a real in-process daemon: records written
 * before the daemon kept the peer (and the rule) with an issue get them
 * from their request's audit trail, also when the request ID was used
 * again since; pages follow the cursor; the query is checked.
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/server/store/sqlite/sqlite_store.ts";
import { testDaemonPaths } from "../_support/daemon.ts";
import { withDaemon } from "../_support/daemon.ts";

Deno.test("condor_tokend lists issued tokens of older records with the peer and rule from their trail", async () => {
  await withDaemon({}, async ({ daemon, api, dir }) => {
    const store = await SqliteStore.open(`${testDaemonPaths(dir).stateDirectory}/tokend.sqlite`);
    try {
      // Request 1234567 twice: first from 192.0.2.1 (approved by a rule), then from 192.0.2.2.
      const records = [
        { event: "enqueue", peer: "192.0.2.1" },
        { event: "auto-approve", rule: 7 },
        { event: "issue", jti: "aaaa", actor: "auto-approval rule 192.0.2.0/24" },
        { event: "enqueue", peer: "192.0.2.2" },
        { event: "approve" },
        { event: "issue", jti: "bbbb", actor: "admin@tokend-test.example.org" },
      ] as const;
      await store.transaction(async (tx) => {
        for (const [i, r] of records.entries()) {
          const { event, ...detail } = r;
          await tx.appendAudit({
            at: 1000 + i,
            event,
            requestId: "1234567",
            actor: "actor" in r ? r.actor : "someone",
            detail: {
              ...detail,
              ...(event === "issue" ? { identity: "x@example.org", authz: [], exp: 5000 } : {}),
            },
          });
        }
      });
    } finally {
      await store.close();
    }
    const all = await api.get("/v1/issued-tokens", daemon.adminToken);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(all.body, {
      tokens: [
        {
          jti: "bbbb",
          identity: "x@example.org",
          authorizations: [],
          issuedAt: 1005,
          expiresAt: 5000,
          requestId: "1234567",
          peer: "192.0.2.2",
          how: "approved",
          approvedBy: "admin@tokend-test.example.org",
        },
        {
          jti: "aaaa",
          identity: "x@example.org",
          authorizations: [],
          issuedAt: 1002,
          expiresAt: 5000,
          requestId: "1234567",
          peer: "192.0.2.1",
          how: "auto-approval",
          approvedBy: "auto-approval rule 192.0.2.0/24",
          ruleId: 7,
        },
      ],
    });
    const first = await api.get("/v1/issued-tokens?limit=1", daemon.adminToken);
    assert.deepEqual(first.body.tokens.map((t: { jti: string }) => t.jti), ["bbbb"]);
    assert.match(first.body.next, /^\d+$/);
    const second = await api.get(
      `/v1/issued-tokens?limit=1&before=${first.body.next}`,
      daemon.adminToken,
    );
    assert.deepEqual(second.body.tokens.map((t: { jti: string }) => t.jti), ["aaaa"]);
    const net = await api.get("/v1/issued-tokens?peer=192.0.2.1/32", daemon.adminToken);
    assert.deepEqual(net.body.tokens.map((t: { jti: string }) => t.jti), ["aaaa"]);
    for (const query of ["limit=0", "limit=x", "before=0", "before=abc"]) {
      const bad = await api.get(`/v1/issued-tokens?${query}`, daemon.adminToken);
      assert.deepEqual([bad.status, bad.body.error.code], [400, "BAD_QUERY"], query);
    }
  });
});
