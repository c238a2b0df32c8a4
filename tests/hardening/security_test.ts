/**
 * Attacks on condor_tokend over real HTTPS (daemon in its own process, the
 * shipped permission flags, default collect rate limit):
 *
 * - brute-forcing collection, with guessed request ids and guessed or
 *   almost-right secrets, is rate-limited (429 with Retry-After) and never
 *   yields a token, and the request stays intact for its real requester;
 * - a token the daemon itself issued through auto-approval cannot be
 *   widened: not to other identities, broader scopes, rules or the daemon
 *   directory;
 * - forgeries that tests/server/tokend_auth_test.ts does not already send
 *   (lower-case or list `alg`, string `exp`, missing `sub` or `jti`, empty
 *   or stripped signature, JSON serialization, a key embedded in the
 *   header) are refused with 401.
 *
 * CONDOR_TOKEN_SEED=N replays a run; CONDOR_TOKEN_HEAVY=1 guesses more.
 */
import assert from "node:assert/strict";
import { newRequesterSecret } from "../../src/client/request_flow.ts";
import { readSigningKey } from "../../src/token/signing_key.ts";
import { spawnTestDaemon, TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { type Answer, apiFor, payloadOf } from "../_support/api.ts";
import { heavy, withSeed } from "./_support.ts";

const LIST = "/v1/token-requests";
const COLLECT_LIMIT = 600;

Deno.test("brute-forcing collection is rate-limited and never yields a token", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({
      dir,
      extraConfig: `TOKEND_COLLECT_RATE_LIMIT = ${COLLECT_LIMIT}`,
    });
    const api = apiFor(daemon);
    const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
    try {
      await withSeed("brute force", async (random) => {
        const prize = await api.enqueue();
        const id = prize.body.requestId as string;
        await api.post(`${LIST}/${id}/approve`, {}, daemon.adminToken);
        const guesses = (heavy() ? 3 : 1) * (COLLECT_LIMIT + 200);
        const statuses = new Map<number, number>();
        let retryAfter: string | null = null;
        const started = performance.now();
        let next = 0;
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (next < guesses) {
            const n = next++;
            const guessId = n % 3 === 0 ? String(random.int(10_000_000)).padStart(7, "0") : id;
            const secret = n % 3 === 2
              // One character off the real secret.
              ? prize.secret.slice(0, -1) + (prize.secret.endsWith("A") ? "B" : "A")
              : newRequesterSecret();
            const action = n % 5 === 4 ? "cancel" : "collect";
            const response = await fetch(`${daemon.url}${LIST}/${guessId}/${action}`, {
              method: "POST",
              client,
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ secret, waitSeconds: 0 }),
            });
            const body = await response.json();
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
            assert.equal(body.token, undefined, `a guess got a token: ${JSON.stringify(body)}`);
            assert.ok(
              [403, 404, 429].includes(response.status),
              `${action} ${guessId}: ${response.status} ${JSON.stringify(body)}`,
            );
            if (response.status === 429) {
              assert.equal(body.error.code, "RATE_LIMITED");
              retryAfter = response.headers.get("retry-after");
            }
          }
        }));
        const seconds = (performance.now() - started) / 1000;
        const answered = guesses - (statuses.get(429) ?? 0);
        // A bucket of a minute's worth, refilled at the per-minute rate while the attack ran.
        const allowance = COLLECT_LIMIT + Math.ceil(seconds * COLLECT_LIMIT / 60) + 1;
        assert.ok(answered <= allowance, `${answered} guesses answered; allowance ${allowance}`);
        assert.ok((statuses.get(429) ?? 0) > 0, "the limit was hit");
        assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);

        // Intact for the real requester, once the limit lets it through again.
        await new Promise((resolve) => setTimeout(resolve, Number(retryAfter) * 1000 + 200));
        const real = await api.post(`${LIST}/${id}/collect`, {
          secret: prize.secret,
          waitSeconds: 0,
        });
        assert.equal(real.status, 200, JSON.stringify(real.body));
        assert.equal(payloadOf(real.body.token).sub, `condor@${TEST_TRUST_DOMAIN}`);
      });
    } finally {
      client.close();
      api.close();
      await daemon.stop();
    }
    const log = daemon.stderr();
    assert.doesNotMatch(log, / condor_tokend: error /);
  });
});

