/**
 * Every bad command line, end to end: one line naming the problem plus the
 * usage on stderr, nothing on stdout, exit 2, and no daemon contacted (the
 * pool named here does not exist).
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { runTool } from "../_support/run_tool.ts";

const CASES: [string[], string][] = [
  [
    ["-lifetime", "-5"],
    `Invalid value for -lifetime: "-5" is not a whole number of seconds (0 or more)`,
  ],
  [
    ["-lifetime", "ten"],
    `Invalid value for -lifetime: "ten" is not a whole number of seconds (0 or more)`,
  ],
  [["-lifetime"], "Option -lifetime requires a value"],
  [["-authz", "FLY"], `Invalid value for -authz: "FLY" is not an authorization level`],
  [["-authz"], "Option -authz requires a value"],
  [["-type", "toaster"], `Invalid value for -type: "toaster" is not a daemon type`],
  [["-type"], "Option -type requires a value"],
  [["-identity"], "Option -identity requires a value"],
  [["-pool"], "Option -pool requires a value"],
  [["-pool", "http://cm.example.org"], `Invalid value for -pool: "http://cm.example.org"`],
  [["-name"], "Option -name requires a value"],
  [["-token"], "Option -token requires a value"],
  [["-token", "../../etc/passwd"], `Cannot store token as "../../etc/passwd"`],
  [["-token", "a", "-file", "b"], "Options -token and -file cannot be used together"],
  [["-file", ""], "Invalid value for -file: it is empty"],
  [["-timeout", "-1"], `Invalid value for -timeout: "-1"`],
  [["-trust", "sha256:00"], `Invalid value for -trust: "sha256:00"`],
  [["-state"], "Option -state requires a value"],
  [["-frobnicate"], "Invalid command line argument: -frobnicate"],
  [["-t"], "Option -type requires a value"],
  [
    ["-identity", "condor@pool\u202e.gro.live"],
    "Invalid value for -identity: it contains U+202E, a control or invisible character",
  ],
];

Deno.test("condor_token_request (e2e): every bad option prints one line and the usage, exit 2", async () => {
  const env = { _CONDOR_COLLECTOR_HOST: "cm.invalid", HOME: "/nonexistent" };
  const results = await Promise.all(
    CASES.map(([args]) => runTool("condor_token_request", args, { env, requesterFlags: true })),
  );
  results.forEach((r, i) => {
    const [args, message] = CASES[i];
    const [first, second] = r.stderr.split("\n");
    assert.equal(r.code, EXIT.USAGE, args.join(" "));
    assert.equal(r.stdout, "", args.join(" "));
    assert.ok(first.startsWith(`condor_token_request: ${message}`), `${args.join(" ")}: ${first}`);
    assert.match(second, /^Usage: condor_token_request /);
  });
});

Deno.test("condor_token_request (e2e): -help prints the usage on stdout and exits 0", async () => {
  const r = await runTool("condor_token_request", ["-help"], { requesterFlags: true });
  assert.equal(r.code, EXIT.OK);
  assert.match(r.stdout, /^Usage: condor_token_request /);
  assert.match(r.stdout, /-trust/);
  assert.equal(r.stderr, "");
});
