/**
 * A bootstrap storm, ours against HTCondor's: N hosts ask for a token at
 * once under an auto-approval rule for the loopback network; the figure is
 * the time until every one holds a token that verifies against the POOL
 * key, for each N of `--hosts` (100, 1,000 and 5,000 by default). Two kinds
 * of load:
 *
 * - in-process requesters (scripts/bench/_compare_load.ts, one process):
 *   all N started at once, each with its own client, so its own TCP
 *   connection and TLS session, through this project's requester flow.
 *   Ours: against condor_tokend over HTTPS. HTCondor: against a real
 *   collector over CEDAR, the same code with HTCondor's protocol (a new
 *   security session per host: ECDH, then TLS inside the protocol). Both
 *   columns run the same client code, so they compare the daemons.
 * - whole requester processes (`--processes`, 100 and 1,000 by default), at
 *   most `--concurrency` (32) running at a time: our condor_token_request
 *   (the shipped requester's flags) against condor_tokend, HTCondor's own
 *   condor_token_request against the collector. These compare the tools as
 *   a host runs them, start-up included.
 *
 * Each storm gets a fresh daemon (and pool). The daemon's CPU time during
 * the storm is read from /proc, per host; the load generator's too.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/htcondor_storm.ts \
 *         [--hosts=100,1000,5000] [--processes=100,1000] [--concurrency=32] [--json=FILE]
 *
 * The HTCondor side needs CONDOR_TOKEN_HTCONDOR_PREFIX and root (the pool's
 * daemons run as nobody); without a prefix its column says so. Per-peer
 * limits of condor_tokend are off (every host here is 127.0.0.1).
 */
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { verifyToken } from "../../src/token/idtoken.ts";
import { POOL_KEY_ID, readSigningKey } from "../../src/token/signing_key.ts";
import {
  type SpawnedTestDaemon,
  spawnTestDaemon,
  TEST_TRUST_DOMAIN,
  testDaemonPaths,
} from "../../tests/_support/daemon.ts";
import { PREFIX, runReal, spawnReal } from "../../tests/_support/htcondor_pool.ts";
import { spawnTool } from "../../tests/_support/run_tool.ts";
import {
  type Cell,
  type Comparison,
  listOption,
  NO_HTCONDOR,
  reportComparison,
  type Row,
  runLoad,
} from "./_compare.ts";
import { type RunningPool, startPool } from "./_htcondor.ts";
import { cpuMs, numberOption } from "./_report.ts";
import { exitOnSignals, Teardown } from "./_teardown.ts";

const hosts = listOption(Deno.args, "hosts", [100, 1000, 5000]);
const processes = listOption(Deno.args, "processes", [100, 1000]);
const concurrency = numberOption(Deno.args, "concurrency", 32);
const TRUST_DOMAIN = "bench.example";
const AUTHZ = ["ADVERTISE_STARTD", "ADVERTISE_MASTER"];

const teardown = new Teardown();
exitOnSignals(teardown, "htcondor_storm");
const rows: Row[] = [];
const legend: string[] = [];
const notes: string[] = [];

/** A storm's figures for one side. */
interface StormFigures {
  seconds: number;
  ok: number;
  count: number;
  /** Later tries of hosts whose request failed (in-process storms). */
  hostRetries: number;
  serverCpuMsPerHost: number;
  note: string;
}

