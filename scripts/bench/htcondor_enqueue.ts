/**
 * Enqueue throughput and memory, ours against HTCondor's collector.
 * HTCondor holds at most 1,000 pending requests (and has no way to remove
 * one but approval or an hour's expiry), so each run fills a fresh daemon
 * with `--count` (1,000) new pending requests, `--concurrency` (16) in
 * flight (the first tenth warms up and is not timed); then the daemon's
 * resident memory is read with them pending.
 *
 * The load comes from a process of its own (scripts/bench/_compare_load.ts):
 * for condor_tokend Deno's own `fetch` over HTTPS (HTTP and TLS in Rust,
 * the cheapest client at hand, so that the daemon sets the pace), for the
 * collector this project's CEDAR client (the only one here). Two ways to
 * connect:
 *
 * - new connections: a new client per request: a new TCP connection and
 *   TLS handshake each (CEDAR: a new security session each, its ECDH and
 *   TLS inside the protocol, as a new host has);
 * - keep-alive: one client per worker, reused: HTTPS keep-alive (one TCP
 *   connection per worker); CEDAR runs one command per TCP connection, so
 *   there it is the security session that is kept (resumed, no handshake)
 *   and each request still opens a TCP connection.
 *
 * The daemon's CPU time (from /proc) is charged per request: unlike the
 * rate, it does not depend on how fast the load generator is.
 *
 * Memory: RSS of the condor_tokend process and of condor_collector (not
 * its condor_master), idle (just started, nothing pending) and with the
 * requests of the new-connections run pending. `--repeats` (3) runs of
 * each, on fresh daemons; medians.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/htcondor_enqueue.ts \
 *         [--count=1000] [--concurrency=16] [--repeats=3] [--settle-ms=2000] [--json=FILE]
 *
 * The HTCondor side needs CONDOR_TOKEN_HTCONDOR_PREFIX and root; without a
 * prefix its column says so.
 */
import { spawnTestDaemon, testDaemonPaths } from "../../tests/_support/daemon.ts";
import { PREFIX } from "../../tests/_support/htcondor_pool.ts";
import {
  type Cell,
  type MeasuredLoad,
  NO_HTCONDOR,
  reportComparison,
  type Row,
  runLoad,
} from "./_compare.ts";
import { startPool } from "./_htcondor.ts";
import { numberOption, rssMiB, sleep, summarize } from "./_report.ts";
import { exitOnSignals, Teardown } from "./_teardown.ts";

const count = numberOption(Deno.args, "count", 1000);
const concurrency = numberOption(Deno.args, "concurrency", 16);
const repeats = numberOption(Deno.args, "repeats", 3);
/** Time the daemon is left alone before its memory is read. */
const SETTLE_MS = numberOption(Deno.args, "settle-ms", 2000);
const TRUST_DOMAIN = "bench.example";

const teardown = new Teardown();
exitOnSignals(teardown, "htcondor_enqueue");

/** One fill of one daemon. */
interface Fill {
  load: MeasuredLoad;
  rssIdle: number;
  rssFull: number;
}

const ours: { fresh: Fill[]; kept: Fill[] } = { fresh: [], kept: [] };
const theirs: { fresh: Fill[]; kept: Fill[] } = { fresh: [], kept: [] };
const notes: string[] = [];
try {
  const dir = teardown.dir(await Deno.makeTempDir({ prefix: "condor-token-bench-enqueue-" }));
  if (PREFIX) await Deno.chmod(dir, 0o755);
  for (let i = 0; i < repeats; i++) {
    for (const reuse of [false, true]) {
      (reuse ? ours.kept : ours.fresh).push(await fillOurs(dir, reuse));
      if (PREFIX) (reuse ? theirs.kept : theirs.fresh).push(await fillTheirs(dir, reuse));
    }
  }
} finally {
  await teardown.run();
}

const rate = (fills: Fill[]): Cell =>
  fills.length === 0
    ? { missing: NO_HTCONDOR }
    : fills.some((f) => f.load.failureCount > 0)
    ? { missing: `${fills.reduce((n, f) => n + f.load.failureCount, 0)} refused or failed` }
    : summarize(fills.map((f) => f.load.perSecond)).median;
const cpu = (fills: Fill[]): Cell =>
  fills.length === 0
    ? { missing: NO_HTCONDOR }
    : summarize(fills.map((f) => f.load.serverCpuMs / f.load.count)).median;
const memory = (fills: Fill[], which: "rssIdle" | "rssFull"): Cell =>
  fills.length === 0 ? { missing: NO_HTCONDOR } : summarize(fills.map((f) => f[which])).median;

