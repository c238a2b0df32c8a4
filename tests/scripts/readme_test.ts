/**
 * The README shows what the tools print: its -json example of
 * condor_token_request is one line, with the fields, in the order, that the
 * tool prints for an approved request; and what it says about the first run
 * from the sources (npm packages fetched, quietly by the quickstart) is what
 * the quickstart does.
 */
import assert from "node:assert/strict";
import { withDaemon } from "../_support/daemon.ts";
import { parseRequestOptions, runRequest } from "../../src/cli/condor_token_request.ts";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { memoryIo } from "../../src/cli/io.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));

Deno.test("the README's -json example is printed as condor_token_request prints it", async () => {
  const section = README.slice(README.indexOf("**`-json`** prints one JSON object"));
  const example = section.match(/^\$ condor_token_request [^\n]*-json[^\n]*\n(\{[^\n]*\})\n```/m);
  assert.ok(example, "an example command and its one line of output");
  const shown = JSON.parse(example[1]);
  assert.equal(JSON.stringify(shown), example[1], "compact, on one line, as the tool prints");

  await withDaemon({}, async ({ daemon, admin }) => {
    const io = memoryIo({ env: daemon.env });
    const running = runRequest(parseRequestOptions(["-json"]), io);
    let id: string | undefined;
    while (id === undefined) {
      id = io.stderr.join("").match(/approve request (\d{7})\./)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.equal(io.stdout.length, 1);
    const printed = JSON.parse(io.stdout[0]);
    assert.equal(io.stdout[0], JSON.stringify(printed) + "\n");
    assert.deepEqual(Object.keys(shown), Object.keys(printed));
    assert.deepEqual([shown.outcome, shown.exitCode], [printed.outcome, printed.exitCode]);
  });
});

Deno.test("the README says how the first run from the sources fetches npm packages, as the quickstart does", async () => {
  const quickstart = await Deno.readTextFile(new URL("../../scripts/quickstart", import.meta.url));
  const fetch = README.match(/\(`scripts\/deno (cache --quiet [^`]*)`/);
  assert.ok(fetch, "the README names the command that fetches them quietly");
  assert.ok(
    quickstart.includes(fetch[1].replace("main.ts src/requester_main.ts", "")),
    "the quickstart runs it",
  );
  assert.match(README, /`Download https:\/\/registry\.npmjs\.org\/\.\.\.`/);
});
