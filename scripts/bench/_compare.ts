/**
 * What the benchmarks comparing us with HTCondor share: one row of the
 * comparison (our figure, HTCondor's, which way is better), its rendering
 * as a Markdown table with the ratio, and running the load generator
 * (scripts/bench/_compare_load.ts) in a process of its own while the
 * daemon's CPU time is measured.
 */
import type { Job, LoadResult } from "./_compare_load.ts";
import { cpuMs, formatValue } from "./_report.ts";
import type { Teardown } from "./_teardown.ts";

/** What the HTCondor column says when no HTCondor was there to measure. */
export const NO_HTCONDOR = "not measured (no HTCondor)";

/**
 * One side of a row: a figure; a figure with a remark that qualifies it
 * (e.g. "12 of 5,000 without a token"); or why there is none.
 */
export type Cell = number | { value: number; note: string } | { missing: string };

/** The figure in a cell, if it has one. */
export function cellValue(cell: Cell): number | undefined {
  if (typeof cell === "number") return cell;
  return "value" in cell ? cell.value : undefined;
}

/** One row of the comparison. */
export interface Row {
  /** What is measured, with the setup of both columns when they differ. */
  figure: string;
  unit: string;
  /** "time" (less is faster), "size" (less is smaller), "rate" (more is better). */
  kind: "time" | "size" | "rate";
  ours: Cell;
  htcondor: Cell;
}

/** A comparison benchmark's rows and notes, as written with `--json=FILE`. */
export interface Comparison {
  bench: string;
  rows: Row[];
  /** What the two columns of its rows measure, one line each (shown under the table). */
  legend: string[];
  /** What the run printed besides the figures (counts, failures, CPU times). */
  notes: string[];
}

/** The ratio column: ours divided by HTCondor's, and what it means. */
export function ratioText(row: Row): string {
  const ours = cellValue(row.ours);
  const htcondor = cellValue(row.htcondor);
  if (ours === undefined || htcondor === undefined || ours === 0 || htcondor === 0) return "";
  const ratio = ours / htcondor;
  const digits = ratio >= 10 ? 0 : ratio >= 1 ? 1 : ratio >= 0.1 ? 2 : 3;
  const words: Record<Row["kind"], [string, string]> = {
    time: ["faster", "slower"],
    size: ["less", "more"],
    rate: ["lower", "higher"],
  };
  const [below, above] = words[row.kind];
  const factor = ratio >= 1 ? ratio : 1 / ratio;
  const factorText = factor >= 10 ? factor.toFixed(0) : factor.toFixed(1);
  if (factorText === "1.0") return `${ratio.toFixed(digits)} (about the same)`;
  return `${ratio.toFixed(digits)} (ours ${factorText}× ${ratio < 1 ? below : above})`;
}

/** A cell as table text. */
export function cellText(cell: Cell, unit: string): string {
  if (typeof cell === "number") return formatValue(cell, unit);
  return "value" in cell ? `${formatValue(cell.value, unit)} (${cell.note})` : cell.missing;
}

/** The comparison as one Markdown table (rows in order) followed by the notes. */
export function comparisonTable(results: readonly Comparison[]): string[] {
  const lines = [
    "| figure | ours | HTCondor 25.14 | ours ÷ HTCondor |",
    "| --- | ---: | ---: | --- |",
  ];
  for (const result of results) {
    for (const row of result.rows) {
      lines.push(
        `| ${row.figure} | ${cellText(row.ours, row.unit)} | ${
          cellText(row.htcondor, row.unit)
        } | ${ratioText(row)} |`,
      );
    }
  }
  return lines;
}

/** Options for one run of the load generator. */
export interface LoadOptions {
  /** The daemon's process, whose CPU time the run is charged with. */
  serverPid: number;
}

/** What the load generator saw, plus the daemon's CPU time during the run. */
export interface MeasuredLoad extends LoadResult {
  serverCpuMs: number;
}

const here = new URL(".", import.meta.url).pathname;

/**
 * Runs scripts/bench/_compare_load.ts with `job` in its own process (tracked
 * by `teardown`), reading the daemon's CPU time before and after. Needs
 * --allow-all.
 */
export async function runLoad(
  teardown: Teardown,
  job: Job,
  options: LoadOptions,
): Promise<MeasuredLoad> {
  const jobFile = await Deno.makeTempFile({ prefix: "condor-token-load-", suffix: ".json" });
  teardown.dir(jobFile);
  await Deno.writeTextFile(jobFile, JSON.stringify(job));
  const before = await cpuMs(options.serverPid);
  const child = teardown.child(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-net", "--allow-read", `${here}_compare_load.ts`, jobFile],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn(),
  );
  const out = await child.output();
  const serverCpuMs = (await cpuMs(options.serverPid)) - before;
  await Deno.remove(jobFile);
  if (!out.success) throw new Error(`the load generator failed (exit code ${out.code})`);
  const result = JSON.parse(new TextDecoder().decode(out.stdout)) as LoadResult;
  return { ...result, serverCpuMs };
}

/** A list option `--name=a,b,c` of numbers, else `fallback`. */
export function listOption(
  args: readonly string[],
  name: string,
  fallback: readonly number[],
): number[] {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return [...fallback];
  const values = arg.slice(name.length + 3).split(",").filter(Boolean).map(Number);
  if (values.some((v) => !Number.isFinite(v) || v < 0)) {
    throw new Error(`--${name} must be a list of numbers`);
  }
  return values;
}

/** Writes `comparison` as JSON when `--json=FILE` was given, and prints its rows. */
export async function reportComparison(
  comparison: Comparison,
  args: readonly string[],
): Promise<void> {
  console.log(`\n== ${comparison.bench}`);
  for (const line of [...comparison.legend, ...comparison.notes]) console.log(`   ${line}`);
  for (const row of comparison.rows) {
    console.log(
      `   ${row.figure}\n      ours ${cellText(row.ours, row.unit)}   HTCondor ${
        cellText(row.htcondor, row.unit)
      }   ${ratioText(row)}`,
    );
  }
  const arg = args.find((a) => a.startsWith("--json="));
  if (arg !== undefined) {
    await Deno.writeTextFile(arg.slice("--json=".length), JSON.stringify(comparison));
  }
}
