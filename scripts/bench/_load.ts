/**
 * The load generator of scripts/bench/throughput.ts, run in a process of its
 * own so it never shares an event loop with the server it measures. Opens
 * CONNECTIONS HTTP/1.1 keep-alive connections over TLS (one
 * `Deno.createHttpClient` each, HTTP/2 off) to BASE_URL and keeps one call
 * in flight on each, for a warm-up and then SECONDS, then prints one JSON
 * line: completed calls, calls per second, status counts and latency
 * percentiles of the measured part.
 *
 *     deno run --allow-net --allow-read _load.ts JOB.json
 *
 * JOB.json: { baseUrl, caFile, mode, connections, seconds, warmupSeconds,
 *             requests? } where mode is
 *   "get"     GET / (the bare server's constant answer)
 *   "post"    POST / with the body an enqueue sends (the bare server parses it)
 *   "enqueue" POST /v1/token-requests, a new request (fresh secret) per call
 *   "collect" POST /v1/token-requests/{id}/collect, waitSeconds 0, on the
 *             pending request `requests[connection]` ({ id, secret })
 */
import { percentile } from "./_report.ts";

interface Job {
  baseUrl: string;
  caFile: string;
  mode: "get" | "post" | "enqueue" | "collect";
  connections: number;
  seconds: number;
  warmupSeconds: number;
  requests?: { id: string; secret: string }[];
}

const job: Job = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const caCert = await Deno.readTextFile(job.caFile);
const run = crypto.randomUUID().replace(/-/g, "");

let measuring = false;
let stop = false;
let completed = 0;
const statuses = new Map<number, number>();
const latencies: number[] = [];

/** An enqueue call's body: a fresh secret per call, so each one is a new request. */
function enqueueBody(worker: number, n: number): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      identity: "condor@tokend-test.example.org",
      authz: ["ADVERTISE_STARTD"],
      lifetime: 600,
      clientId: `load-${worker}`,
      secret: `${run}-${worker}-${n}`.padEnd(43, "x"),
    }),
  };
}

function call(worker: number, n: number): [string, RequestInit] {
  switch (job.mode) {
    case "get":
      return [job.baseUrl + "/", { method: "GET" }];
    case "post":
      return [job.baseUrl + "/", enqueueBody(worker, n)];
    case "enqueue":
      return [job.baseUrl + "/v1/token-requests", enqueueBody(worker, n)];
    case "collect": {
      const request = job.requests![worker % job.requests!.length];
      return [job.baseUrl + `/v1/token-requests/${request.id}/collect`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ secret: request.secret, waitSeconds: 0 }),
      }];
    }
  }
}

async function worker(index: number): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [caCert], http2: false, http1: true });
  try {
    for (let n = 0; !stop; n++) {
      const [url, init] = call(index, n);
      const started = performance.now();
      const response = await fetch(url, { ...init, client });
      await response.arrayBuffer();
      if (measuring && !stop) {
        completed++;
        latencies.push(performance.now() - started);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    }
  } finally {
    client.close();
  }
}

const workers = Array.from({ length: job.connections }, (_, i) => worker(i));
await new Promise((r) => setTimeout(r, job.warmupSeconds * 1000));
measuring = true;
const started = performance.now();
await new Promise((r) => setTimeout(r, job.seconds * 1000));
stop = true;
const elapsed = (performance.now() - started) / 1000;
await Promise.all(workers);
latencies.sort((a, b) => a - b);
console.log(JSON.stringify({
  mode: job.mode,
  connections: job.connections,
  seconds: elapsed,
  completed,
  perSecond: completed / elapsed,
  statuses: Object.fromEntries(statuses),
  latencyMs: {
    median: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  },
}));
