/**
 * Approval-to-token latency as a waiting requester sees it: a real
 * condor_tokend and a real condor_token_request, each in its own process
 * (the requester with the shipped requester's permission flags), on
 * loopback. For each run the requester enqueues and starts its long poll;
 * the clock starts when the administrator's approve call is sent and stops
 * when the token arrives on the requester's stdout. HTCondor's own requester
 * polls every 5 s (2.5 s on average); the goal is a median under 50 ms.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/request_latency.ts [--runs=100] [--json=FILE]
 *
 * Prints the figures; not a test (timings depend on the machine).
 */
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { spawnTestDaemon } from "../../tests/_support/daemon.ts";
import { spawnTool } from "../../tests/_support/run_tool.ts";
import { numberOption, report, sleep, summarize, summaryLine } from "./_report.ts";

const ENQUEUED = /approve request (\d{7})\./;
/** Time the requester is left in its long poll before the approval, ms. */
const SETTLE_MS = 150;
/** The goal for the median, ms. */
const GOAL_MS = 50;

const runs = numberOption(Deno.args, "runs", 100);
const dir = await Deno.makeTempDir({ prefix: "condor-token-bench-" });
const daemon = await spawnTestDaemon({ dir });
const admin = pinnedHttpsClient(daemon.url, daemon.fingerprint, {
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
  await sleep(SETTLE_MS);
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

const latencies: number[] = [];
const roundTrips: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const [latency, roundTrip] = await once();
    latencies.push(latency);
    roundTrips.push(roundTrip);
  }
} finally {
  admin.close();
  await daemon.stop();
  await Deno.remove(dir, { recursive: true });
}

const latency = summarize(latencies);
const approve = summarize(roundTrips);
console.log(`${runs} runs, ${Deno.build.target}, Deno ${Deno.version.deno}`);
console.log(summaryLine("approval -> token on stdout", latency));
console.log(summaryLine("approve call round trip", approve));
await report({
  bench: "request_latency",
  notes: [
    `${latency.n} runs, one condor_token_request process each (requester's shipped flags)`,
    "anchor: HTCondor's requester polls every 5 s, 2.5 s on average",
  ],
  figures: [
    {
      name: "requester: approval -> token on stdout, median",
      value: latency.median,
      unit: "ms",
      goal: `< ${GOAL_MS} ms`,
      met: latency.median < GOAL_MS,
    },
    { name: "requester: approval -> token on stdout, p99", value: latency.p99, unit: "ms" },
    { name: "requester: approval -> token on stdout, worst", value: latency.worst, unit: "ms" },
    { name: "requester: approve call round trip, median", value: approve.median, unit: "ms" },
  ],
}, Deno.args);