const n = count.toLocaleString("en-US");
const rows: Row[] = [
  {
    figure: `enqueue rate, ${n} pending requests, a new connection each`,
    unit: "req/s",
    kind: "rate",
    ours: rate(ours.fresh),
    htcondor: rate(theirs.fresh),
  },
  {
    figure: `enqueue rate, ${n} pending requests, keep-alive`,
    unit: "req/s",
    kind: "rate",
    ours: rate(ours.kept),
    htcondor: rate(theirs.kept),
  },
  {
    figure: "daemon CPU time per enqueue, new connections",
    unit: "ms",
    kind: "time",
    ours: cpu(ours.fresh),
    htcondor: cpu(theirs.fresh),
  },
  {
    figure: "daemon CPU time per enqueue, keep-alive",
    unit: "ms",
    kind: "time",
    ours: cpu(ours.kept),
    htcondor: cpu(theirs.kept),
  },
  {
    figure: "daemon memory (RSS), idle",
    unit: "MiB",
    kind: "size",
    ours: memory(ours.fresh, "rssIdle"),
    htcondor: memory(theirs.fresh, "rssIdle"),
  },
  {
    figure: `daemon memory (RSS) with ${n} requests pending`,
    unit: "MiB",
    kind: "size",
    ours: memory(ours.fresh, "rssFull"),
    htcondor: memory(theirs.fresh, "rssFull"),
  },
];
const legend = [
  `enqueue: a fresh daemon is filled with ${n} new pending requests (HTCondor holds at most 1,000), ${concurrency} in flight, from a load generator in its own process: Deno's fetch (HTTP and TLS in Rust) for condor_tokend, this project's CEDAR client for the collector; the rate runs from the end of the first ${warmupCalls()} (warm-up) to the last. Median of ${repeats} runs, each on a fresh daemon`,
  "a new connection each: a new TCP connection and full TLS handshake per request; for the collector a new security session per request (ECDH, then TLS inside CEDAR), as a new host has. Keep-alive: ours reuses one HTTPS connection per worker; CEDAR runs one command per TCP connection, so there the security session is kept (resumed, no handshake) and each request still opens a TCP connection",
  "daemon CPU time per enqueue: user + system CPU time of condor_tokend or condor_collector during the run (from /proc), divided by the requests",
  `memory: resident set size of the condor_tokend process and of condor_collector alone (its condor_master not counted), idle after start-up, and with the requests of the new-connections run pending, after ${
    SETTLE_MS / 1000
  } s of quiet`,
];
await reportComparison({ bench: "htcondor_enqueue", rows, legend, notes }, Deno.args);

/** Fills a fresh condor_tokend with `count` pending requests. */
async function fillOurs(parent: string, reuse: boolean): Promise<Fill> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "tokend-" });
  const daemon = await spawnTestDaemon({
    dir,
    extraConfig: `TOKEND_MAX_PENDING_REQUESTS = ${Math.max(1000, count)}`,
  });
  const unregister = teardown.add("stop condor_tokend", async () => void await daemon.stop());
  try {
    const paths = testDaemonPaths(dir);
    await sleep(SETTLE_MS);
    const rssIdle = await rssMiB(daemon.child.pid);
    const load = await runLoad(teardown, {
      mode: "enqueue",
      url: daemon.url,
      caFile: paths.certFile,
      count,
      concurrency,
      reuse,
      warmup: warmupCalls(),
      identity: "bench@tokend-test.example.org",
      authz: ["READ"],
    }, { serverPid: daemon.child.pid });
    await sleep(SETTLE_MS);
    const rssFull = await rssMiB(daemon.child.pid);
    return record("ours", reuse, { load, rssIdle, rssFull });
  } finally {
    unregister();
    await daemon.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Fills a fresh collector with `count` pending requests. */
async function fillTheirs(parent: string, reuse: boolean): Promise<Fill> {
  const running = await startPool(teardown, parent, {
    trustDomain: TRUST_DOMAIN,
    extraConfig: ["COLLECTOR_DEBUG ="],
  });
  try {
    await sleep(SETTLE_MS);
    const rssIdle = await rssMiB(running.collectorPid);
    const load = await runLoad(teardown, {
      mode: "enqueue",
      url: `cedar://${running.pool.hostAddress}`,
      caFile: running.pool.caFile,
      count,
      concurrency,
      reuse,
      warmup: warmupCalls(),
      identity: `bench@${TRUST_DOMAIN}`,
      authz: ["READ"],
    }, { serverPid: running.collectorPid });
    await sleep(SETTLE_MS);
    const rssFull = await rssMiB(running.collectorPid);
    return record("HTCondor", reuse, { load, rssIdle, rssFull });
  } finally {
    await running.stop();
  }
}

/** The first tenth of a run warms up and is not timed. */
function warmupCalls(): number {
  return Math.floor(count / 10);
}

function record(side: string, reuse: boolean, fill: Fill): Fill {
  const { load } = fill;
  const note = `${side}, ${reuse ? "keep-alive" : "new connections"}: ${load.count} enqueues in ${
    (load.allMs / 1000).toFixed(2)
  } s, ${
    load.perSecond.toFixed(0)
  } req/s after the first ${warmupCalls()}, ${load.failureCount} failed${
    load.failureCount ? ` ${JSON.stringify(load.failures.slice(0, 2))}` : ""
  }; latency median ${load.eachMs.median.toFixed(1)} ms, p99 ${
    load.eachMs.p99.toFixed(1)
  } ms; daemon CPU ${(load.serverCpuMs / 1000).toFixed(2)} s, load generator CPU ${
    (load.clientCpuMs / 1000).toFixed(2)
  } s; RSS ${fill.rssIdle.toFixed(1)} MiB idle, ${
    fill.rssFull.toFixed(1)
  } MiB with ${load.ok} pending`;
  console.error(note);
  notes.push(note);
  return fill;
}
