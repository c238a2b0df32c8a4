/**
 * Daemon throughput over HTTPS with keep-alive, against a baseline measured
 * in the same run on the same machine: a bare `Deno.serve` TLS handler that
 * answers a constant (scripts/bench/_bare_server.ts, same certificate and
 * key type as the daemon). The daemon (with the shipped permission flags),
 * the bare server and the load generator (scripts/bench/_load.ts) each run
 * in their own process. Goal: the daemon's enqueue and collect at least 0.5
 * of the bare figure.
 *
 * The baseline the ratios use is the bare handler taking a POST with the
 * body an enqueue sends and parsing it as JSON, as any handler of a JSON API
 * must: a GET without a body, which earlier runs used, skips the request
 * body's transfer and parsing that every daemon call pays, and so set the
 * bar by work no POST handler can avoid. The GET figure is still measured
 * and reported, with the enqueue's ratio to it.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/throughput.ts \
 *       [--connections=16] [--seconds=10] [--warmup=2] [--engine=postgresql] [--json=FILE]
 *
 * `--engine=postgresql` keeps the daemon's state in a fresh database on the
 * PostgreSQL server of tests/_support/postgres.ts (dropped at the end).
 *
 * Runs: bare GET, bare POST, enqueue, collect, bare POST, bare GET; each
 * ratio is against the mean of the two runs of its baseline. "enqueue" makes a new pending request per call (one
 * SQLite transaction with fsync each); "collect" polls a pending request
 * with waitSeconds 0 (secret check, no write). The daemon's pending cap is
 * raised (TOKEND_MAX_PENDING_REQUESTS) so that enqueues are not refused,
 * and its per-peer rate limits are off (all load comes from 127.0.0.1).
 */
import { spawnTestDaemon, testDaemonPaths } from "../../tests/_support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../../tests/_support/postgres.ts";
import { newSecret } from "../../tests/_support/api.ts";
import { type Figure, numberOption, report } from "./_report.ts";

const GOAL_RATIO = 0.5;
const connections = numberOption(Deno.args, "connections", 16);
const seconds = numberOption(Deno.args, "seconds", 10);
const warmupSeconds = numberOption(Deno.args, "warmup", 2);
const here = new URL(".", import.meta.url).pathname;
/** `--engine=postgresql`: the daemon's state in a fresh PostgreSQL database (tests/_support/postgres.ts). */
const engine = Deno.args.find((a) => a.startsWith("--engine="))?.slice(9) ?? "sqlite";
if (engine !== "sqlite" && engine !== "postgresql") throw new Error(`unknown --engine=${engine}`);

interface LoadResult {
  mode: string;
  completed: number;
  perSecond: number;
  statuses: Record<string, number>;
  latencyMs: { median: number; p99: number };
}

/** Runs the load generator in its own process and returns what it measured. */
async function load(
  baseUrl: string,
  caFile: string,
  mode: "get" | "post" | "enqueue" | "collect",
  requests?: { id: string; secret: string }[],
): Promise<LoadResult> {
  const jobFile = await Deno.makeTempFile({ prefix: "tokend-load-", suffix: ".json" });
  try {
    await Deno.writeTextFile(
      jobFile,
      JSON.stringify({ baseUrl, caFile, mode, connections, seconds, warmupSeconds, requests }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-net", "--allow-read", `${here}_load.ts`, jobFile],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`load generator failed (${mode})`);
    const result = JSON.parse(new TextDecoder().decode(out.stdout)) as LoadResult;
    console.log(
      `${mode.padEnd(8)} ${result.perSecond.toFixed(0).padStart(7)} calls/s  median ${
        result.latencyMs.median.toFixed(2)
      } ms  p99 ${result.latencyMs.p99.toFixed(2)} ms  statuses ${JSON.stringify(result.statuses)}`,
    );
    return result;
  } finally {
    await Deno.remove(jobFile);
  }
}

/** Starts the bare server on the daemon's certificate; resolves to its URL and a stop function. */
async function startBare(certFile: string, keyFile: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net",
      "--allow-read",
      `${here}_bare_server.ts`,
      certFile,
      keyFile,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("bare server exited before listening");
    text += value;
  }
  return {
    url: `https://127.0.0.1:${text.trim()}`,
    stop: async () => {
      await child.stdin.close();
      await reader.cancel();
      await child.status;
    },
  };
}

const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const paths = testDaemonPaths(dir);
const database: TestDatabase | undefined = engine === "postgresql"
  ? await createTestDatabase()
  : undefined;
const daemon = await spawnTestDaemon({
  dir,
  extraConfig: "TOKEND_MAX_PENDING_REQUESTS = 100000000\n" +
    (database ? `TOKEND_DATABASE = ${database.url}\n` : ""),
});
const certFile = paths.certFile;
const keyFile = `${paths.stateDirectory}/tokend_key.pem`;
// The bare server uses the daemon's certificate and key: same TLS work.
const bare = await startBare(certFile, keyFile);
const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
let results: Record<string, LoadResult> = {};
let livePending = 0;
try {
  const get1 = await load(bare.url, certFile, "get");
  const bare1 = await load(bare.url, certFile, "post");
  const enqueue = await load(daemon.url, certFile, "enqueue");
  const requests: { id: string; secret: string }[] = [];
  for (let i = 0; i < connections; i++) {
    const secret = newSecret();
    const response = await fetch(daemon.url + "/v1/token-requests", {
      method: "POST",
      client,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        identity: "condor@tokend-test.example.org",
        authz: ["ADVERTISE_STARTD"],
        lifetime: 600,
        clientId: `collect-${i}`,
        secret,
      }),
    });
    requests.push({ id: (await response.json()).requestId, secret });
  }
  const collect = await load(daemon.url, certFile, "collect", requests);
  const bare2 = await load(bare.url, certFile, "post");
  const get2 = await load(bare.url, certFile, "get");
  const metrics = await (await fetch(daemon.url + "/metrics", { client })).text();
  livePending = Number(/^condor_tokend_pending_requests (\d+)$/m.exec(metrics)?.[1] ?? NaN);
  results = { get1, bare1, enqueue, collect, bare2, get2 };
} finally {
  client.close();
  await bare.stop();
  await daemon.stop();
  await database?.drop();
  await Deno.remove(dir, { recursive: true });
}