Deno.test("a token the daemon issued by auto-approval cannot be widened", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    const api = apiFor(daemon);
    try {
      const rule = await api.post(
        "/v1/auto-approval-rules",
        { netblock: "127.0.0.1/32", lifetime: 600 },
        daemon.adminToken,
      );
      assert.equal(rule.status, 200);
      const issued = await api.enqueue({ authz: ["ADVERTISE_STARTD"], lifetime: 600 });
      const token = issued.body.token as string;
      assert.equal(payloadOf(token).scope, "condor:/ADVERTISE_STARTD");
      // condor@TRUST_DOMAIN is an administrator identity; its scope is what stops it.
      const other = await api.call("POST", LIST, {
        body: {
          identity: `alice@${TEST_TRUST_DOMAIN}`,
          authz: ["READ"],
          lifetime: 60,
          clientId: "c",
          secret: newRequesterSecret(),
        },
      });
      const ownBroader = await api.call("POST", LIST, {
        body: {
          identity: `condor@${TEST_TRUST_DOMAIN}`,
          authz: ["ADMINISTRATOR"],
          lifetime: 60,
          clientId: "c",
          secret: newRequesterSecret(),
        },
      });
      const ownUnrestricted = await api.call("POST", LIST, {
        body: {
          identity: `condor@${TEST_TRUST_DOMAIN}`,
          authz: [],
          lifetime: 60,
          clientId: "c",
          secret: newRequesterSecret(),
        },
      });
      const refusals: [string, () => Promise<Answer>, string][] = [
        [
          "approve another identity",
          () => api.post(`${LIST}/${other.body.requestId}/approve`, {}, token),
          "NOT_AUTHORIZED",
        ],
        [
          "deny another identity",
          () => api.post(`${LIST}/${other.body.requestId}/deny`, {}, token),
          "NOT_AUTHORIZED",
        ],
        [
          "approve a broader scope",
          () => api.post(`${LIST}/${ownBroader.body.requestId}/approve`, {}, token),
          "SCOPE_RESTRICTED",
        ],
        [
          "approve an unrestricted token",
          () => api.post(`${LIST}/${ownUnrestricted.body.requestId}/approve`, {}, token),
          "SCOPE_RESTRICTED",
        ],
        [
          "fetch ADMINISTRATOR",
          () => api.post("/v1/tokens", { authz: ["ADMINISTRATOR"], lifetime: 60 }, token),
          "AUTHZ_NOT_ALLOWED",
        ],
        [
          "install a rule",
          () => api.post("/v1/auto-approval-rules", { netblock: "0.0.0.0/0", lifetime: 60 }, token),
          "NOT_AUTHORIZED",
        ],
        [
          "advertise a daemon",
          () =>
            api.post("/v1/daemons", {
              name: "evil",
              type: "COLLECTOR",
              address: "https://evil:9618",
            }, token),
          "NOT_AUTHORIZED",
        ],
      ];
      for (const [what, attempt, code] of refusals) {
        const answer = await attempt();
        assert.deepEqual([answer.status, answer.body.error?.code], [403, code], what);
      }
      const listed = await api.get(LIST, token);
      assert.equal(listed.status, 200);
      for (const r of listed.body.requests) {
        assert.equal(r.requestedIdentity, `condor@${TEST_TRUST_DOMAIN}`, "only its own identity");
      }
      const fetched = await api.post("/v1/tokens", { authz: [], lifetime: null }, token);
      assert.equal(fetched.status, 200);
      const claims = payloadOf(fetched.body.token);
      assert.equal(claims.scope, "condor:/ADVERTISE_STARTD", "fetch keeps the caller's scope");
      assert.ok(
        typeof claims.exp === "number" && claims.exp <= (payloadOf(token).exp as number),
        "fetch never outlives the caller's token",
      );
      const state = await api.get(`${LIST}?reqid=${other.body.requestId}`, daemon.adminToken);
      assert.equal(state.body.requests[0].state, "pending", "nothing was decided");
    } finally {
      api.close();
      await daemon.stop();
    }
  });
});

