/**
 * Every tool's manual page, made from the same ToolDoc as its -help: it
 * exists, names every option the tool parses, is well-formed roff by our
 * own structural check, and renders without a warning in `man -l` (or
 * groff) when one is installed.
 */
import assert from "node:assert/strict";
import { optionLabel } from "../../src/cli/_doc.ts";
import { matchOption } from "../../src/cli/_options.ts";
import { manPage, manPagePath } from "../../src/cli/man_page.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { TOOLS } from "../../src/cli/tools.ts";
import { VERSION } from "../../src/cli/version.ts";
import { withTempDir } from "../_support/temp.ts";

/** The macros a page may use: the classic man set every renderer knows. */
const MACROS = new Set(["TH", "SH", "SS", "PP", "TP", "RS", "RE", "nf", "fi", "br", "B", '\\"']);

/**
 * What is wrong with `page` as a man(7) page, in words (empty when nothing):
 * a title line first, the sections a page needs in order, known macros
 * only, no unescaped hyphen or backslash, fonts switched back, and .RS/.RE
 * and .nf/.fi balanced.
 */
function roffProblems(page: string, name: string, section: number): string[] {
  const problems: string[] = [];
  const lines = page.split("\n");
  if (lines.at(-1) !== "") problems.push("does not end in a newline");
  const requests = lines.filter((l) => l.startsWith(".")).map((l) => l.slice(1).split(" ")[0]);
  const title = lines.find((l) => l.startsWith(".") && !l.startsWith('.\\"'));
  if (
    title !==
      `.TH ${name.toUpperCase()} ${section} "" "condor_token ${VERSION}" ${
        section === 8 ? '"System Administration"' : '"User Commands"'
      }`
  ) problems.push(`bad title line ${JSON.stringify(title)}`);
  for (const request of requests) {
    if (!MACROS.has(request)) problems.push(`unknown macro .${request}`);
  }
  const sections = lines.filter((l) => l.startsWith(".SH ")).map((l) => l.slice(4));
  const required = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", '"EXIT STATUS"', '"SEE ALSO"'];
  const order = required.map((s) => sections.indexOf(s));
  if (order.some((i) => i < 0) || order.some((i, k) => k > 0 && i < order[k - 1])) {
    problems.push(`sections ${sections.join(", ")} lack or misorder ${required.join(", ")}`);
  }
  const nameLine = lines[lines.indexOf(".SH NAME") + 1] ?? "";
  if (!nameLine.startsWith(`${name.replace(/-/g, "\\-")} \\- `)) {
    problems.push(`bad NAME line ${JSON.stringify(nameLine)}`);
  }
  let rs = 0;
  let nf = 0;
  for (const [i, line] of lines.entries()) {
    if (line.startsWith("'")) problems.push(`line ${i + 1} starts with a quote`);
    if (line.startsWith('.\\"')) continue;
    if (/(^|[^\\])-/.test(line.replace(/\\-/g, ""))) {
      problems.push(`line ${i + 1} has an unescaped hyphen: ${line}`);
    }
    // Every backslash starts a known escape: \- \e \& \fB \fI \fR \(
    const stray = line.replace(/\\(-|e|&|f[BIR]|"|\(..)/g, "");
    if (stray.includes("\\")) problems.push(`line ${i + 1} has a stray backslash: ${line}`);
    const fonts = [...line.matchAll(/\\f([BIR])/g)].map((m) => m[1]);
    if (fonts.length > 0 && fonts.at(-1) !== "R") {
      problems.push(`line ${i + 1} leaves a font switched on: ${line}`);
    }
    if (line === ".RS 4" || line === ".RS") rs++;
    if (line === ".RE") rs--;
    if (line === ".nf") nf++;
    if (line === ".fi") nf--;
    if (rs < 0 || nf < 0 || rs > 1 || nf > 1) problems.push(`line ${i + 1}: unbalanced ${line}`);
  }
  if (rs !== 0 || nf !== 0) problems.push("unbalanced .RS/.RE or .nf/.fi");
  return problems;
}

/** The first of `programs` that is installed, or undefined. Needs --allow-run. */
async function installed(...programs: string[]): Promise<string | undefined> {
  for (const program of programs) {
    try {
      const r = await new Deno.Command(program, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (r.success) return program;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return undefined;
}

Deno.test("manPage() writes a page for every tool, in section 1 (section 8 for the daemon)", () => {
  assert.deepEqual(
    TOOLS.map((tool) => manPagePath(tool.doc)),
    [
      "man1/condor_token_create.1",
      "man1/condor_token_list.1",
      "man1/condor_token_request.1",
      "man1/condor_token_request_list.1",
      "man1/condor_token_request_approve.1",
      "man1/condor_token_request_deny.1",
      "man1/condor_token_request_auto_approve.1",
      "man1/condor_token_fetch.1",
      "man8/condor_tokend.8",
    ],
  );
});

Deno.test("every manual page is well-formed man(7) roff", () => {
  for (const tool of TOOLS) {
    const page = manPage(tool.doc, VERSION);
    assert.deepEqual(roffProblems(page, tool.name, tool.doc.section), [], tool.name);
  }
});

Deno.test("the roff check finds what a renderer would trip over (the control)", () => {
  const tool = TOOLS[0];
  const page = manPage(tool.doc, VERSION);
  assert.notDeepEqual(roffProblems(page.replace(".SH OPTIONS", ".SX OPTIONS"), tool.name, 1), []);
  assert.notDeepEqual(roffProblems(page.replace("\\-identity", "-identity"), tool.name, 1), []);
  assert.notDeepEqual(roffProblems(page.replace(".fi\n", ""), tool.name, 1), []);
  assert.notDeepEqual(roffProblems(page + "\\fBbold\n", tool.name, 1), []);
});

Deno.test("every option a tool parses is named in its manual page and in its -help", () => {
  for (const tool of TOOLS) {
    const page = manPage(tool.doc, VERSION);
    const options = page.slice(page.indexOf(".SH OPTIONS"), page.indexOf('.SH "EXIT STATUS"'));
    for (const option of tool.doc.options) {
      const roffName = `.TP\n\\fB\\-${option.name}\\fR`;
      assert.ok(options.includes(roffName), `${tool.name}: -${option.name} not in its manual page`);
      assert.ok(
        tool.usage.includes(`    ${optionLabel(option)}`),
        `${tool.name}: -${option.name} not in its -help`,
      );
      // What is documented is what is parsed: the option's own spelling selects it.
      assert.equal(matchOption(`-${option.name}`, tool.doc.options)?.name, option.name);
    }
    // And nothing is documented that the tool does not take.
    const documented = [...options.matchAll(/^\.TP\n\\fB\\-([a-z_]+)\\fR/gm)].map((m) => m[1]);
    assert.deepEqual(documented.sort(), tool.doc.options.map((o) => o.name).sort(), tool.name);
  }
});

Deno.test("every tool's -help lists -version, and -version prints the version", async () => {
  for (const tool of TOOLS) {
    assert.match(tool.usage, /^ {4}-version {2,}Print the version/m, tool.name);
    const io = memoryIo();
    assert.equal(await tool.main(["-version"], io), 0, tool.name);
    assert.equal(io.stdout.join(""), `condor_token ${VERSION}\n`, tool.name);
  }
});

Deno.test("no -help points to a file of the source repository, which does not ship with the binaries", () => {
  for (const tool of TOOLS) {
    assert.doesNotMatch(tool.usage, /\b(docs|src|scripts|tests)\/\S+/, tool.name);
  }
});

/** Renders `path` with man -l and groff (those installed); returns their complaints. */
async function renderWarnings(path: string, renderers: readonly string[]): Promise<string> {
  let complaints = "";
  for (const renderer of renderers) {
    const args = renderer === "man"
      ? ["--warnings", "-l", path]
      : ["-man", "-ww", "-z", "-Tutf8", path];
    const r = await new Deno.Command(renderer, {
      args,
      env: { MANWIDTH: "80", LANG: "C.UTF-8", PATH: "/usr/bin:/bin" },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).output();
    complaints += new TextDecoder().decode(r.stderr);
    if (!r.success) complaints += `${renderer} exited ${r.code}\n`;
  }
  return complaints;
}

Deno.test("every manual page renders without a warning in man -l and groff, when installed", async () => {
  const renderers = [await installed("man"), await installed("groff")].filter((r) =>
    r !== undefined
  );
  if (renderers.length === 0) {
    // The structural check above still holds; a fresh machine may have no renderer.
    console.log("neither man nor groff is installed: render check skipped");
    return;
  }
  await withTempDir(async (dir) => {
    // The control: a page with an unknown macro is complained about.
    await Deno.writeTextFile(`${dir}/bad.1`, ".TH BAD 1\n.SH NAME\nbad \\- x\n.nosuchmacro\n");
    assert.match(await renderWarnings(`${dir}/bad.1`, renderers), /warning/);
    for (const tool of TOOLS) {
      const path = `${dir}/${manPagePath(tool.doc).replace("/", "_")}`;
      await Deno.writeTextFile(path, manPage(tool.doc, VERSION));
      assert.equal(await renderWarnings(path, renderers), "", tool.name);
    }
  });
});
