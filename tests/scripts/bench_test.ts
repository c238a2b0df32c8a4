/**
 * The benchmark scripts' own logic: the comparison table and its ratios,
 * and the teardown that stops daemons and removes files when a benchmark
 * is interrupted. The benchmarks themselves are not run here (they are
 * measurements, not tests; see docs/benchmarks.md), except for one quick
 * smoke run of scripts/bench/compare.ts, so that they do not rot: about
 * 20 s with the HTCondor peer (as in CI), 7 s without.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../../scripts/build.ts";
import {
  cellText,
  type Comparison,
  comparisonTable,
  ratioText,
  type Row,
} from "../../scripts/bench/_compare.ts";
import { PREFIX } from "../_support/htcondor_pool.ts";

const row = (kind: Row["kind"], ours: number, htcondor: number): Row => ({
  figure: "f",
  unit: "ms",
  kind,
  ours,
  htcondor,
});

Deno.test("ratioText() says which side is better, by how much, for each kind of figure", () => {
  assert.equal(ratioText(row("time", 50, 2500)), "0.020 (ours 50× faster)");
  assert.equal(ratioText(row("time", 190, 52)), "3.7 (ours 3.7× slower)");
  assert.equal(ratioText(row("rate", 766, 21)), "36 (ours 36× higher)");
  assert.equal(ratioText(row("rate", 543, 717)), "0.76 (ours 1.3× lower)");
  assert.equal(ratioText(row("size", 73, 16.5)), "4.4 (ours 4.4× more)");
  assert.equal(ratioText(row("size", 10, 10.2)), "0.98 (about the same)");
});

Deno.test("a cell with a remark keeps its figure for the ratio and shows the remark", () => {
  const partial: Row = {
    ...row("time", 10, 1),
    htcondor: { value: 290, note: "12 of 5,000 failed" },
  };
  assert.equal(cellText(partial.htcondor, "s"), "290 s (12 of 5,000 failed)");
  assert.equal(ratioText(partial), "0.034 (ours 29× faster)");
});

Deno.test("ratioText() is empty when a side was not measured", () => {
  assert.equal(ratioText({ ...row("time", 1, 1), htcondor: { missing: "x" } }), "");
  assert.equal(ratioText({ ...row("time", 1, 1), ours: { missing: "x" } }), "");
});

Deno.test("comparisonTable() renders one Markdown table row per figure, missing cells as text", () => {
  const results: Comparison[] = [{
    bench: "b",
    legend: [],
    notes: [],
    rows: [
      row("time", 100, 400),
      {
        ...row("rate", 2000, 1),
        unit: "req/s",
        htcondor: { missing: "not measured (no HTCondor)" },
      },
    ],
  }];
  assert.deepEqual(comparisonTable(results), [
    "| figure | ours | HTCondor 25.14 | ours ÷ HTCondor |",
    "| --- | ---: | ---: | --- |",
    "| f | 100 ms | 400 ms | 0.25 (ours 4.0× faster) |",
    "| f | 2000 req/s | not measured (no HTCondor) |  |",
  ]);
});

/** Whether process `pid` is still running (not a zombie). */
async function alive(pid: number): Promise<boolean> {
  try {
    return !/^State:\s+Z/m.test(await Deno.readTextFile(`/proc/${pid}/status`));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  Deno.test({
    name: `Teardown stops children and removes files on ${signal}, then exits ${code}`,
    ignore: Deno.build.os !== "linux",
    fn: async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--allow-all",
          join(ROOT, "tests/scripts/_bench_teardown_fixture.ts"),
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let line = "";
      while (!line.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        line += value;
      }
      const [dir, pid] = line.trim().split(" ");
      assert.ok(await alive(Number(pid)), "the fixture's child runs");
      child.kill(signal);
      const status = await child.status;
      await reader.cancel();
      const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
      assert.equal(status.code, code, stderr);
      assert.match(stderr, new RegExp(`fixture: ${signal}: stopping daemons and cleaning up`));
      assert.equal(await alive(Number(pid)), false, "the child was stopped");
      await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    },
  });
}

Deno.test({
  name: "compare.ts --quick runs every part and prints one comparison table",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // With the HTCondor peer when the suite has one (as in CI), else without.
    const args = [
      "run",
      "--quiet",
      "--allow-all",
      join(ROOT, "scripts/bench/compare.ts"),
      "--quick",
    ];
    if (!PREFIX) args.push("--no-htcondor");
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    const table = stdout.split("\n").filter((l) => l.startsWith("| "));
    assert.equal(table[0], "| figure | ours | HTCondor 25.14 | ours ÷ HTCondor |");
    assert.equal(table.length, 2 + 17, stdout);
    assert.match(stdout, /^- commit: [0-9a-f]{7,}/m);
    for (const line of table.slice(2)) {
      const [, ours, htcondor] = line.split(" | ");
      if (!line.includes("HTCondor's collector")) assert.match(ours, /^[0-9.]+ \S+$/, line);
      else if (!PREFIX) assert.equal(ours, "not measured (no HTCondor)", line);
      if (line.startsWith("| the same for Deno itself")) {
        assert.equal(htcondor, "n/a (Deno's own)", line);
      } else if (PREFIX) assert.match(htcondor, /^[0-9.]+ \S+$/, line);
      else assert.equal(htcondor, "not measured (no HTCondor)", line);
    }
  },
});
