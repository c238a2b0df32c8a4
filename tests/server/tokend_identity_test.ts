/**
 * Identities are what they look like. `condor@DOMAIN\0.evil.org` used to
 * pass validation: the audit line showed the whole string, the list and
 * the token `condor@DOMAIN` (node:sqlite reads text back only up to a NUL).
 * Requester-supplied text that does not show as itself (control,
 * bidirectional, zero-width characters, lone surrogates) is now refused
 * with a 400 naming the field, and what the list, the audit trail, the log
 * and the token show is byte for byte what was asked for.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/condor_config.ts";
import { startTokend, type Tokend } from "../../src/server/tokend.ts";
import { readAuditTrail } from "../_support/audit_trail.ts";
import { prepareTestDaemonDir, TEST_ADMIN, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { type Api, apiFor, newSecret } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";
import { mintToken } from "../../src/token/idtoken.ts";
import { readSigningKey } from "../../src/token/signing_key.ts";

const LIST = "/v1/token-requests";
const DOMAIN = "tokend-test.example.org";

/** The claims of a token, decoded as UTF-8 (atob alone would give Latin-1). */
function claimsOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(part + "===".slice((part.length + 3) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
}

/** The UTF-8 bytes of a string, for comparisons that mean byte for byte. */
const bytes = (text: unknown) => new TextEncoder().encode(String(text));

Deno.test("condor_tokend refuses identities that are not what they look like", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const cases: [string, string][] = [
      [`condor@${DOMAIN}\u0000.evil.org`, "U+0000"],
      ["a\u0000b@c", "U+0000"],
      [`condor@${DOMAIN}\u202e`, "U+202E"],
      [`\u202econdor@${DOMAIN}`, "U+202E"],
      [`condor@\u2066${DOMAIN}\u2069`, "U+2066"],
      [`condor\u200b@${DOMAIN}`, "U+200B"],
      [`condor\u200d@${DOMAIN}`, "U+200D"],
      [`condor@${DOMAIN}\u200e`, "U+200E"],
      [`condor@${DOMAIN}\u061c`, "U+061C"],
      [`\ufeffcondor@${DOMAIN}`, "U+FEFF"],
      [`condor@${DOMAIN}\u0085`, "U+0085"],
      [`condor@${DOMAIN}\u007f`, "U+007F"],
      [`condor@${DOMAIN}\ud800`, "U+D800"],
    ];
    for (const [identity, character] of cases) {
      const answer = await api.enqueue({ identity });
      assert.deepEqual(
        [answer.status, answer.body.error?.code, answer.body.error?.message],
        [
          400,
          "BAD_IDENTITY",
          `Cannot enqueue token request: identity contains ${character}, a control or invisible character`,
        ],
        JSON.stringify(identity),
      );
    }
    for (const [clientId, character] of [["w\u202e71", "U+202E"], ["w\u200b", "U+200B"]]) {
      const answer = await api.enqueue({ clientId });
      assert.deepEqual(
        [answer.status, answer.body.error?.code, answer.body.error?.message],
        [
          400,
          "BAD_CLIENT_ID",
          `Cannot enqueue token request: client id contains ${character}, a control or invisible character`,
        ],
      );
    }
    const listed = await api.get(LIST, daemon.adminToken);
    assert.deepEqual(listed.body.requests, [], "nothing was queued");
  });
});

Deno.test("condor_tokend refuses deny reasons with hidden characters instead of changing them", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const { body } = await api.enqueue();
    for (
      const [reason, character] of [["no\u0000", "U+0000"], ["a\nb", "U+000A"], [
        "x\u202e",
        "U+202E",
      ]]
    ) {
      const answer = await api.post(
        `${LIST}/${body.requestId}/deny`,
        { reason },
        daemon.adminToken,
      );
      assert.deepEqual(
        [answer.status, answer.body.error?.code, answer.body.error?.message],
        [
          400,
          "BAD_REASON",
          `Cannot deny token request: reason contains ${character}, a control or invisible character`,
        ],
      );
    }
    const still = await api.get(`${LIST}?reqid=${body.requestId}`, daemon.adminToken);
    assert.equal(still.body.requests[0].state, "pending");
  });
});

Deno.test("condor_tokend refuses a token whose subject hides characters", async () => {
  await withDaemon({}, async ({ daemon, api }) => {
    const token = await daemon.mintToken(`${TEST_ADMIN}\u0000.evil.org`);
    const answer = await api.get(LIST, token);
    assert.deepEqual([answer.status, answer.body.error.code], [401, "TOKEN_BAD_SUBJECT"]);
  });
});

Deno.test("condor_tokend shows, audits, logs and signs a non-ASCII identity byte for byte as asked", async () => {
  await withTempDir(async (dir) => {
    const identity = "jörg@example.org";
    const clientId = "büro-7 (Zürich)";
    const paths = await prepareTestDaemonDir(dir);
    const env: Record<string, string> = { CONDOR_CONFIG: paths.configPath, HOME: paths.home };
    const config = await loadConfig({
      env: { get: (n) => env[n] },
      hostname: "tokend.example.org",
    });
    const logs: string[] = [];
    const tokend: Tokend = await startTokend({ config, port: 0, log: (l) => logs.push(l) });
    const api: Api = apiFor({ url: tokend.url, certPem: tokend.certPem! });
    try {
      const admin = (await mintToken(
        await readSigningKey("POOL", { poolKeyFile: paths.poolKeyFile, passwordDirectory: "" }),
        {
          identity: TEST_ADMIN,
          issuer: DOMAIN,
          now: Math.floor(Date.now() / 1000),
          lifetime: 600,
          authz: [],
        },
      )).token;
      const secret = newSecret();
      const enqueued = await api.enqueue({ identity, clientId, secret, authz: ["READ"] });
      assert.equal(enqueued.status, 201);
      const id = enqueued.body.requestId;

      const listed = (await api.get(`${LIST}?reqid=${id}`, admin)).body.requests[0];
      assert.deepEqual(bytes(listed.requestedIdentity), bytes(identity));
      assert.deepEqual(bytes(listed.clientId), bytes(clientId));

      assert.equal((await api.post(`${LIST}/${id}/approve`, undefined, admin)).status, 200);
      const collected = await api.post(`${LIST}/${id}/collect`, { secret, waitSeconds: 0 });
      assert.deepEqual(bytes(claimsOf(collected.body.token).sub), bytes(identity));

      const trail = readAuditTrail(testDaemonPaths(dir).stateDirectory)
        .filter((r) => r.request_id === id);
      assert.deepEqual(trail.map((r) => r.event), ["enqueue", "approve", "issue"]);
      for (const row of trail) {
        assert.deepEqual(bytes(JSON.parse(row.detail).identity), bytes(identity), row.event);
      }
      assert.deepEqual(bytes(JSON.parse(trail[0].detail).clientId), bytes(clientId));
      for (const event of ["enqueue", "approve", "issue"]) {
        const line = logs.find((l) => l.startsWith(`audit ${event} request=${id}`));
        assert.ok(line?.includes(` identity=${JSON.stringify(identity)}`), `${event}: ${line}`);
      }
    } finally {
      api.close();
      await tokend.shutdown();
    }
  });
});
