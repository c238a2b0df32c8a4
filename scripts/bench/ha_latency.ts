/**
 * Cross-daemon approval latency: two condor_tokend processes (shipped
 * permission flags, HTTPS, each its own certificate) keep their state in
 * one fresh PostgreSQL database; a collect long poll waits on daemon B, an
 * administrator approves on daemon A, and the clock runs from the approve
 * call being sent to the token arriving at the poll on B. A's commit
 * NOTIFYs, B LISTENs and wakes the poll (docs/operations.md, "High
 * availability"). The same is measured with both calls on A, for the cost
 * of the hop. Goal: under 50 ms.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/ha_latency.ts [--rounds=200] [--json=FILE]
 *
 * Needs the PostgreSQL server of tests/_support/postgres.ts (the database is
 * created and dropped here).
 */
import { spawnTestDaemon, testDaemonPaths } from "../../tests/_support/daemon.ts";
import { createTestDatabase } from "../../tests/_support/postgres.ts";
import { numberOption, report, sleep, summarize, summaryLine } from "./_report.ts";

const WARMUP = 5;
const GOAL_MS = 50;
const rounds = numberOption(Deno.args, "rounds", 200);
const database = await createTestDatabase();
const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const extraConfig = `TOKEND_DATABASE = ${database.url}`;
const a = await spawnTestDaemon({ dir: `${dir}/a`, extraConfig });
await Deno.mkdir(`${dir}/b/passwords.d`, { recursive: true, mode: 0o700 });
await Deno.copyFile(
  testDaemonPaths(`${dir}/a`).poolKeyFile,
  testDaemonPaths(`${dir}/b`).poolKeyFile,
);
const b = await spawnTestDaemon({ dir: `${dir}/b`, extraConfig });
const onA = Deno.createHttpClient({ caCerts: [a.certPem] });
const onB = Deno.createHttpClient({ caCerts: [b.certPem] });
const admin = Deno.createHttpClient({ caCerts: [a.certPem] });

async function post(
  client: Deno.HttpClient,
  url: string,
  path: string,
  body: unknown,
  token?: string,
) {
  const response = await fetch(url + path, {
    method: "POST",
    client,
    body: JSON.stringify(body),
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    signal: AbortSignal.timeout(40_000),
  });
  return await response.json();
}

/** One round: enqueue on A, wait on `waiter`, approve on A; ms from approve sent to token. */
async function round(i: number, waiter: { url: string; client: Deno.HttpClient }) {
  const secret = crypto.randomUUID().replace(/-/g, "") + "abcdefgh";
  const enqueued = await post(onA, a.url, "/v1/token-requests", {
    identity: "condor@tokend-test.example.org",
    authz: ["ADVERTISE_STARTD"],
    lifetime: 600,
    clientId: `bench-${i}`,
    secret,
  });
  const id = enqueued.requestId;
  let delivered = 0;
  const waiting = post(waiter.client, waiter.url, `/v1/token-requests/${id}/collect`, {
    secret,
    waitSeconds: 30,
  }).then((reply) => {
    delivered = performance.now();
    if (!reply.token) throw new Error(`round ${i}: no token (${JSON.stringify(reply)})`);
  });
  await sleep(20); // let the collect reach the daemon and start waiting
  const start = performance.now();
  await post(admin, a.url, `/v1/token-requests/${id}/approve`, {}, a.adminToken);
  await waiting;
  return delivered - start;
}

const cross: number[] = [];
const same: number[] = [];
try {
  for (let i = 0; i < rounds + WARMUP; i++) {
    const hop = await round(i, { url: b.url, client: onB });
    const local = await round(i, { url: a.url, client: onA });
    if (i >= WARMUP) {
      cross.push(hop);
      same.push(local);
    }
  }
} finally {
  for (const client of [onA, onB, admin]) client.close();
  await a.stop();
  await b.stop();
  await database.drop();
  await Deno.remove(dir, { recursive: true });
}

const crossSummary = summarize(cross);
const sameSummary = summarize(same);
console.log(summaryLine("approve on A -> token at poll on B", crossSummary));
console.log(summaryLine("approve on A -> token at poll on A", sameSummary));
await report({
  bench: "ha_latency",
  notes: [
    `${crossSummary.n} rounds of each after ${WARMUP} warm-up rounds; two daemon processes on one PostgreSQL database on 127.0.0.1`,
  ],
  figures: [
    {
      name: "PostgreSQL: approve on A -> token at waiting poll on B, median",
      value: crossSummary.median,
      unit: "ms",
      goal: `< ${GOAL_MS} ms`,
      met: crossSummary.median < GOAL_MS,
    },
    {
      name: "PostgreSQL: approve on A -> token at waiting poll on B, p99",
      value: crossSummary.p99,
      unit: "ms",
    },
    {
      name: "PostgreSQL: approve on A -> token at waiting poll on B, worst",
      value: crossSummary.worst,
      unit: "ms",
    },
    {
      name: "PostgreSQL: approve on A -> token at waiting poll on A, median",
      value: sameSummary.median,
      unit: "ms",
    },
  ],
}, Deno.args);
