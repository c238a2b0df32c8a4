/**
 * The whole comparison with HTCondor, in one command: runs
 * scripts/bench/htcondor_request.ts, htcondor_storm.ts and
 * htcondor_enqueue.ts one after the other, each in its own process, on this
 * machine, then prints one Markdown report: the machine, the date, the
 * commit and the command, one table with our figure, HTCondor's and their
 * ratio, and the notes each benchmark printed. docs/benchmarks.md holds one
 * such report. Our tools run from the bundles the binaries embed (built
 * first with scripts/build.ts --bundle-only), under the binaries' flags.
 *
 *     NO_COLOR=1 RUST_BACKTRACE=0 scripts/deno run --allow-all scripts/bench/compare.ts \
 *         [--quick] [--no-htcondor] [--only=request,storm,enqueue]
 *
 * HTCondor: CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor 25 install;
 * without it the prebuilt test peer beside the project
 * (`../shared/htcondor/htcondor-*-x86_64-linux-gnu.tar.gz`) is unpacked with
 * scripts/htcondor_peer, as .ci/run does. With neither (or with
 * `--no-htcondor`) HTCondor's column reads "not measured (no HTCondor)".
 * HTCondor's daemons need root here (they run as nobody).
 *
 * `--quick` runs every part with tiny counts (a smoke test of the scripts,
 * well under a minute; its figures are not ones to quote). The full run
 * takes about 20 minutes on two cores.
 *
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP is passed to the running benchmark,
 * which stops its daemons, pools and requesters and removes its files;
 * then this exits with 128 + the signal's number.
 */
import { ROOT } from "../build.ts";
import { VERSION } from "../../src/cli/version.ts";
import { type Comparison, comparisonTable } from "./_compare.ts";
import { findHtcondor } from "./_htcondor.ts";
import { gitCommit, loadAverage, machineLines } from "./_report.ts";

/** Each part: name, script, full arguments, --quick arguments. */
const PARTS: [string, string, string[], string[]][] = [
  ["request", "htcondor_request.ts", ["--runs=20", "--waits=10"], ["--runs=2", "--waits=1"]],
  [
    "storm",
    "htcondor_storm.ts",
    ["--hosts=100,1000,5000", "--processes=100,1000", "--concurrency=32"],
    ["--hosts=10", "--processes=3", "--concurrency=3"],
  ],
  [
    "enqueue",
    "htcondor_enqueue.ts",
    ["--count=1000", "--concurrency=16", "--repeats=3"],
    ["--count=30", "--concurrency=4", "--repeats=1", "--settle-ms=100"],
  ],
];

const quick = Deno.args.includes("--quick");
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
const unknown = Deno.args.filter((a) =>
  a !== "--quick" && a !== "--no-htcondor" && !a.startsWith("--only=")
);
if (unknown.length > 0 || (only ?? []).some((p) => !PARTS.some(([name]) => name === p))) {
  console.error(
    `compare: unknown argument in ${JSON.stringify(Deno.args)}\n` +
      "usage: compare.ts [--quick] [--no-htcondor] [--only=request,storm,enqueue]",
  );
  Deno.exit(2);
}
const here = new URL(".", import.meta.url).pathname;

const htcondor = Deno.args.includes("--no-htcondor")
  ? { prefix: undefined, why: "--no-htcondor" }
  : await findHtcondor(ROOT);
const env: Record<string, string> = { NO_COLOR: "1", RUST_BACKTRACE: "0" };
let htcondorVersion: string;
if (htcondor.prefix !== undefined) {
  env.CONDOR_TOKEN_HTCONDOR_PREFIX = htcondor.prefix;
  htcondorVersion = `${await collectorVersion(htcondor.prefix)} (${htcondor.prefix})`;
} else {
  htcondorVersion = `not measured (${htcondor.why})`;
}

// Signals go to the running part, which cleans up; we exit once it has.
let running: Deno.ChildProcess | undefined;
let caught: number | undefined;
const SIGNALS: [Deno.Signal, number][] = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]];
for (const [signal, code] of SIGNALS) {
  Deno.addSignalListener(signal, () => {
    caught ??= code;
    console.error(`compare: ${signal}: waiting for the running benchmark to clean up`);
    try {
      running?.kill(signal);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // it has just exited
    }
  });
}

// Our tools run from the bundles the binaries embed, under the binaries'
// flags, as scripts/test_bundle runs them: their start-up differs from the
// sources' (one file, no module graph to resolve).
const bundleOut = await Deno.makeTempDir({ prefix: "condor-token-compare-bundle-" });
const built = await new Deno.Command(Deno.execPath(), {
  args: ["run", "--quiet", "-A", `${ROOT}/scripts/build.ts`, "--bundle-only", "--out", bundleOut],
  stdin: "null",
  stdout: "null",
  stderr: "inherit",
}).output();
if (!built.success) {
  console.error("compare: cannot build the bundles (scripts/build.ts --bundle-only)");
  Deno.exit(1);
}
const removeBundles = () => Deno.remove(bundleOut, { recursive: true }).catch(() => {});
env.CONDOR_TOKEN_E2E_ENTRY = "bundle";
env.CONDOR_TOKEN_E2E_BUNDLE_DIR = `${bundleOut}/${VERSION}/bundle`;

const header = await machineLines();
const started = performance.now();
const results: Comparison[] = [];
for (const [name, script, full, small] of PARTS) {
  if (only && !only.includes(name)) continue;
  const jsonFile = await Deno.makeTempFile({ prefix: "condor-token-compare-", suffix: ".json" });
  const args = [...(quick ? small : full), `--json=${jsonFile}`];
  console.error(`-- ${script} ${args.slice(0, -1).join(" ")}`);
  running = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-all", `${here}${script}`, ...args],
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await running.status;
  running = undefined;
  if (caught !== undefined) {
    await Deno.remove(jsonFile).catch(() => {});
    await removeBundles();
    Deno.exit(caught);
  }
  if (!status.success) {
    await Deno.remove(jsonFile).catch(() => {});
    await removeBundles();
    console.error(`compare: ${script} failed (exit code ${status.code})`);
    Deno.exit(1);
  }
  results.push(JSON.parse(await Deno.readTextFile(jsonFile)));
  await Deno.remove(jsonFile);
}
const minutes = (performance.now() - started) / 60_000;
await removeBundles();

const command = ["scripts/deno run --allow-all scripts/bench/compare.ts", ...Deno.args].join(" ");
const lines = [
  `### Comparison run of ${header[0].slice(8, 18)}${quick ? " (--quick: not representative)" : ""}`,
  "",
  `- command: \`NO_COLOR=1 RUST_BACKTRACE=0 ${command}\``,
  `- commit: ${await gitCommit(ROOT)}`,
  ...header,
  `- load average after the run: ${await loadAverage()}`,
  `- wall time of the whole run: ${minutes.toFixed(1)} min`,
  `- HTCondor: ${htcondorVersion}`,
  "",
  ...comparisonTable(results),
  "",
  "What the columns measure:",
  "",
  ...results.flatMap((r) => r.legend.map((line) => `- ${line}`)),
  "",
  "Notes printed by the run:",
  "",
];
for (const result of results) {
  for (const note of result.notes) lines.push(`- ${result.bench}: ${note}`);
}
console.log("\n" + lines.join("\n"));

/** `condor_collector -version`'s first line, e.g. `$CondorVersion: 25.14.0 ... $`. */
async function collectorVersion(prefix: string): Promise<string> {
  const out = await new Deno.Command(`${prefix}/sbin/condor_collector`, {
    args: ["-version"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")[0].trim() || "unknown version";
}
