/**
 * One requester, ours against HTCondor's, on loopback:
 *
 * - an auto-approved request, from process start to the token stored in a
 *   file (`-token NAME`) and the process gone: our condor_token_request
 *   (the shipped requester's entry and flags) against condor_tokend and
 *   against a real HTCondor collector, and HTCondor's own
 *   condor_token_request against the same collector;
 * - approval to token on stdout at a requester already waiting: the same
 *   three pairs. An administrator approves in-process (over HTTPS for
 *   condor_tokend, over CEDAR authenticated by FS for the collector) at a
 *   moment spread evenly over the first 5 s after the request appears (so
 *   each poller's phase is sampled evenly: HTCondor's requester polls every
 *   5 s, ours every second against HTCondor; against condor_tokend ours
 *   waits in a long poll).
 *
 * - start-up: process start to the first byte the requester sends, seen by
 *   a plain TCP listener standing in for the collector (ours: the TLS
 *   ClientHello with which it asks whether the daemon speaks HTTPS;
 *   HTCondor's: its DC_AUTHENTICATE packet), beside two floors of Deno
 *   itself run with the requester's flags: a script that only connects and
 *   writes one byte, and one whose first byte is a TLS ClientHello
 *   (Deno.connectTls: no Node modules, but the crypto library's set-up).
 *
 * The collector runs HTCondor's default security for its version (`use
 * security:recommended`); both requesters offer only SSL, with the pool's
 * CA, and no credentials, as a fresh host would.
 *
 * Our requester runs from the sources (src/requester_main.ts), or, with
 * CONDOR_TOKEN_E2E_ENTRY=bundle, from the bundle the binary embeds, as
 * scripts/test_bundle runs it (compare.ts does that); the notes say which.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/htcondor_request.ts \
 *         [--runs=20] [--waits=10] [--json=FILE]
 *
 * The HTCondor side needs CONDOR_TOKEN_HTCONDOR_PREFIX (an HTCondor 25
 * install prefix, docs/interop.md) and root (the pool's daemons run as
 * nobody, the administrator authenticates by FS as root); without a prefix
 * only condor_tokend is measured. Ctrl-C or SIGTERM stops the daemons, the
 * pool and every requester before exiting.
 */
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { cedarDaemonClient } from "../../src/client/cedar/cedar_client.ts";
import type { TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { TrustSessions } from "../../src/client/trust.ts";
import { spawnTestDaemon, testDaemonPaths } from "../../tests/_support/daemon.ts";
import { PREFIX, runReal, spawnReal } from "../../tests/_support/htcondor_pool.ts";
import { e2eEntryKind, spawnTool, toolCommand } from "../../tests/_support/run_tool.ts";
import { REQUESTER_FLAGS } from "../permissions.ts";
import { type Cell, type Comparison, NO_HTCONDOR, reportComparison, type Row } from "./_compare.ts";
import { startPool } from "./_htcondor.ts";
import { numberOption, sleep, summarize, type Summary } from "./_report.ts";
import { exitOnSignals, Teardown } from "./_teardown.ts";

const runs = numberOption(Deno.args, "runs", 20);
const waits = numberOption(Deno.args, "waits", 10);
/** Approvals are spread evenly over this long after the request appears: HTCondor's poll period. */
const APPROVAL_SPREAD_MS = 5000;
const TRUST_DOMAIN = "bench.example";
const AUTO = ["-authz", "ADVERTISE_STARTD", "-lifetime", "600"];
const MANUAL = ["-authz", "READ", "-lifetime", "600"];

const teardown = new Teardown();
exitOnSignals(teardown, "htcondor_request");
const figures: Record<string, Summary> = {};
const notes: string[] = [];

try {
  const dir = teardown.dir(await Deno.makeTempDir({ prefix: "condor-token-bench-request-" }));
  if (PREFIX) await Deno.chmod(dir, 0o755);

  // condor_tokend, with an auto-approval rule for loopback.
  const daemonDir = await Deno.makeTempDir({ dir, prefix: "tokend-" });
  const daemon = await spawnTestDaemon({ dir: daemonDir });
  teardown.add("stop condor_tokend", async () => void await daemon.stop());
  const tokendAdmin = pinnedHttpsClient(daemon.url, daemon.fingerprint, {
    credential: () => Promise.resolve(daemon.adminToken),
  });
  teardown.add("close the administrator's client", () => tokendAdmin.close());
  await tokendAdmin.autoApprove("127.0.0.1/32", 3600);
  const tokenDirectory = testDaemonPaths(daemonDir).tokenDirectory;
  figures.oursAuto = await timeRuns(
    runs,
    tokenDirectory,
    (name) =>
      spawnTool("condor_token_request", [...AUTO, "-token", name], {
        env: daemon.env,
        requesterFlags: true,
      }),
  );
  // Requests for READ are not auto-approved: they wait for the administrator.
  figures.oursWait = await approvalRuns(
    waits,
    tokendAdmin,
    () =>
      spawnTool("condor_token_request", MANUAL, {
        env: daemon.env,
        requesterFlags: true,
      }),
  );

  // Start-up: the first byte at a listener standing in for the collector.
  const floorDir = await Deno.makeTempDir({ dir, prefix: "floor-" });
  const floor = async (name: string, body: string) => {
    const script = `${floorDir}/${name}.ts`;
    await Deno.writeTextFile(script, body);
    return (port: number) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--no-config", ...REQUESTER_FLAGS, script, String(port)],
        env: { NO_COLOR: "1" },
        clearEnv: true,
        stdout: "null",
        stderr: "null",
      }).spawn();
  };
  figures.floorByte = await firstByteRuns(
    runs,
    await floor(
      "connect",
      `const c = await Deno.connect({ hostname: "127.0.0.1", port: Number(Deno.args[0]) });\n` +
        `await c.write(new Uint8Array([22]));\nc.close();\n`,
    ),
  );
  figures.floorTls = await firstByteRuns(
    runs,
    await floor(
      "tls",
      `await Deno.connectTls({ hostname: "127.0.0.1", port: Number(Deno.args[0]) })\n` +
        `  .catch(() => {});\n`,
    ),
  );
  figures.oursFirstByte = await firstByteRuns(
    runs,
    (port) =>
      spawnTool("condor_token_request", ["-pool", `127.0.0.1:${port}`, ...AUTO], {
        env: daemon.env,
        requesterFlags: true,
      }),
  );
  if (PREFIX) {
    const running = await startPool(teardown, dir, {
      trustDomain: TRUST_DOMAIN,
      extraConfig: ["COLLECTOR_DEBUG ="],
    });
    const { pool } = running;
    const sslOnly = {
      _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
      _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
    };
    const collectorAdmin = cedarDaemonClient({
      url: new URL(`cedar://${pool.hostAddress}`),
      trust: new TrustSessions({
        caPem: await Deno.readTextFile(pool.caFile),
        pins: [],
        knownHostsFile: undefined,
        now: Date.now,
      }),
      methods: ["FS"],
    });
    teardown.add("close the collector administrator's client", () => collectorAdmin.close());
    const rule = await runReal(
      "bin/condor_token_request_auto_approve",
      ["-netblock", "127.0.0.0/8", "-lifetime", "3600"],
      pool.env,
    );
    if (rule.code !== 0) throw new Error(`auto-approve failed: ${rule.stderr}`);
    const ours = (args: string[], at = pool.hostAddress) =>
      spawnTool("condor_token_request", ["-pool", at, ...args], {
        env: { ...pool.ourEnv, ...sslOnly },
        requesterFlags: true,
      });
    const theirs = (args: string[], at = `<${pool.address}?alias=${pool.hostName}>`) =>
      spawnReal("bin/condor_token_request", ["-pool", at, ...args], { ...pool.env, ...sslOnly });
    figures.theirsFirstByte = await firstByteRuns(
      runs,
      (port) => theirs(AUTO, `<127.0.0.1:${port}>`),
    );
    figures.oursAutoCollector = await timeRuns(
      runs,
      pool.tokenDirectory,
      (name) => ours([...AUTO, "-token", name]),
    );
    figures.theirsAuto = await timeRuns(
      runs,
      pool.tokenDirectory,
      (name) => theirs([...AUTO, "-token", name]),
    );
    figures.oursWaitCollector = await approvalRuns(waits, collectorAdmin, () => ours(MANUAL));
    figures.theirsWait = await approvalRuns(waits, collectorAdmin, () => theirs(MANUAL));
    await running.stop();
  }
} finally {
  await teardown.run();
}