const { get1, bare1, enqueue, collect, bare2, get2 } = results;
const bareRate = (bare1.perSecond + bare2.perSecond) / 2;
const getRate = (get1.perSecond + get2.perSecond) / 2;
const ratio = (r: LoadResult) => r.perSecond / bareRate;
const allOk = (r: LoadResult, status: string) => Object.keys(r.statuses).every((s) => s === status);
const figures: Figure[] = [
  {
    name: "bare Deno.serve TLS, POST JSON parsed (mean of 2)",
    value: bareRate,
    unit: "req/s",
  },
  { name: "bare Deno.serve TLS, GET constant (mean of 2)", value: getRate, unit: "req/s" },
  {
    name: `daemon enqueue (new request, ${engine === "sqlite" ? "fsync" : "PostgreSQL commit"})`,
    value: enqueue.perSecond,
    unit: "req/s",
  },
  {
    name: "daemon enqueue / bare POST",
    value: ratio(enqueue),
    unit: "x",
    goal: `>= ${GOAL_RATIO}`,
    met: ratio(enqueue) >= GOAL_RATIO,
  },
  {
    name: "daemon enqueue / bare GET (no body)",
    value: enqueue.perSecond / getRate,
    unit: "x",
  },
  { name: "daemon collect (pending, no wait)", value: collect.perSecond, unit: "req/s" },
  {
    name: "daemon collect / bare POST",
    value: ratio(collect),
    unit: "x",
    goal: `>= ${GOAL_RATIO}`,
    met: ratio(collect) >= GOAL_RATIO,
  },
  {
    name: "daemon enqueue latency under load, median",
    value: enqueue.latencyMs.median,
    unit: "ms",
  },
  {
    name: "daemon collect latency under load, median",
    value: collect.latencyMs.median,
    unit: "ms",
  },
];
await report({
  bench: engine === "sqlite" ? "throughput" : "throughput (PostgreSQL)",
  notes: [
    `state: ${engine === "sqlite" ? "SQLite in the state directory" : "PostgreSQL on 127.0.0.1"}`,
    `${connections} keep-alive HTTP/1.1 connections, ${warmupSeconds} s warm-up + ${seconds} s per run`,
    `bare POST runs: ${bare1.perSecond.toFixed(0)} and ${
      bare2.perSecond.toFixed(0)
    } req/s; bare GET runs: ${get1.perSecond.toFixed(0)} and ${get2.perSecond.toFixed(0)} req/s`,
    `enqueue answers ${JSON.stringify(enqueue.statuses)}, collect answers ${
      JSON.stringify(collect.statuses)
    }${allOk(enqueue, "201") && allOk(collect, "200") ? "" : "  (UNEXPECTED STATUSES)"}`,
    `pending requests in the database at the end: ${livePending}`,
  ],
  figures,
}, Deno.args);
