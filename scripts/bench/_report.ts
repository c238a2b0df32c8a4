/**
 * What every benchmark shares: order statistics over samples, and one way to
 * report figures: aligned lines on stdout for people, and with `--json=FILE`
 * the same figures as JSON for scripts/bench/run_all.ts to tabulate.
 *
 * Benchmarks print figures, never pass or fail: a goal is shown next to the
 * figure it concerns so a reader can compare them.
 */

/** One reported figure. */
export interface Figure {
  /** What was measured, e.g. "approval -> token, median". */
  name: string;
  value: number;
  /** "ms", "s", "req/s", "MiB", "x" (a ratio) ... */
  unit: string;
  /** The goal this figure answers, as text ("< 50 ms"), if there is one. */
  goal?: string;
  /** Whether the figure meets the goal; undefined when there is no goal. */
  met?: boolean;
}

/** A benchmark's figures plus free-form notes (settings, sample counts). */
export interface BenchResult {
  bench: string;
  figures: Figure[];
  notes: string[];
}

/** Order statistics of a sample, in the sample's unit. */
export interface Summary {
  n: number;
  best: number;
  median: number;
  p90: number;
  p99: number;
  worst: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median, p90, p99 (nearest rank), best, worst and mean of `values`. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n === 0
    ? NaN
    : n % 2
    ? sorted[(n - 1) / 2]
    : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return {
    n,
    best: sorted[0],
    median,
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    worst: sorted[n - 1],
    mean: sorted.reduce((a, b) => a + b, 0) / n,
  };
}

/** One line of a summary: `name  median ... p99 ... worst ...`. */
export function summaryLine(name: string, s: Summary, unit = "ms", digits = 1): string {
  const f = (v: number) => `${v.toFixed(digits).padStart(8)} ${unit}`;
  return `${name.padEnd(34)} n=${String(s.n).padEnd(5)} median ${f(s.median)}   p90 ${
    f(s.p90)
  }   p99 ${f(s.p99)}   worst ${f(s.worst)}`;
}

/** Reads `--json=FILE` from the arguments, if given. */
export function jsonTarget(args: readonly string[]): string | undefined {
  const arg = args.find((a) => a.startsWith("--json="));
  return arg?.slice("--json=".length);
}

/** A named numeric option `--name=N` from `args`, else `fallback`. */
export function numberOption(args: readonly string[], name: string, fallback: number): number {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number`);
  return value;
}

/** Prints the figures and notes, and writes them as JSON when `--json=FILE` was given. */
export async function report(result: BenchResult, args: readonly string[]): Promise<void> {
  console.log(`\n== ${result.bench}`);
  for (const note of result.notes) console.log(`   ${note}`);
  for (const f of result.figures) {
    const goal = f.goal === undefined ? "" : `   goal ${f.goal}: ${f.met ? "met" : "NOT met"}`;
    console.log(`   ${f.name.padEnd(48)} ${formatValue(f.value, f.unit).padStart(14)}${goal}`);
  }
  const target = jsonTarget(args);
  if (target !== undefined) await Deno.writeTextFile(target, JSON.stringify(result));
}

/** A value with a sensible number of digits for its unit. */
export function formatValue(value: number, unit: string): string {
  if (Number.isInteger(value) && unit !== "x") return `${value} ${unit}`.trim();
  const digits = unit === "x" ? 2 : Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`.trim();
}

/** Resident set size of process `pid` in MiB, from /proc (Linux only). Needs --allow-read. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) / 1024;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * CPU time (user + system) process `pid` has used so far, in milliseconds,
 * from /proc (Linux only; assumes the usual 100 clock ticks a second).
 * Needs --allow-read.
 */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces), from field 3 on.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * The machine a run is on, as Markdown list items: the date, CPU count and
 * model, memory, kernel, Deno and the load average now. Needs --allow-read
 * (/proc) and --allow-sys.
 */
export async function machineLines(): Promise<string[]> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const memKb = Number(
    /^MemTotal:\s+(\d+)/m.exec(await Deno.readTextFile("/proc/meminfo").catch(() => ""))?.[1],
  );
  return [
    `- date: ${new Date().toISOString()}`,
    `- CPUs (nproc): ${navigator.hardwareConcurrency}; model: ${model}`,
    `- memory: ${(memKb / 1024 / 1024).toFixed(1)} GiB; kernel: ${Deno.osRelease()}`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.target}`,
    `- load average before the run: ${await loadAverage()}`,
  ];
}

/** The 1, 5 and 15 minute load averages, from /proc/loadavg ("" elsewhere). */
export async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3).join(
    " ",
  );
}

/**
 * The commit checked out in `root`, with "(plus uncommitted changes)" when
 * tracked files differ from it. Needs --allow-run=git.
 */
export async function gitCommit(root: string): Promise<string> {
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  };
  const head = await git("rev-parse", "--short", "HEAD");
  if (head === undefined) return "unknown (not a git checkout)";
  const dirty = await git("status", "--porcelain", "--untracked-files=no");
  return dirty ? `${head} (plus uncommitted changes)` : head;
}