/** The HTCondor column of Deno's floors. */
const FLOOR_ONLY = "n/a (Deno's own)";
const median = (s: Summary | undefined): Cell => s?.median ?? { missing: NO_HTCONDOR };
const rows: Row[] = [
  {
    figure: `start-up: process start → its first byte at the daemon, median of ${runs}`,
    unit: "ms",
    kind: "time",
    ours: median(figures.oursFirstByte),
    htcondor: median(figures.theirsFirstByte),
  },
  {
    figure: "the same for Deno itself: connect and write one byte (requester's flags)",
    unit: "ms",
    kind: "time",
    ours: median(figures.floorByte),
    htcondor: { missing: FLOOR_ONLY },
  },
  {
    figure: "the same for Deno itself: a TLS ClientHello (Deno.connectTls)",
    unit: "ms",
    kind: "time",
    ours: median(figures.floorTls),
    htcondor: { missing: FLOOR_ONLY },
  },
  {
    figure: `auto-approved request: process start → token stored, median of ${runs}`,
    unit: "ms",
    kind: "time",
    ours: median(figures.oursAuto),
    htcondor: median(figures.theirsAuto),
  },
  {
    figure: `the same, our requester against HTCondor's collector`,
    unit: "ms",
    kind: "time",
    ours: median(figures.oursAutoCollector),
    htcondor: median(figures.theirsAuto),
  },
  {
    figure: `approval → token at a waiting requester, median of ${waits}`,
    unit: "ms",
    kind: "time",
    ours: median(figures.oursWait),
    htcondor: median(figures.theirsWait),
  },
  {
    figure: `the same, our requester against HTCondor's collector`,
    unit: "ms",
    kind: "time",
    ours: median(figures.oursWaitCollector),
    htcondor: median(figures.theirsWait),
  },
];
const LABELS: Record<string, string> = {
  oursFirstByte: "start-up to the first byte, our requester",
  theirsFirstByte: "start-up to the first byte, HTCondor's requester",
  floorByte: "start-up to the first byte, Deno connecting and writing one byte",
  floorTls: "start-up to the first byte, Deno sending a TLS ClientHello",
  oursAuto: "auto-approved, our requester → condor_tokend",
  oursAutoCollector: "auto-approved, our requester → collector",
  theirsAuto: "auto-approved, HTCondor's requester → collector",
  oursWait: "approval → token, our requester → condor_tokend",
  oursWaitCollector: "approval → token, our requester → collector",
  theirsWait: "approval → token, HTCondor's requester → collector",
};
for (const [name, s] of Object.entries(figures)) {
  notes.push(
    `${LABELS[name]}: n=${s.n}, best ${s.best.toFixed(1)} ms, median ${
      s.median.toFixed(1)
    } ms, p90 ${s.p90.toFixed(1)} ms, worst ${s.worst.toFixed(1)} ms`,
  );
}
notes.push(
  `our requester ran from ${
    e2eEntryKind() === "bundle"
      ? `the bundle the binary embeds (${
        toolCommand("condor_token_request", [], { requesterFlags: true }).args.find((a) =>
          a.endsWith(".js")
        )
      })`
      : "the sources (src/requester_main.ts)"
  }, with the binary's permission flags`,
);
const legend = [
  "start-up: from spawning the requester to the first byte it sends, at a plain TCP listener standing in for the collector (the requester is then killed): ours sends a TLS ClientHello first (it asks whether the daemon speaks HTTPS, then falls back to HTCondor's protocol), HTCondor's its DC_AUTHENTICATE packet. Deno's floors are scripts run with the requester's flags: one connects and writes one byte; one sends a TLS ClientHello with Deno.connectTls, which pays the crypto library's one-time set-up (about 55 ms of CPU) but loads no Node module",
  "auto-approved request: ours is our condor_token_request (the shipped requester's entry and flags) against condor_tokend, HTCondor's is its own condor_token_request against its collector; each run is one process, timed from spawn to exit with the token stored by `-token NAME`; in the row below it ours runs against HTCondor's collector",
  `approval → token: the requester waits for an administrator, who approves in-process at a moment spread evenly over the first ${
    APPROVAL_SPREAD_MS / 1000
  } s after the request appears, timed from the approve call to the token on the requester's stdout. Ours against condor_tokend waits in a long poll; HTCondor's polls its collector every 5 s; ours against HTCondor's collector polls every 1 s (in its first minute)`,
  "both requesters offer only SSL, with the pool's CA and no credentials, as a fresh host would; the collector runs its version's default security (`use security:recommended`)",
];
await reportComparison(
  { bench: "htcondor_request", rows, legend, notes } satisfies Comparison,
  Deno.args,
);

