/**
 * Webhook notifications (issue 16.1): how long from an enqueue to its
 * `request.pending` POST arriving at a receiver on loopback, and whether
 * enqueue throughput drops with notifications on. One run, both figures:
 *
 * 1. delay: a daemon (subprocess, shipped flags) notifying a plain-HTTP
 *    receiver on 127.0.0.1 in this process; REQUESTS enqueues one after
 *    another, each timed from sending the enqueue to its POST arriving (one
 *    clock: both ends are in this process).
 * 2. throughput: the load generator (scripts/bench/_load.ts, its own
 *    process) enqueues for SECONDS against a daemon without notifications,
 *    then one with them (same receiver), then without again; the ratio is
 *    against the mean of the two runs without. /metrics says how many events
 *    were sent or dropped.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/notify.ts \
 *       [--requests=300] [--connections=16] [--seconds=10] [--warmup=2] [--json=FILE]
 */
import {
  type SpawnedTestDaemon,
  spawnTestDaemon,
  testDaemonPaths,
} from "../../tests/_support/daemon.ts";
import { newSecret } from "../../tests/_support/api.ts";
import { numberOption, report, sleep, summarize, summaryLine } from "./_report.ts";

const requests = numberOption(Deno.args, "requests", 300);
const connections = numberOption(Deno.args, "connections", 16);
const seconds = numberOption(Deno.args, "seconds", 10);
const warmupSeconds = numberOption(Deno.args, "warmup", 2);
const here = new URL(".", import.meta.url).pathname;

// The receiver: records when each request id's pending event arrived.
const arrivals = new Map<string, number>();
let received = 0;
const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
  const payload = JSON.parse(await req.text());
  received++;
  if (payload.event === "request.pending") arrivals.set(payload.requestId, performance.now());
  return new Response("ok");
});
const hookUrl = `http://127.0.0.1:${receiver.addr.port}/hook`;

async function daemonWith(notify: boolean): Promise<{ daemon: SpawnedTestDaemon; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tokend-bench-notify-" });
  const daemon = await spawnTestDaemon({
    dir,
    extraConfig: "TOKEND_MAX_PENDING_REQUESTS = 100000000\n" +
      (notify ? `TOKEND_NOTIFY_URL = ${hookUrl}\nTOKEND_NOTIFY_QUEUE_SIZE = 100000\n` : ""),
  });
  return { daemon, dir };
}

async function stop({ daemon, dir }: { daemon: SpawnedTestDaemon; dir: string }) {
  await daemon.stop();
  await Deno.remove(dir, { recursive: true });
}

interface LoadResult {
  perSecond: number;
  completed: number;
  statuses: Record<string, number>;
  latencyMs: { median: number; p99: number };
}

async function enqueueLoad(daemon: SpawnedTestDaemon, dir: string): Promise<LoadResult> {
  const jobFile = await Deno.makeTempFile({ prefix: "tokend-load-", suffix: ".json" });
  try {
    await Deno.writeTextFile(
      jobFile,
      JSON.stringify({
        baseUrl: daemon.url,
        caFile: testDaemonPaths(dir).certFile,
        mode: "enqueue",
        connections,
        seconds,
        warmupSeconds,
      }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-net", "--allow-read", `${here}_load.ts`, jobFile],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("load generator failed");
    return JSON.parse(new TextDecoder().decode(out.stdout)) as LoadResult;
  } finally {
    await Deno.remove(jobFile);
  }
}

async function metricsOf(daemon: SpawnedTestDaemon, client: Deno.HttpClient): Promise<string> {
  return await (await fetch(`${daemon.url}/metrics`, { client })).text();
}

function counter(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

// 1. Delay.
const delays: number[] = [];
const enqueueMs: number[] = [];
{
  const running = await daemonWith(true);
  const client = Deno.createHttpClient({ caCerts: [running.daemon.certPem] });
  try {
    for (let i = 0; i < requests; i++) {
      const sent = performance.now();
      const response = await fetch(`${running.daemon.url}/v1/token-requests`, {
        method: "POST",
        client,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          identity: "condor@tokend-test.example.org",
          authz: ["ADVERTISE_STARTD"],
          lifetime: null,
          clientId: `bench-${i}`,
          secret: newSecret(),
        }),
      });
      const { requestId } = await response.json();
      enqueueMs.push(performance.now() - sent);
      const deadline = performance.now() + 10_000;
      while (!arrivals.has(requestId) && performance.now() < deadline) await sleep(0.2);
      const at = arrivals.get(requestId);
      if (at === undefined) throw new Error(`no notification for ${requestId}`);
      delays.push(at - sent);
      await sleep(5);
    }
  } finally {
    client.close();
    await stop(running);
  }
}
const delay = summarize(delays);
console.log(summaryLine("enqueue answered (notifying)", summarize(enqueueMs)));
console.log(summaryLine("enqueue sent -> webhook received", delay));

// 2. Throughput without, with, and without notifications.
const runs: { notify: boolean; perSecond: number; sent?: number; dropped?: number }[] = [];
for (const notify of [false, true, false]) {
  const running = await daemonWith(notify);
  const client = Deno.createHttpClient({ caCerts: [running.daemon.certPem] });
  try {
    const before = received;
    const result = await enqueueLoad(running.daemon, running.dir);
    // Let the queue drain before reading what was sent.
    let metrics = await metricsOf(running.daemon, client);
    const drainUntil = performance.now() + 30_000;
    while (
      notify && counter(metrics, "condor_tokend_notification_queue") > 0 &&
      performance.now() < drainUntil
    ) {
      await sleep(100);
      metrics = await metricsOf(running.daemon, client);
    }
    const sent = counter(metrics, 'condor_tokend_notifications_total{result="sent"}');
    const dropped = counter(metrics, 'condor_tokend_notifications_total{result="dropped"}');
    runs.push({ notify, perSecond: result.perSecond, ...(notify ? { sent, dropped } : {}) });
    console.log(
      `enqueue ${notify ? "with notifications   " : "without notifications"} ${
        result.perSecond.toFixed(0).padStart(6)
      } /s  median ${result.latencyMs.median.toFixed(2)} ms  p99 ${
        result.latencyMs.p99.toFixed(2)
      } ms  statuses ${JSON.stringify(result.statuses)}${
        notify ? `  (events sent ${sent}, dropped ${dropped}, received ${received - before})` : ""
      }`,
    );
  } finally {
    client.close();
    await stop(running);
  }
}
await receiver.shutdown();

const without = (runs[0].perSecond + runs[2].perSecond) / 2;
const withNotify = runs[1].perSecond;
const ratio = withNotify / without;
console.log(
  `\nnotification delay median ${delay.median.toFixed(1)} ms, p99 ${
    delay.p99.toFixed(1)
  } ms | enqueue throughput without ${without.toFixed(0)} /s, with ${
    withNotify.toFixed(0)
  } /s (ratio ${ratio.toFixed(2)})`,
);
await report({
  bench: "notify",
  notes: [
    `${requests} sequential enqueues for the delay; ${connections} connections, ${seconds} s (after ${warmupSeconds} s warm-up) per throughput run`,
    `events sent ${runs[1].sent}, dropped ${runs[1].dropped} in the run with notifications`,
  ],
  figures: [
    { name: "notification delay median", value: delay.median, unit: "ms" },
    { name: "notification delay p99", value: delay.p99, unit: "ms" },
    { name: "enqueue without notifications", value: without, unit: "req/s" },
    { name: "enqueue with notifications", value: withNotify, unit: "req/s" },
    { name: "enqueue throughput with/without", value: ratio, unit: "x" },
  ],
}, Deno.args);