try {
  const dir = teardown.dir(await Deno.makeTempDir({ prefix: "condor-token-bench-storm-" }));
  if (PREFIX) await Deno.chmod(dir, 0o755);

  for (const n of hosts) {
    const ours = await withDaemon(dir, n, (daemon) => oursInProcess(daemon, n));
    const theirs = PREFIX ? await withPool(dir, (pool) => theirsInProcess(pool, n)) : undefined;
    rows.push(
      stormRow(`storm of ${count(n)} hosts at once: all hold a verified token`, ours, theirs),
    );
    rows.push(cpuRow(`the same: daemon CPU time per host`, ours, theirs));
  }
  for (const n of processes) {
    const ours = await withDaemon(dir, n, (daemon) => oursProcesses(daemon, n));
    const theirs = PREFIX ? await withPool(dir, (pool) => theirsProcesses(pool, n)) : undefined;
    rows.push(
      stormRow(
        `${count(n)} requester processes, ${concurrency} at a time: all hold a verified token`,
        ours,
        theirs,
      ),
    );
    rows.push(cpuRow(`the same: daemon CPU time per host`, ours, theirs));
  }
  legend.push(
    "storm of N hosts at once: N requesters started together in one load-generator process (scripts/bench/_compare_load.ts), each with its own client, TCP connection and TLS session, through this project's requester code (src/client/request_flow.ts) with its retries, and a host whose request failed tries again a second later (up to five tries, as a daemon that wants a token does; \"N tries again\" counts them); ours over HTTPS to condor_tokend, HTCondor's over CEDAR to its collector (a new security session per host: ECDH, then TLS inside the protocol). Both columns run the same client code, so they compare the daemons and their protocols. Timed until every host holds a token; all tokens are then verified against the POOL key",
    `N requester processes: whole tools as a host runs them, at most ${concurrency} at a time: our condor_token_request (shipped flags) against condor_tokend, HTCondor's condor_token_request against its collector; each token on stdout verified against the POOL key. These include each tool's start-up`,
    "daemon CPU time per host: user + system CPU time of condor_tokend or condor_collector during the storm (from /proc), divided by N: what each host costs the daemon, whatever the load generator's speed",
    "each storm has a fresh condor_tokend (per-peer limits off and connection caps raised to the number of hosts: every host here is 127.0.0.1; the auto-approval circuit breaker off, since its defaults hold a rule after 2,000 approvals in ten minutes) or a fresh HTCondor pool, and an auto-approval rule for the loopback network",
  );
} finally {
  await teardown.run();
}
await reportComparison(
  { bench: "htcondor_storm", rows, legend, notes } satisfies Comparison,
  Deno.args,
);

