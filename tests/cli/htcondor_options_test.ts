/**
 * Every option HTCondor 25's tools take is taken by ours under the same
 * spellings (the same prefixes select it), or refused with one line saying
 * why; and docs/admin_tools.md's table lists every option of every tool.
 */
import assert from "node:assert/strict";
import { matchOption } from "../../src/cli/_options.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { TOOLS } from "../../src/cli/tools.ts";
import { HTCONDOR_OPTIONS, htcondorMatch } from "../_support/htcondor_options.ts";

Deno.test("every option of HTCondor's tools is one of ours, selected by the same prefixes", () => {
  for (const tool of TOOLS) {
    const theirs = HTCONDOR_OPTIONS[tool.name];
    assert.ok(theirs, `${tool.name} is in the table of HTCondor's options`);
    for (const option of theirs) {
      const ours = tool.doc.options.find((o) => o.name === option.name);
      assert.ok(ours, `${tool.name} -${option.name}`);
      assert.equal(ours.value, option.value, `${tool.name} -${option.name} takes a value`);
      for (let length = 1; length <= option.name.length; length++) {
        const arg = `-${option.name.slice(0, length)}`;
        const htcondor = htcondorMatch(tool.name, arg);
        if (htcondor === undefined) continue;
        assert.equal(
          matchOption(arg, tool.doc.options)?.name,
          htcondor.name,
          `${tool.name} ${arg} is -${htcondor.name} in HTCondor`,
        );
      }
    }
  }
});

Deno.test("an HTCondor option a tool does not support is refused in one line saying why, exit 2", async () => {
  const refused = TOOLS.flatMap((tool) =>
    tool.doc.options.filter((o) => o.unsupported).map((o) => [tool, o] as const)
  );
  assert.deepEqual(
    refused.map(([tool, o]) => `${tool.name} -${o.name}`),
    ["condor_token_list -capability", "condor_token_fetch -remote"],
  );
  for (const [tool, option] of refused) {
    assert.ok(HTCONDOR_OPTIONS[tool.name].some((o) => o.name === option.name));
    const io = memoryIo();
    assert.equal(await tool.main([`-${option.name}`], io), 2, `${tool.name} -${option.name}`);
    assert.equal(io.stdout.join(""), "");
    const stderr = io.stderr.join("");
    assert.match(
      stderr,
      new RegExp(`^${tool.name}: Option -${option.name} is not supported here: [^\\n]+\\n$`),
    );
  }
});

Deno.test("condor_token_list takes -pool, -name and -type as HTCondor does without -capability", () => {
  const list = TOOLS.find((t) => t.name === "condor_token_list")!;
  for (const name of ["pool", "name", "type"]) {
    assert.ok(list.doc.options.find((o) => o.name === name && !o.unsupported), name);
  }
});

Deno.test("docs/admin_tools.md has a row for every option of every tool, ours and HTCondor's", async () => {
  const text = await Deno.readTextFile(new URL("../../docs/admin_tools.md", import.meta.url));
  const start = text.indexOf("## Every option, tool by tool");
  assert.ok(start >= 0, "the section exists");
  const end = text.indexOf("\n## ", start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  for (const tool of TOOLS) {
    const head = section.indexOf(`### \`${tool.name}\``);
    assert.ok(head >= 0, `a table for ${tool.name}`);
    const next = section.indexOf("\n### ", head + 1);
    const table = section.slice(head, next < 0 ? undefined : next);
    const rows = [...table.matchAll(/^\| `-([a-z_]+)/gm)].map((m) => m[1]);
    const names = new Set([
      ...tool.doc.options.map((o) => o.name),
      ...HTCONDOR_OPTIONS[tool.name].map((o) => o.name),
    ]);
    assert.deepEqual([...rows].sort(), [...names].sort(), tool.name);
  }
});
