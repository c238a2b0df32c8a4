/**
 * Approval-to-delivery latency at the API: how long after an administrator
 * sends an approve call does a collect long poll, already waiting, receive
 * its token? A real condor_tokend in its own process (the shipped
 * permission flags, HTTPS, SQLite in a temporary directory) and plain
 * `fetch` clients on 127.0.0.1. This is the floor under what a real
 * requester sees (scripts/bench/request_latency.ts measures that).
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/approval_latency.ts [--rounds=200] [--json=FILE]
 *
 * The clock starts when the approve call is sent, so the figure includes the
 * approve round trip (TLS, authentication, one SQLite transaction with
 * fsync) plus minting the token and answering the waiting poll.
 */
import { spawnTestDaemon } from "../../tests/_support/daemon.ts";
import { numberOption, report, sleep, summarize, summaryLine } from "./_report.ts";

const WARMUP = 5;
const rounds = numberOption(Deno.args, "rounds", 200);
const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const daemon = await spawnTestDaemon({ dir });
// Two clients, as in life: the requester's and the administrator's connections.
const requester = Deno.createHttpClient({ caCerts: [daemon.certPem] });
const admin = Deno.createHttpClient({ caCerts: [daemon.certPem] });

async function post(client: Deno.HttpClient, path: string, body: unknown, token?: string) {
  const response = await fetch(daemon.url + path, {
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

const latencies: number[] = [];
const approveCalls: number[] = [];
try {
  for (let i = 0; i < rounds + WARMUP; i++) {
    const secret = crypto.randomUUID().replace(/-/g, "") + "abcdefgh";
    const enqueued = await post(requester, "/v1/token-requests", {
      identity: "condor@tokend-test.example.org",
      authz: ["ADVERTISE_STARTD"],
      lifetime: 600,
      clientId: `bench-${i}`,
      secret,
    });
    const id = enqueued.requestId;
    let delivered = 0;
    const waiting = post(requester, `/v1/token-requests/${id}/collect`, {
      secret,
      waitSeconds: 30,
    }).then((reply) => {
      delivered = performance.now();
      if (!reply.token) throw new Error(`round ${i}: no token (${JSON.stringify(reply)})`);
    });
    // Let the collect reach the daemon and start waiting.
    await sleep(20);
    const start = performance.now();
    await post(admin, `/v1/token-requests/${id}/approve`, {}, daemon.adminToken);
    const approved = performance.now();
    await waiting;
    if (i >= WARMUP) { // the first rounds warm up TLS and the JIT
      latencies.push(delivered - start);
      approveCalls.push(approved - start);
    }
  }
} finally {
  requester.close();
  admin.close();
  await daemon.stop();
  await Deno.remove(dir, { recursive: true });
}

const latency = summarize(latencies);
const approve = summarize(approveCalls);
console.log(summaryLine("approve sent -> token at poll", latency));
console.log(summaryLine("approve call round trip", approve));
await report({
  bench: "approval_latency",
  notes: [
    `${latency.n} rounds after ${WARMUP} warm-up rounds; fetch clients, daemon in its own process`,
  ],
  figures: [
    {
      name: "API: approve sent -> token at waiting poll, median",
      value: latency.median,
      unit: "ms",
    },
    { name: "API: approve sent -> token at waiting poll, p99", value: latency.p99, unit: "ms" },
    { name: "API: approve call round trip, median", value: approve.median, unit: "ms" },
  ],
}, Deno.args);