/** Runs `fn` with a fresh condor_tokend that auto-approves 127.0.0.1, stopped afterwards. */
async function withDaemon<T>(
  parent: string,
  hosts: number,
  fn: (daemon: SpawnedTestDaemon) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "tokend-" });
  // Every host here is 127.0.0.1, where a real storm comes from as many
  // addresses as hosts: the connection caps (800 in all, 32 per address)
  // are raised to let them all in, as operations.md advises behind one NAT
  // address. The circuit breaker's defaults (2,000 per rule, 5,000 in all
  // per ten minutes) would hold the 5,000-host storm for a human, as
  // designed, so it is off.
  const connections = hosts + 100;
  const daemon = await spawnTestDaemon({
    dir,
    extraConfig: [
      `TOKEND_MAX_CONNECTIONS = ${Math.max(800, connections)}`,
      `TOKEND_MAX_CONNECTIONS_PER_PEER = ${connections}`,
      "TOKEND_AUTO_APPROVE_MAX_PER_RULE = 0",
      "TOKEND_AUTO_APPROVE_MAX_TOTAL = 0",
    ].join("\n"),
  });
  const unregister = teardown.add("stop condor_tokend", async () => void await daemon.stop());
  try {
    const admin = pinnedHttpsClient(daemon.url, daemon.fingerprint, {
      credential: () => Promise.resolve(daemon.adminToken),
    });
    try {
      await admin.autoApprove("127.0.0.1/32", 3600);
    } finally {
      admin.close();
    }
    return await fn(daemon);
  } finally {
    unregister();
    await daemon.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with a fresh one-collector pool that auto-approves 127.0.0.0/8, stopped afterwards. */
async function withPool<T>(parent: string, fn: (pool: RunningPool) => Promise<T>): Promise<T> {
  const running = await startPool(teardown, parent, {
    trustDomain: TRUST_DOMAIN,
    extraConfig: ["COLLECTOR_DEBUG ="],
  });
  try {
    const rule = await runReal(
      "bin/condor_token_request_auto_approve",
      ["-netblock", "127.0.0.0/8", "-lifetime", "3600"],
      running.pool.env,
    );
    if (rule.code !== 0) throw new Error(`auto-approve failed: ${rule.stderr}`);
    return await fn(running);
  } finally {
    await running.stop();
  }
}

async function oursInProcess(daemon: SpawnedTestDaemon, n: number): Promise<StormFigures> {
  const paths = testDaemonPaths(daemonDir(daemon));
  const load = await runLoad(teardown, {
    mode: "storm",
    url: daemon.url,
    caFile: paths.certFile,
    count: n,
    concurrency: 0,
    identity: `condor@${TEST_TRUST_DOMAIN}`,
    authz: AUTHZ,
    poolKeyFile: paths.poolKeyFile,
    passwordDirectory: paths.passwordDirectory,
    trustDomain: TEST_TRUST_DOMAIN,
  }, { serverPid: daemon.child.pid });
  return stormFigures("ours, in-process", load);
}

async function theirsInProcess(running: RunningPool, n: number): Promise<StormFigures> {
  const { pool } = running;
  const load = await runLoad(teardown, {
    mode: "storm",
    url: `cedar://${pool.hostAddress}`,
    caFile: pool.caFile,
    count: n,
    concurrency: 0,
    identity: `condor@${TRUST_DOMAIN}`,
    authz: AUTHZ,
    poolKeyFile: pool.poolKeyFile,
    passwordDirectory: pool.passwordDirectory,
    trustDomain: TRUST_DOMAIN,
  }, { serverPid: running.collectorPid });
  return stormFigures("HTCondor, in-process", load);
}

function stormFigures(
  label: string,
  load: Awaited<ReturnType<typeof runLoad>>,
): StormFigures {
  const note =
    `${label}, ${load.count} hosts: ${load.ok} verified tokens (${load.distinctJti} distinct jti), ${load.failureCount} failures${
      load.failureCount ? ` ${JSON.stringify(load.failures)}` : ""
    }, ${load.retries} calls retried, ${load.hostRetries} hosts' tries after a failed request${
      load.hostRetries ? ` ${JSON.stringify(load.retryReasons)}` : ""
    }; all done in ${(load.allMs / 1000).toFixed(2)} s, one host's wait median ${
      load.eachMs.median.toFixed(0)
    } ms, p99 ${load.eachMs.p99.toFixed(0)} ms; daemon CPU ${
      (load.serverCpuMs / 1000).toFixed(2)
    } s, load generator CPU ${(load.clientCpuMs / 1000).toFixed(2)} s`;
  console.error(note);
  notes.push(note);
  return {
    seconds: load.allMs / 1000,
    ok: load.ok,
    count: load.count,
    hostRetries: load.hostRetries,
    serverCpuMsPerHost: load.serverCpuMs / load.count,
    note,
  };
}

async function oursProcesses(daemon: SpawnedTestDaemon, n: number): Promise<StormFigures> {
  const paths = testDaemonPaths(daemonDir(daemon));
  return await processStorm(
    "ours, processes",
    n,
    daemon.child.pid,
    () =>
      spawnTool("condor_token_request", [...authzArgs(), "-lifetime", "86400"], {
        env: daemon.env,
        requesterFlags: true,
      }),
    { poolKeyFile: paths.poolKeyFile, passwordDirectory: paths.passwordDirectory },
    TEST_TRUST_DOMAIN,
  );
}

async function theirsProcesses(running: RunningPool, n: number): Promise<StormFigures> {
  const { pool } = running;
  return await processStorm(
    "HTCondor, processes",
    n,
    running.collectorPid,
    () =>
      spawnReal("bin/condor_token_request", [
        "-pool",
        `<${pool.address}?alias=${pool.hostName}>`,
        ...authzArgs(),
        "-lifetime",
        "86400",
      ], {
        ...pool.env,
        _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
        _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
      }),
    { poolKeyFile: pool.poolKeyFile, passwordDirectory: pool.passwordDirectory },
    TRUST_DOMAIN,
  );
}

/**
 * Runs `n` requester processes, at most `concurrency` at a time, and
 * verifies the token each prints against the POOL key.
 */
async function processStorm(
  label: string,
  n: number,
  serverPid: number,
  spawn: () => Deno.ChildProcess,
  keyFiles: { poolKeyFile: string; passwordDirectory: string },
  trustDomain: string,
): Promise<StormFigures> {
  const key = await readSigningKey(POOL_KEY_ID, keyFiles);
  const keys = (kid: string) => Promise.resolve(kid === POOL_KEY_ID ? key : undefined);
  const tokens: string[] = [];
  const failures: string[] = [];
  const cpuBefore = await cpuMs(serverPid);
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n && !teardown.stopping.signal.aborted) {
      next++;
      const out = await teardown.child(spawn()).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      if (out.code === 0 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(text)) tokens.push(text);
      else {
        failures.push(
          `exit ${out.code}: ${new TextDecoder().decode(out.stderr).trim().slice(0, 200)}`,
        );
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const serverCpuMs = (await cpuMs(serverPid)) - cpuBefore;
  const now = Math.floor(Date.now() / 1000);
  let ok = 0;
  for (const token of tokens) {
    try {
      const { claims } = await verifyToken(token, keys, { issuer: trustDomain, now });
      if (claims.sub === `condor@${trustDomain}`) ok++;
      else failures.push(`token for ${claims.sub}`);
    } catch (err) {
      failures.push(`token does not verify: ${err}`);
    }
  }
  const note = `${label}, ${n} hosts, ${concurrency} at a time: ${ok} verified tokens, ${
    n - ok
  } failures${failures.length ? ` ${JSON.stringify(failures.slice(0, 3))}` : ""}; all done in ${
    seconds.toFixed(2)
  } s; daemon CPU ${(serverCpuMs / 1000).toFixed(2)} s`;
  console.error(note);
  notes.push(note);
  return { seconds, ok, count: n, hostRetries: 0, serverCpuMsPerHost: serverCpuMs / n, note };
}

/** 5000 as "5,000". */
function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** `-authz A -authz B`, as both tools take them. */
function authzArgs(): string[] {
  return AUTHZ.flatMap((a) => ["-authz", a]);
}

/** The directory a test daemon was started in (its configuration file's directory). */
function daemonDir(daemon: SpawnedTestDaemon): string {
  return daemon.configPath.replace(/\/condor_config$/, "");
}

/**
 * A cell for a storm: the time until every host held a verified token; if
 * some never did, the time until the others did, with how many did not.
 */
function stormCell(figures: StormFigures | undefined): Cell {
  if (figures === undefined) return { missing: NO_HTCONDOR };
  if (figures.ok === 0) return { missing: `no host got a token` };
  const remarks = [];
  if (figures.hostRetries > 0) remarks.push(`${count(figures.hostRetries)} tries again`);
  if (figures.ok !== figures.count) {
    remarks.push(`${count(figures.count - figures.ok)} of ${count(figures.count)} without a token`);
  }
  return remarks.length > 0
    ? { value: figures.seconds, note: remarks.join(", ") }
    : figures.seconds;
}

function stormRow(figure: string, ours: StormFigures, theirs: StormFigures | undefined): Row {
  return { figure, unit: "s", kind: "time", ours: stormCell(ours), htcondor: stormCell(theirs) };
}

function cpuRow(figure: string, ours: StormFigures, theirs: StormFigures | undefined): Row {
  return {
    figure,
    unit: "ms",
    kind: "time",
    ours: ours.serverCpuMsPerHost,
    htcondor: theirs === undefined ? { missing: NO_HTCONDOR } : theirs.serverCpuMsPerHost,
  };
}
