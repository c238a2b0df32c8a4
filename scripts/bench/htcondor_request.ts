/**
 * Our condor_token_request against HTCondor's own, both talking to a real
 * HTCondor collector (native protocol, its default security, SSL with the
 * pool's CA, no client credentials) on loopback:
 *
 * - auto-approved request: process start to exit with the token;
 * - approval to token on stdout at a waiting requester (the approval is
 *   sent in-process by an administrator's client authenticated by FS);
 * - in-process cost of the two commands: a new session (ECDH, TLS inside
 *   CEDAR) with DC_START_TOKEN_REQUEST, and a resumed one with
 *   DC_FINISH_TOKEN_REQUEST.
 *
 *     CONDOR_TOKEN_HTCONDOR_PREFIX=/path NO_COLOR=1 scripts/deno run --allow-all \
 *         scripts/bench/htcondor_request.ts [--runs=20] [--waits=8] [--json=FILE]
 *
 * Needs an HTCondor 25 install prefix (docs/interop.md) and root (the pool's
 * daemons run as nobody, the administrator authenticates by FS as root).
 * Prints the figures; not a test.
 */
import { cedarDaemonClient } from "../../src/client/cedar/cedar_client.ts";
import { TrustSessions } from "../../src/client/trust.ts";
import {
  type Pool,
  PREFIX,
  PREFIX_VAR,
  preparePool,
  runReal,
  spawnReal,
  withMaster,
} from "../../tests/_support/htcondor_pool.ts";
import { spawnTool } from "../../tests/_support/run_tool.ts";
import { numberOption, report, summarize, type Summary, summaryLine } from "./_report.ts";

if (!PREFIX) {
  console.error(`Set ${PREFIX_VAR} to an HTCondor 25.x install prefix (see docs/interop.md)`);
  Deno.exit(2);
}
const runs = numberOption(Deno.args, "runs", 20);
const waits = numberOption(Deno.args, "waits", 8);
const dir = await Deno.makeTempDir({ prefix: "condor-token-bench-htcondor-" });
const figures: Record<string, Summary> = {};
const LABELS: Record<string, string> = {
  oursAuto: "ours: auto-approved, process start -> token",
  realAuto: "HTCondor's: auto-approved, process start -> token",
  oursWait: "ours: approval -> token on stdout",
  realWait: "HTCondor's: approval -> token on stdout",
  start: "in-process: new SSL session + DC_START_TOKEN_REQUEST",
  finish: "in-process: resumed session + DC_FINISH_TOKEN_REQUEST",
};

