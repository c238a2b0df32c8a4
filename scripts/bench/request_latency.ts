/**
 * Approval-to-token latency as a waiting requester sees it: a real
 * condor_tokend and a real condor_token_request, each in its own process
 * (the requester with the shipped requester's permission flags), on
 * loopback. For each run the requester enqueues and starts its long poll;
 * the clock starts when the administrator's approve call is sent and stops
 * when the token arrives on the requester's stdout.
 *
 *     scripts/deno run --allow-all scripts/bench/request_latency.ts [RUNS]
 *
 * Prints the figures; not a test (timings depend on the machine).
 */
import { httpsDaemonClient } from "../../src/client/https_client.ts";
import { spawnTestDaemon } from "../../tests/_support/daemon.ts";
import { spawnTool } from "../../tests/_support/run_tool.ts";

const ENQUEUED = /approve request (\d{7})\./;
/** Time the requester is left in its long poll before the approval, ms. */
const SETTLE_MS = 150;

const runs = Number(Deno.args[0] ?? 50);
const dir = await Deno.makeTempDir({ prefix: "condor-token-bench-" });
const daemon = await spawnTestDaemon({ dir });
const admin = httpsDaemonClient({
  baseUrl: daemon.url,
  httpClient: Deno.createHttpClient({ caCerts: [daemon.certPem] }),
  credential: () => Promise.resolve(daemon.adminToken),
});

/** One run: returns [approval-to-token ms, approve call round trip ms]. */
async function once(): Promise<[number, number]> {
  const child = spawnTool("condor_token_request", [], { env: daemon.env, requesterFlags: true });
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let id: string | undefined;
  while (id === undefined) {
    const { value, done } = await stderr.read();
    if (done) throw new Error(`requester exited early: ${text}`);
    text += value;
    id = text.match(ENQUEUED)?.[1];
  }
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const start = performance.now();
  const approved = admin.approve(id).then(() => performance.now() - start);
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await stdout.read();
    if (done) throw new Error("requester exited without a token");
    out += value;
  }
  const latency = performance.now() - start;
  const roundTrip = await approved;
  while (!(await stdout.read()).done);
  while (!(await stderr.read()).done);
  const status = await child.status;
  if (status.code !== 0) throw new Error(`requester exited ${status.code}`);
  return [latency, roundTrip];
}

function summary(name: string, values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const median = sorted.length % 2
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const f = (n: number) => n.toFixed(1).padStart(7);
  console.log(
    `${name.padEnd(28)} median ${f(median)} ms   p90 ${f(at(0.9))} ms   worst ${
      f(sorted.at(-1)!)
    } ms   best ${f(sorted[0])} ms`,
  );
}

try {
  const latencies: number[] = [];
  const roundTrips: number[] = [];
  for (let i = 0; i < runs; i++) {
    const [latency, roundTrip] = await once();
    latencies.push(latency);
    roundTrips.push(roundTrip);
  }
  console.log(`${runs} runs, ${Deno.build.target}, Deno ${Deno.version.deno}`);
  summary("approval -> token on stdout", latencies);
  summary("approve call round trip", roundTrips);
} finally {
  admin.close();
  await daemon.stop();
  await Deno.remove(dir, { recursive: true });
}
