/**
 * Runs every benchmark, one after the other, each in its own process, and
 * prints one Markdown summary: the machine (CPU count and model, memory,
 * kernel, Deno version, load average before the run), the date, and every
 * figure with its goal where it has one. docs/benchmarks.md holds the
 * output of one such run.
 *
 *     NO_COLOR=1 scripts/deno task bench
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/run_all.ts [--quick]
 *
 * `--quick` runs every benchmark with small counts (a smoke test of the
 * scripts; its figures are not the documented ones). Takes about seven
 * minutes in full on two cores; everything runs on 127.0.0.1, PostgreSQL
 * included (the throughput run on PostgreSQL and ha_latency.ts need it).
 */
import { join } from "node:path";
import { bundlePath, PROGRAMS, ROOT } from "../build.ts";
import type { BenchResult } from "./_report.ts";
import { formatValue, gitCommit, machineLines } from "./_report.ts";

const quick = Deno.args.includes("--quick");
const here = new URL(".", import.meta.url).pathname;

/** Each benchmark with its arguments: [script, full run, quick run]. */
const BENCHES: [string, string[], string[]][] = [
  ["startup.ts", ["--runs=30"], ["--runs=3"]],
  ["approval_latency.ts", ["--rounds=200"], ["--rounds=10"]],
  ["request_latency.ts", ["--runs=100"], ["--runs=5"]],
  ["throughput.ts", ["--connections=16", "--seconds=10"], ["--seconds=1", "--warmup=1"]],
  [
    "throughput.ts",
    ["--connections=16", "--seconds=10", "--engine=postgresql"],
    ["--seconds=1", "--warmup=1", "--engine=postgresql"],
  ],
  ["ha_latency.ts", ["--rounds=200"], ["--rounds=10"]],
  ["storm.ts", ["--requesters=1000", "--processes=100"], ["--requesters=50", "--processes=5"]],
  ["pending_10k.ts", ["--pending=10000"], ["--pending=300"]],
];

/** `--bundle=<path>` of the requester's bundle when scripts/build.ts has made it. */
async function bundleArg(): Promise<string[]> {
  const requester = PROGRAMS.find((p) => p.name === "condor_token_request")!;
  const bundle = bundlePath(join(ROOT, "dist"), requester);
  try {
    await Deno.stat(bundle);
    return [`--bundle=${bundle}`];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

const header = await machineLines();
const results: BenchResult[] = [];
const started = performance.now();
for (const [script, full, small] of BENCHES) {
  const jsonFile = await Deno.makeTempFile({ prefix: "tokend-bench-", suffix: ".json" });
  const args = [...(quick ? small : full), ...(script === "startup.ts" ? await bundleArg() : [])];
  console.error(`-- ${script} ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-all", `${here}${script}`, ...args, `--json=${jsonFile}`],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) throw new Error(`${script} failed (exit code ${status.code})`);
  results.push(JSON.parse(await Deno.readTextFile(jsonFile)));
  await Deno.remove(jsonFile);
}
const minutes = (performance.now() - started) / 60_000;

const lines = [
  `### Run of ${header[0].slice(8, 18)}${quick ? " (--quick: not representative)" : ""}`,
  "",
  `- command: \`NO_COLOR=1 RUST_BACKTRACE=0 scripts/deno run --allow-all scripts/bench/run_all.ts${
    quick ? " --quick" : ""
  }\` (what \`scripts/deno task bench\` runs)`,
  `- commit: ${await gitCommit(ROOT)}`,
  ...header,
  `- wall time of the whole run: ${minutes.toFixed(1)} min`,
  "",
  "| benchmark | figure | value | goal | met |",
  "| --- | --- | ---: | --- | --- |",
];
for (const result of results) {
  for (const f of result.figures) {
    const met = f.met === undefined ? "" : f.met ? "yes" : "**no**";
    lines.push(
      `| ${result.bench} | ${f.name} | ${formatValue(f.value, f.unit)} | ${
        f.goal ?? ""
      } | ${met} |`,
    );
  }
}
lines.push("", "Notes:", "");
for (const result of results) {
  for (const note of result.notes) lines.push(`- ${result.bench}: ${note}`);
}
console.log("\n" + lines.join("\n"));
