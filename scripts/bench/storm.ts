/**
 * Bootstrap storm: a whole pool of execute nodes asks for tokens at once
 * under an auto-approval rule. A real condor_tokend (its own process, the
 * shipped permission flags) with a rule for 127.0.0.1/32; 1,000 concurrent
 * requesters in another process (scripts/bench/_storm_client.ts: the
 * requester's own client code, one TLS connection each), all started
 * together. Reports the time until every requester holds a token that
 * verifies against the POOL key, and the spread of completion times.
 * Optionally the same with real condor_token_request processes.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/storm.ts \
 *       [--requesters=1000] [--processes=100] [--json=FILE]
 *
 * All requesters come from 127.0.0.1, so the per-peer rate limits
 * (TOKEND_RATE_LIMIT, TOKEND_COLLECT_RATE_LIMIT) are off here, and the
 * per-peer and total connection caps raised above the number of requesters;
 * in a real pool each node has its own address and its own allowance.
 * `--processes=0` skips the real-process run.
 */
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import {
  spawnTestDaemon,
  TEST_TRUST_DOMAIN,
  testDaemonPaths,
} from "../../tests/_support/daemon.ts";
import { spawnTool } from "../../tests/_support/run_tool.ts";
import { type Figure, numberOption, report, rssMiB, summarize, summaryLine } from "./_report.ts";

const requesters = numberOption(Deno.args, "requesters", 1000);
const processes = numberOption(Deno.args, "processes", 100);
const here = new URL(".", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const paths = testDaemonPaths(dir);
const connections = Math.max(requesters, processes) + 100;
const daemon = await spawnTestDaemon({
  dir,
  extraConfig: `TOKEND_MAX_CONNECTIONS = ${connections}\n` +
    `TOKEND_MAX_CONNECTIONS_PER_PEER = ${connections}`,
});
const figures: Figure[] = [];
const notes: string[] = [];
try {
  const admin = pinnedHttpsClient(daemon.url, daemon.fingerprint, {
    credential: () => Promise.resolve(daemon.adminToken),
  });
  try {
    await admin.autoApprove("127.0.0.1/32", 3600);
  } finally {
    admin.close();
  }
  const rssBefore = await rssMiB(daemon.child.pid);

  const jobFile = await Deno.makeTempFile({ prefix: "tokend-storm-", suffix: ".json" });
  await Deno.writeTextFile(
    jobFile,
    JSON.stringify({
      baseUrl: daemon.url,
      caFile: paths.certFile,
      poolKeyFile: paths.poolKeyFile,
      passwordDirectory: paths.passwordDirectory,
      trustDomain: TEST_TRUST_DOMAIN,
      requesters,
    }),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net", "--allow-read", `${here}_storm_client.ts`, jobFile],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  await Deno.remove(jobFile);
  if (!out.success) throw new Error("storm client failed");
  const storm = JSON.parse(new TextDecoder().decode(out.stdout));
  const rssAfter = await rssMiB(daemon.child.pid);
  const spread = summarize(storm.perRequesterMs);
  console.log(summaryLine(`${requesters} requesters: token held after`, spread));
  notes.push(
    `${requesters} in-process requesters (requester code, one TLS connection each): ${storm.valid} valid tokens, ${storm.distinctJti} distinct jti, ${storm.failureCount} failures ${
      JSON.stringify(storm.failures)
    }`,
    `daemon RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} MiB after the storm`,
    "rate limits off and connection caps raised (all requesters share 127.0.0.1); auto-approval rule 127.0.0.1/32",
  );
  figures.push(
    {
      name: `storm: all ${requesters} requesters hold valid tokens`,
      value: storm.allMs / 1000,
      unit: "s",
    },
    { name: "storm: one requester's wait, median", value: spread.median, unit: "ms" },
    { name: "storm: one requester's wait, p99", value: spread.p99, unit: "ms" },
    {
      name: "storm: requesters left without a valid token",
      value: requesters - storm.valid,
      unit: "",
      goal: "0",
      met: storm.valid === requesters,
    },
  );

  if (processes > 0) {
    const started = performance.now();
    const runs = await Promise.all(Array.from({ length: processes }, async () => {
      const child = spawnTool("condor_token_request", [
        "-authz",
        "ADVERTISE_STARTD",
        "-lifetime",
        "86400",
      ], { env: daemon.env, requesterFlags: true });
      const result = await child.output();
      return {
        ms: performance.now() - started,
        ok: result.code === 0 &&
          /^[\w-]+\.[\w-]+\.[\w-]+\n$/.test(new TextDecoder().decode(result.stdout)),
      };
    }));
    const allMs = performance.now() - started;
    const ok = runs.filter((r) => r.ok).length;
    console.log(summaryLine(`${processes} requester processes`, summarize(runs.map((r) => r.ms))));
    notes.push(
      `${processes} condor_token_request processes at once (requester's shipped flags): ${ok} exited 0 with a token`,
    );
    figures.push({
      name: `storm: ${processes} condor_token_request processes all done`,
      value: allMs / 1000,
      unit: "s",
    });
  }
} finally {
  await daemon.stop();
  await Deno.remove(dir, { recursive: true });
}
await report({ bench: "storm", notes, figures }, Deno.args);