try {
  const pool = await preparePool(dir, { trustDomain: "bench.example" });
  await withMaster(pool, async () => {
    const ca = await Deno.readTextFile(pool.caFile);
    const sslOnly = {
      _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
      _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
    };
    const admin = cedarDaemonClient({
      url: new URL(`cedar://${pool.hostAddress}`),
      trust: new TrustSessions({ caPem: ca, pins: [], knownHostsFile: undefined, now: Date.now }),
      methods: ["FS"],
    });
    try {
      const rule = await runReal(
        "bin/condor_token_request_auto_approve",
        ["-netblock", "127.0.0.0/8", "-lifetime", "3600"],
        pool.env,
      );
      if (rule.code !== 0) throw new Error(`auto-approve failed: ${rule.stderr}`);
      const auto = ["-authz", "ADVERTISE_STARTD", "-lifetime", "600"];
      figures.oursAuto = await timeRuns(runs, async () => {
        const child = spawnTool("condor_token_request", ["-pool", pool.hostAddress, ...auto], {
          env: { ...pool.ourEnv, ...sslOnly },
          requesterFlags: true,
        });
        await expectToken(child);
      });
      figures.realAuto = await timeRuns(runs, async () => {
        const child = spawnReal("bin/condor_token_request", [
          "-pool",
          `<${pool.address}?alias=${pool.hostName}>`,
          ...auto,
        ], { ...pool.env, ...sslOnly });
        await expectToken(child);
      });
      const manual = ["-identity", "bench@bench.example", "-authz", "READ"];
      figures.oursWait = await approvalRuns(
        waits,
        admin,
        () =>
          spawnTool("condor_token_request", ["-pool", pool.hostAddress, ...manual], {
            env: { ...pool.ourEnv, ...sslOnly },
            requesterFlags: true,
          }),
      );
      figures.realWait = await approvalRuns(
        waits,
        admin,
        () =>
          spawnReal("bin/condor_token_request", [
            "-pool",
            `<${pool.address}?alias=${pool.hostName}>`,
            ...manual,
          ], { ...pool.env, ...sslOnly }),
      );
      await commandCosts(pool, ca, runs);
    } finally {
      admin.close();
    }
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}

console.log(`${runs} runs (${waits} for waits), ${Deno.build.target}, Deno ${Deno.version.deno}`);
for (const [name, s] of Object.entries(figures)) console.log(summaryLine(LABELS[name], s));
await report({
  bench: "htcondor_request",
  notes: [
    "a real HTCondor collector on loopback, `use security:recommended`, SSL with the pool's CA",
    "ours: the requester entry with the shipped requester flags; HTCondor's: its own binary",
  ],
  figures: Object.entries(figures).flatMap(([name, s]) => [
    { name: `${LABELS[name]}, median`, value: s.median, unit: "ms" },
    { name: `${LABELS[name]}, worst`, value: s.worst, unit: "ms" },
  ]),
}, Deno.args);

/** Runs `fn` `n` times, one after the other, and summarizes their wall times. */
async function timeRuns(n: number, fn: () => Promise<void>): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return summarize(times);
}

/**
 * Approval to token: starts a requester, finds its request in the
 * daemon's list (HTCondor's tool buffers its stdout on a pipe, so its
 * enqueue line comes late), lets it wait a random 0–1 s more (so its poll
 * phase is random), approves in-process and times until the token is on
 * its stdout.
 */
async function approvalRuns(
  n: number,
  admin: ReturnType<typeof cedarDaemonClient>,
  spawn: () => Deno.ChildProcess,
): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const before = new Set((await admin.list()).map((r) => r.requestId));
    const child = spawn();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const drainErr = (async () => {
      while (!(await stderr.read()).done);
    })();
    let id: string | undefined;
    const deadline = performance.now() + 10_000;
    while (id === undefined) {
      if (performance.now() > deadline) throw new Error("the request never showed up");
      await new Promise((resolve) => setTimeout(resolve, 20));
      id = (await admin.list()).find((r) => !before.has(r.requestId))?.requestId;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
    const start = performance.now();
    await admin.approve(id);
    let out = "";
    while (!/(^|\n)eyJ[^\n]*\n/.test(out)) {
      const { value, done } = await stdout.read();
      if (done) throw new Error(`requester exited without a token: ${out}`);
      out += value;
    }
    times.push(performance.now() - start);
    while (!(await stdout.read()).done);
    await drainErr;
    const status = await child.status;
    if (status.code !== 0) throw new Error(`requester exited ${status.code}`);
  }
  return summarize(times);
}

/** Waits for a requester to exit 0 with a token on stdout. */
async function expectToken(child: Deno.ChildProcess): Promise<void> {
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  if (code !== 0 || !/eyJ/.test(out)) {
    throw new Error(`requester exited ${code}: ${out}${new TextDecoder().decode(stderr)}`);
  }
}

/** In-process: a new session with START, and a resumed one with FINISH. */
async function commandCosts(pool: Pool, ca: string, n: number): Promise<void> {
  const starts: number[] = [];
  const finishes: number[] = [];
  for (let i = 0; i < n; i++) {
    const client = cedarDaemonClient({
      url: new URL(`cedar://${pool.hostAddress}`),
      trust: new TrustSessions({ caPem: ca, pins: [], knownHostsFile: undefined, now: Date.now }),
      methods: ["SSL"],
    });
    try {
      const request = {
        identity: "bench@bench.example",
        authz: ["READ"],
        lifetime: 60,
        clientId: "bench",
        secret: crypto.randomUUID(),
      };
      let start = performance.now();
      const { requestId } = await client.enqueue(request);
      starts.push(performance.now() - start);
      start = performance.now();
      await client.collect(requestId, request.secret, 0, undefined, request.clientId);
      finishes.push(performance.now() - start);
    } finally {
      client.close();
    }
  }
  figures.start = summarize(starts);
  figures.finish = summarize(finishes);
}