/**
 * Runs `n` auto-approved requesters one after the other, each storing its
 * token as a new file in `tokenDirectory`; times each from spawn to exit
 * with the file written.
 */
async function timeRuns(
  n: number,
  tokenDirectory: string,
  spawn: (name: string) => Deno.ChildProcess,
): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = `bench-${crypto.randomUUID()}`;
    const start = performance.now();
    const { code, stdout, stderr } = await teardown.child(spawn(name)).output();
    const elapsed = performance.now() - start;
    const file = `${tokenDirectory}/${name}`;
    const token = await Deno.readTextFile(file).catch(() => "");
    if (code !== 0 || !/^eyJ/.test(token)) {
      const decoder = new TextDecoder();
      throw new Error(
        `requester exited ${code} without storing a token in ${file}: ${decoder.decode(stdout)}${
          decoder.decode(stderr)
        }`,
      );
    }
    await Deno.remove(file);
    times.push(elapsed);
  }
  return summarize(times);
}

/**
 * Approval to token: starts a requester, finds its request in the daemon's
 * list (HTCondor's tool buffers its stdout on a pipe, so its enqueue line
 * comes late), waits the run's share of APPROVAL_SPREAD_MS, approves, and
 * times until the token is on the requester's stdout.
 */
async function approvalRuns(
  n: number,
  admin: TokenDaemonClient,
  spawn: () => Deno.ChildProcess,
): Promise<Summary> {
  // Evenly spread delays, in random order.
  const delays = Array.from({ length: n }, (_, i) => (i + 0.5) * APPROVAL_SPREAD_MS / n)
    .map((d) => [Math.random(), d]).sort((a, b) => a[0] - b[0]).map(([, d]) => d);
  const times: number[] = [];
  for (const delay of delays) {
    const before = new Set((await admin.list()).map((r) => r.requestId));
    const child = teardown.child(spawn());
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let errText = "";
    const drainErr = (async () => {
      for (let r = await stderr.read(); !r.done; r = await stderr.read()) errText += r.value;
    })();
    let id: string | undefined;
    const deadline = performance.now() + 20_000;
    while (id === undefined) {
      if (performance.now() > deadline) {
        throw new Error(`the request never showed up; requester said: ${errText}`);
      }
      await sleep(20);
      id = (await admin.list()).find((r) => !before.has(r.requestId))?.requestId;
    }
    await sleep(delay);
    const start = performance.now();
    await admin.approve(id);
    let out = "";
    while (!/(^|\n)eyJ[^\n]*\n/.test(out)) {
      const { value, done } = await stdout.read();
      if (done) throw new Error(`requester exited without a token: ${out}${errText}`);
      out += value;
    }
    times.push(performance.now() - start);
    while (!(await stdout.read()).done);
    await drainErr;
    const status = await child.status;
    if (status.code !== 0) throw new Error(`requester exited ${status.code}: ${errText}`);
  }
  return summarize(times);
}

