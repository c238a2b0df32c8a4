import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import {
  condorTokenRequest,
  fullIdentity,
  parseRequestOptions,
} from "../../src/cli/condor_token_request.ts";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { memoryIo } from "../../src/cli/io.ts";

const FP = "sha256:" + "AB:".repeat(31) + "AB";

Deno.test("parseRequestOptions() accepts HTCondor's prefixes, first match winning", () => {
  const o = parseRequestOptions([
    "-a",
    "read",
    "-auth",
    "WRITE",
    "-l",
    "600",
    "-i",
    "bob",
    "-p",
    "cm:9620",
    "-n",
    "bird",
    "-t",
    "schedd",
    "-to",
    "friend",
  ]);
  assert.deepEqual(o.authz, ["READ", "WRITE"]);
  assert.equal(o.lifetime, 600);
  assert.equal(o.identity, "bob");
  assert.equal(o.target.pool, "cm:9620");
  assert.equal(o.target.name, "bird");
  assert.equal(o.target.type, "SCHEDD");
  assert.equal(o.token, "friend");
  assert.equal(o.timeout, 3600);
  assert.equal(o.json, false);
});

Deno.test("parseRequestOptions() reads our own options and double-dash spellings", () => {
  const o = parseRequestOptions([
    "--timeout",
    "30",
    "-tr",
    FP.toLowerCase(),
    "-trust",
    FP.slice(7).replace(/:/g, ""),
    "-st",
    "/tmp/req",
    "-j",
    "-f",
    "/tmp/tok",
    "-debug",
  ]);
  assert.equal(o.timeout, 30);
  assert.deepEqual(o.target.trust, [FP, FP]);
  assert.equal(o.state, "/tmp/req");
  assert.equal(o.json, true);
  assert.equal(o.file, "/tmp/tok");
  assert.deepEqual(o.target.debug, {});
  // No -type: the session asks the pool's collector (what every run test talks to).
  assert.equal(o.target.type, undefined);
});

Deno.test("parseRequestOptions() refuses every bad option with a UsageError naming it", () => {
  const cases: [string[], RegExp][] = [
    [["-lifetime", "-5"], /-lifetime.*"-5"/],
    [["-lifetime", "ten"], /-lifetime.*"ten"/],
    [["-lifetime", "0"], /-lifetime/],
    [["-lifetime"], /-lifetime requires a value/],
    [["-authz", "READ", "-authz"], /-authz requires a value/],
    [["-authz", "FLY"], /-authz.*"FLY"/],
    [["-type", "toaster"], /-type.*"toaster"/],
    [["-type"], /-type requires a value/],
    [["-identity"], /-identity requires a value/],
    [["-identity", "a b"], /-identity/],
    [["-identity", "condor@pool\u202e.gro.live"], /-identity: it contains U\+202E/],
    [["-identity", "a\u0000b@c"], /-identity: it contains U\+0000/],
    [["-identity", "condor\u200b@pool"], /-identity: it contains U\+200B/],
    [["-pool"], /-pool requires a value/],
    [["-pool", "http://cm"], /-pool.*"http:\/\/cm"/],
    [["-name"], /-name requires a value/],
    [["-token"], /-token requires a value/],
    [["-token", "../escape"], /plain file name/],
    [["-token", "a", "-file", "b"], /-token and -file/],
    [["-timeout", "soon"], /-timeout.*"soon"/],
    [["-trust", "sha256:12"], /-trust.*"sha256:12"/],
    [["-state"], /-state requires a value/],
    [["-frobnicate"], /Invalid command line argument: -frobnicate/],
    [["extra"], /Invalid command line argument: extra/],
    [["-debugx"], /Invalid command line argument: -debugx/],
    [["-lifetime", "5", "-lifetime", "6"], /more than once/],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseRequestOptions(args),
      (err) => err instanceof UsageError && message.test(err.message),
      args.join(" "),
    );
  }
});

Deno.test("condor_token_request prints one line plus usage on stderr and exits 2 for a bad option", async () => {
  const io = memoryIo();
  assert.equal(await condorTokenRequest.main(["-lifetime", "ten"], io), EXIT.USAGE);
  assert.deepEqual(io.stdout, []);
  const lines = io.stderr.join("").split("\n");
  assert.match(lines[0], /^condor_token_request: Invalid value for -lifetime: "ten"/);
  assert.match(lines[1], /^Usage: condor_token_request/);
});

Deno.test("condor_token_request -help prints the usage on stdout and exits 0", async () => {
  const io = memoryIo();
  assert.equal(await condorTokenRequest.main(["-help"], io), EXIT.OK);
  assert.match(io.stdout.join(""), /^Usage: condor_token_request/);
  assert.deepEqual(io.stderr, []);
});

Deno.test("fullIdentity() applies HTCondor's condor@UID_DOMAIN defaults", () => {
  assert.equal(fullIdentity(undefined, "example.org"), "condor@example.org");
  assert.equal(fullIdentity("alice", "example.org"), "alice@example.org");
  assert.equal(fullIdentity("alice@other.org", "example.org"), "alice@other.org");
});
