/**
 * Approval-to-delivery latency: how long after an administrator's approve
 * call returns does a requester, already waiting in a collect long poll,
 * receive its token? Runs a real daemon on 127.0.0.1 (HTTPS, SQLite in a
 * temporary directory) and prints the median, 95th percentile and worst of
 * N rounds. The issue asks for under 100 ms.
 *
 *   NO_COLOR=1 scripts/deno run -A scripts/bench/approval_latency.ts [ROUNDS]
 *
 * The clock starts when the approve call is sent, so the figure includes the
 * approve round trip itself (TLS, authentication, one SQLite transaction)
 * plus minting and delivering the token to the waiting poll.
 */
import { startTestDaemon } from "../../tests/_support/daemon.ts";

const rounds = Number(Deno.args[0] ?? 50);
const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const daemon = await startTestDaemon({ dir });
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
  });
  return await response.json();
}

const samples: number[] = [];
try {
  for (let i = 0; i < rounds + 3; i++) {
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
    await new Promise((r) => setTimeout(r, 20));
    const start = performance.now();
    await post(admin, `/v1/token-requests/${id}/approve`, {}, daemon.adminToken);
    await waiting;
    if (i >= 3) samples.push(delivered - start); // the first rounds warm up TLS and JIT
  }
} finally {
  requester.close();
  admin.close();
  await daemon.close();
  await Deno.remove(dir, { recursive: true });
}

samples.sort((a, b) => a - b);
const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
const ms = (v: number) => `${v.toFixed(2)} ms`;
console.log(`approval-to-delivery latency over ${samples.length} rounds (loopback HTTPS)`);
console.log(`  median ${ms(at(0.5))}`);
console.log(`  p95    ${ms(at(0.95))}`);
console.log(`  worst  ${ms(samples[samples.length - 1])}`);
console.log(`  best   ${ms(samples[0])}`);
