import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { parseApproveOptions } from "../../src/cli/condor_token_request_approve.ts";
import { parseAutoApproveOptions } from "../../src/cli/condor_token_request_auto_approve.ts";
import { parseDenyOptions } from "../../src/cli/condor_token_request_deny.ts";
import { parseFetchOptions } from "../../src/cli/condor_token_fetch.ts";
import { parseListOptions } from "../../src/cli/condor_token_request_list.ts";

const FP = "sha256:" + "AB:".repeat(31) + "AB";

Deno.test("parseListOptions() takes HTCondor's prefixes and -json only in full", () => {
  const o = parseListOptions([
    "-r",
    "0123456",
    "-json",
    "-p",
    "cm.example.org:9620",
    "-n",
    "tokend",
    "-t",
    "collector",
    "-tr",
    FP,
    "-debug",
  ]);
  assert.equal(o.reqid, "0123456");
  assert.equal(o.json, true);
  assert.equal(o.target.pool, "cm.example.org:9620");
  assert.equal(o.target.name, "tokend");
  assert.equal(o.target.type, "COLLECTOR");
  assert.deepEqual(o.target.trust, [FP]);
  assert.deepEqual(o.target.debug, {});

  const defaults = parseListOptions(["--json"]);
  assert.deepEqual(defaults, {
    target: { pool: undefined, name: undefined, type: undefined, trust: [], debug: undefined },
    reqid: undefined,
    json: true,
    issued: false,
    identities: [],
    peer: undefined,
    revocation: false,
    jtis: [],
    issuedBefore: undefined,
  });
  assert.throws(() => parseListOptions(["-js"]), /Invalid command line argument: -js/);
  assert.throws(() => parseListOptions(["-jsonx"]), /Invalid command line argument: -jsonx/);
});

Deno.test("parse*Options() refuse a request ID that is not 7 digits", () => {
  for (const bad of ["123", "12345678", "abcdefg", " 123456", ""]) {
    assert.throws(() => parseListOptions(["-reqid", bad]), UsageError);
    assert.throws(() => parseApproveOptions(["-reqid", bad]), /is not a request ID \(7 digits\)/);
    assert.throws(() => parseDenyOptions(["-reqid", bad]), UsageError);
  }
});

Deno.test("parseApproveOptions() allows -yes only with -reqid, and only spelled out", () => {
  assert.deepEqual(
    { ...parseApproveOptions(["-reqid", "7654321", "-yes"]), target: undefined },
    { target: undefined, reqid: "7654321", yes: true, json: false, watch: false },
  );
  assert.equal(parseApproveOptions(["--reqid", "7654321", "--yes"]).yes, true);
  assert.equal(parseApproveOptions([]).yes, false);
  assert.throws(() => parseApproveOptions(["-yes"]), /Option -yes needs -reqid/);
  assert.throws(() => parseApproveOptions(["-reqid", "7654321", "-y"]), /Invalid command line/);
});

Deno.test("parseDenyOptions() requires -reqid; -re is -reqid and -rea is -reason", () => {
  const o = parseDenyOptions(["-re", "1111111", "-rea", "not known here"]);
  assert.equal(o.reqid, "1111111");
  assert.equal(o.reason, "not known here");
  assert.equal(parseDenyOptions(["-reqid", "1111111"]).reason, undefined);
  assert.throws(() => parseDenyOptions(["-reason", "x"]), /Option -reqid is required/);
  assert.throws(() => parseDenyOptions(["-reqid", "1111111", "-reason"]), /requires a value/);
  assert.equal(
    parseDenyOptions(["-reqid", "1111111", "-reason", "x".repeat(1024)]).reason?.length,
    1024,
  );
  assert.throws(
    () => parseDenyOptions(["-reqid", "1111111", "-reason", "x".repeat(1025)]),
    /at most 1024/,
  );
});

Deno.test("parseAutoApproveOptions() requires -netblock and a positive -lifetime; -n stays -name", () => {
  const o = parseAutoApproveOptions(["-ne", "192.168.0.0/24", "-l", "3600", "-n", "cm"]);
  assert.deepEqual(o.action, { kind: "install", netblock: "192.168.0.0/24", lifetime: 3600 });
  assert.equal(o.json, false);
  assert.equal(o.target.name, "cm");
  // Ours need three letters: -li is still -lifetime, as in HTCondor.
  assert.deepEqual(parseAutoApproveOptions(["-lis", "-j"]).action, { kind: "list" });
  assert.deepEqual(parseAutoApproveOptions(["-rem", "7"]).action, { kind: "remove", ruleId: 7 });
  assert.throws(() => parseAutoApproveOptions(["-li"]), /-lifetime requires a value/);
  assert.throws(() => parseAutoApproveOptions(["-lifetime", "60"]), /-netblock is required/);
  assert.throws(
    () => parseAutoApproveOptions(["-netblock", "10.0.0.0/8"]),
    /-lifetime is required/,
  );
  assert.throws(
    () => parseAutoApproveOptions(["-netblock", "10.0.0.0/8", "-lifetime", "0"]),
    /Invalid value for -lifetime: "0"/,
  );
  assert.throws(
    () => parseAutoApproveOptions(["-netblock", "10.0.0.0/8", "-lifetime", "-5"]),
    /Invalid value for -lifetime: "-5"/,
  );
  assert.throws(() => parseAutoApproveOptions(["-netblock", " ", "-lifetime", "5"]), /empty/);
});

Deno.test("parseFetchOptions() follows HTCondor's order: -t is -type, -to is -token", () => {
  const o = parseFetchOptions([
    "-a",
    "read",
    "-authz",
    "WRITE",
    "-l",
    "600",
    "-t",
    "schedd",
    "-to",
    "mine",
    "-k",
    "POOL",
    "-tr",
    FP,
  ]);
  assert.deepEqual(o.authz, ["READ", "WRITE"]);
  assert.equal(o.lifetime, 600);
  assert.equal(o.target.type, "SCHEDD");
  assert.equal(o.token, "mine");
  assert.equal(o.key, "POOL");
  assert.deepEqual(o.target.trust, [FP]);
  assert.equal(parseFetchOptions(["-f", "/tmp/t"]).file, "/tmp/t");
  assert.equal(parseFetchOptions([]).target.type, undefined);

  assert.throws(() => parseFetchOptions(["-to", "a", "-f", "/b"]), /cannot be used together/);
  assert.throws(() => parseFetchOptions(["-token", "../x"]), /plain file name/);
  assert.throws(() => parseFetchOptions(["-key", "a/b"]), UsageError);
  assert.throws(() => parseFetchOptions(["-lifetime", "0"]), /at least 1 second/);
  assert.throws(() => parseFetchOptions(["-authz", "FLY"]), /"FLY" is not an authorization/);
  assert.throws(() => parseFetchOptions(["-type", "toaster"]), /"toaster" is not a daemon type/);
  // HTCondor's -remote is known, and refused as not supported here.
  assert.throws(() => parseFetchOptions(["-remote"]), /Option -remote is not supported here: /);
});