/**
 * Runs `n` processes (after 2 warm-up runs) one after the other, each told
 * the port of a fresh TCP listener on 127.0.0.1 and killed once its first
 * bytes reached it; times each from spawn to those bytes. A listener per
 * run, so that a requester that tries again after the listener hung up is
 * never counted in the next run.
 */
async function firstByteRuns(
  n: number,
  spawn: (port: number) => Deno.ChildProcess,
): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const arrived = (async () => {
      const conn = await listener.accept();
      try {
        await conn.read(new Uint8Array(1));
        return performance.now();
      } finally {
        conn.close();
      }
    })();
    const start = performance.now();
    const child = teardown.child(spawn((listener.addr as Deno.NetAddr).port));
    const at = await Promise.race([
      arrived,
      // A floor script that wrote its byte may exit before the listener has
      // read it: a clean exit still waits for the byte (a bounded while).
      child.status.then(async (s) => {
        if (s.code === 0) {
          const late = await Promise.race([arrived, delay(2_000).then(() => undefined)]);
          if (late !== undefined) return late;
        }
        throw new Error(`exited (${s.code}) before sending a byte`);
      }),
    ]);
    try {
      child.kill("SIGKILL");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // already gone
    }
    await child.output().catch(() => child.status);
    if (i >= 2) times.push(at - start);
  }
  return summarize(times);
}

/** Resolves after `ms` milliseconds. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