Deno.test("forged tokens the server tests do not already send are refused with 401", async () => {
  await withTempDir(async (dir) => {
    const daemon = await spawnTestDaemon({ dir });
    const api = apiFor(daemon);
    try {
      const paths = testDaemonPaths(dir);
      const key = await readSigningKey("POOL", {
        poolKeyFile: paths.poolKeyFile,
        passwordDirectory: paths.passwordDirectory,
      });
      const b64 = (text: string) =>
        btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      /** Signs exact header and payload texts with the real POOL key. */
      const sign = async (header: unknown, payload: unknown) => {
        const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
        const mac = new Uint8Array(
          await crypto.subtle.sign("HMAC", key.hmac, new TextEncoder().encode(input)),
        );
        return `${input}.${b64(String.fromCharCode(...mac))}`;
      };
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: TEST_TRUST_DOMAIN,
        sub: `condor@${TEST_TRUST_DOMAIN}`,
        iat: now,
        jti: "f".repeat(32),
      };
      const good = await sign({ alg: "HS256", kid: "POOL" }, claims);
      assert.equal((await api.get(LIST, good)).status, 200, "the signer itself is right");
      const [h, p] = good.split(".");
      const cases: [string, string][] = [
        ["lower-case alg", await sign({ alg: "hs256", kid: "POOL" }, claims)],
        ["alg as a list", await sign({ alg: ["HS256"], kid: "POOL" }, claims)],
        ["kid as a list", await sign({ alg: "HS256", kid: ["POOL"] }, claims)],
        [
          "exp as a string",
          await sign({ alg: "HS256", kid: "POOL" }, { ...claims, exp: "9999999999" }),
        ],
        [
          "expired a second ago",
          await sign({ alg: "HS256", kid: "POOL" }, { ...claims, exp: now - 1 }),
        ],
        ["no sub", await sign({ alg: "HS256", kid: "POOL" }, { ...claims, sub: undefined })],
        ["empty sub", await sign({ alg: "HS256", kid: "POOL" }, { ...claims, sub: "" })],
        ["no jti", await sign({ alg: "HS256", kid: "POOL" }, { ...claims, jti: undefined })],
        [
          "iss a list",
          await sign({ alg: "HS256", kid: "POOL" }, { ...claims, iss: [TEST_TRUST_DOMAIN] }),
        ],
        [
          "scope a list",
          await sign({ alg: "HS256", kid: "POOL" }, {
            ...claims,
            scope: ["condor:/ADMINISTRATOR"],
          }),
        ],
        ["payload not an object", await sign({ alg: "HS256", kid: "POOL" }, [claims])],
        ["empty signature", `${h}.${p}.`],
        ["no signature part", `${h}.${p}`],
        ["four parts", `${good}.${p}`],
        [
          "JSON serialization",
          JSON.stringify({ protected: h, payload: p, signature: good.split(".")[2] }),
        ],
        [
          "embedded key",
          await sign(
            { alg: "HS256", kid: "POOL", jwk: { kty: "oct", k: b64("attacker") } },
            { ...claims, sub: "mallory@evil" },
          ).then((t) => t.split(".").slice(0, 2).join(".") + "." + b64("x".repeat(32))),
        ],
        ["crit header", await sign({ alg: "HS256", kid: "POOL", crit: ["exp"] }, claims)],
      ];
      for (const [name, token] of cases) {
        const answer = await api.get(LIST, token);
        assert.equal(answer.status, 401, `${name}: ${JSON.stringify(answer.body)}`);
        assert.match(answer.body.error.code, /^TOKEN_/, name);
        assert.ok(!JSON.stringify(answer.body).includes(token), `${name}: token echoed`);
      }
    } finally {
      api.close();
      await daemon.stop();
    }
  });
});
