/**
 * Which program the end-to-end suite runs: main.ts and the requester's entry
 * by default, the shipped bundles under CONDOR_TOKEN_E2E_ENTRY=bundle
 * (scripts/test_bundle), the compiled binaries under
 * CONDOR_TOKEN_E2E_ENTRY=binary (the release workflow). Guards against a
 * suite that claims to test what ships while still running the sources.
 */
import assert from "node:assert/strict";
import { FULL_FLAGS, REQUESTER_FLAGS } from "../../scripts/permissions.ts";
import {
  binaryFile,
  bundleFile,
  e2eEntryKind,
  MAIN_TS,
  REQUESTER_MAIN_TS,
  runTool,
  toolArgs,
  toolCommand,
} from "../_support/run_tool.ts";

Deno.test("toolCommand() runs the binaries under CONDOR_TOKEN_E2E_ENTRY=binary, named for this platform", () => {
  if (e2eEntryKind() !== "binary") return;
  assert.deepEqual(toolCommand("condor_tokend", ["-port", "0"]), {
    program: binaryFile("condor_token"),
    args: ["condor_tokend", "-port", "0"],
  });
  assert.deepEqual(toolCommand("condor_token_request", ["-pool", "x"], { requesterFlags: true }), {
    program: binaryFile("condor_token_request"),
    args: ["-pool", "x"],
  });
  assert.match(binaryFile("condor_token"), new RegExp(`/condor_token-[^/]+-${Deno.build.target}`));
  // A probe script still runs through Deno with the shipped flags.
  assert.equal(toolCommand(undefined, [], { entry: "/p.js" }).program, Deno.execPath());
});

Deno.test("toolArgs() runs the entry the suite was asked to test, with the binary's flags", () => {
  if (e2eEntryKind() === "binary") return; // toolCommand() above
  const tokend = toolArgs("condor_tokend", ["-port", "0"]);
  const request = toolArgs("condor_token_request", ["-pool", "x"], { requesterFlags: true });
  if (e2eEntryKind() === "bundle") {
    assert.deepEqual(tokend, [
      "run",
      "--quiet",
      "--no-config",
      ...FULL_FLAGS,
      bundleFile("condor_token"),
      "condor_tokend",
      "-port",
      "0",
    ]);
    assert.deepEqual(request, [
      "run",
      "--quiet",
      "--no-config",
      ...REQUESTER_FLAGS,
      bundleFile("condor_token_request"),
      "-pool",
      "x",
    ]);
  } else {
    assert.deepEqual(tokend, [
      "run",
      "--quiet",
      ...FULL_FLAGS,
      MAIN_TS,
      "condor_tokend",
      "-port",
      "0",
    ]);
    assert.deepEqual(request, [
      "run",
      "--quiet",
      ...REQUESTER_FLAGS,
      REQUESTER_MAIN_TS,
      "-pool",
      "x",
    ]);
  }
});

Deno.test("-version prints the deno.json version from both programs, as a tool name's first option too", async () => {
  const version = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .version;
  const runs = [
    await runTool(undefined, ["-version"]),
    await runTool(undefined, ["--version"]),
    await runTool("condor_token_list", ["-version"]),
    await runTool("condor_token_request", ["-version"], { requesterFlags: true }),
    await runTool("condor_token_request", ["--version"], { requesterFlags: true }),
  ];
  for (const r of runs) {
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, `condor_token ${version}\n`);
    assert.equal(r.code, 0);
  }
});

Deno.test("toolOfProgram() names the tool a renamed binary runs, and none for deno or condor_token", async () => {
  const { toolOfProgram } = await import("../../main.ts");
  assert.equal(toolOfProgram("/usr/local/bin/condor_token_list"), "condor_token_list");
  assert.equal(
    toolOfProgram("/opt/condor_token_request_list-0.1.0-x86_64-unknown-linux-gnu"),
    "condor_token_request_list",
  );
  assert.equal(toolOfProgram("C:\\bin\\condor_token_request.exe"), "condor_token_request");
  assert.equal(toolOfProgram("/usr/bin/condor_token-0.1.0-aarch64-apple-darwin"), undefined);
  assert.equal(toolOfProgram("/home/me/.deno/bin/deno"), undefined);
  assert.equal(toolOfProgram("/usr/bin/condor_token_listing"), undefined);
});

Deno.test("findTool() matches a tool's exact name only: paths and .exe are toolOfProgram's business", async () => {
  const { findTool } = await import("../../src/cli/tools.ts");
  assert.equal(findTool("condor_token_list")?.name, "condor_token_list");
  for (const name of ["/nowhere/condor_token_list", "condor_token_list.exe", "condor_token"]) {
    assert.equal(findTool(name), undefined, name);
  }
});
