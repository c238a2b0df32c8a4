/**
 * How the administrator's and users' tools fail, as shipped: unknown request,
 * request no longer pending, insufficient authorization, no credentials, bad
 * command lines, no daemon. Each is one clear line on stderr and a non-zero
 * exit status.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import type { ToolResult } from "../_support/run_tool.ts";
import { id, withFixture } from "./_admin_tools.ts";

/** Asserts a failure: the exit code, nothing on stdout, and exactly one line on stderr matching `line`. */
function assertOneLine(r: ToolResult, code: number, line: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout.replace(/^Request contents:\n[^]*?\n\n/, ""), "");
  assert.match(r.stderr, /^[^\n]+\n$/, `not one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, line);
}

const DAEMON = "https://127\\.0\\.0\\.1:\\d+";

Deno.test("the tools say clearly when a request ID is unknown", async () => {
  await withFixture(async (f) => {
    const [approve, interactive, deny, list] = await Promise.all([
      f.run("condor_token_request_approve", ["-reqid", "0000001", "-yes"], f.keyEnv),
      f.run("condor_token_request_approve", ["-reqid", "0000001"], f.keyEnv, "yes\n"),
      f.run("condor_token_request_deny", ["-reqid", "0000001"], f.keyEnv),
      f.run("condor_token_request_list", ["-reqid", "0000001"], f.keyEnv),
    ]);
    assertOneLine(
      approve,
      EXIT.FAILURE,
      new RegExp(
        `^condor_token_request_approve: Cannot approve request 0000001: the daemon at ${DAEMON} knows no request with that ID\n$`,
      ),
    );
    assertOneLine(
      interactive,
      EXIT.FAILURE,
      /^condor_token_request_approve: Remote daemon did not provide information for request ID 0000001: /,
    );
    assertOneLine(
      deny,
      EXIT.FAILURE,
      new RegExp(
        `^condor_token_request_deny: Cannot deny request 0000001: the daemon at ${DAEMON} knows no request with that ID\n$`,
      ),
    );
    assertOneLine(
      list,
      EXIT.FAILURE,
      /^condor_token_request_list: Remote daemon did not provide information for request ID 0000001: /,
    );
  });
});

Deno.test("the tools say clearly when a request is no longer pending", async () => {
  await withFixture(async (f) => {
    const approved = await f.enqueue({ identity: id("alice") });
    const denied = await f.enqueue({ identity: id("bob") });
    await Promise.all([
      f.run("condor_token_request_approve", ["-reqid", approved.requestId, "-yes"], f.keyEnv),
      f.run("condor_token_request_deny", ["-reqid", denied.requestId], f.keyEnv),
    ]);
    const [denyApproved, approveDenied] = await Promise.all([
      f.run("condor_token_request_deny", ["-reqid", approved.requestId], f.keyEnv),
      f.run("condor_token_request_approve", ["-reqid", denied.requestId, "-yes"], f.keyEnv),
    ]);
    assertOneLine(
      denyApproved,
      EXIT.FAILURE,
      new RegExp(
        `^condor_token_request_deny: Cannot deny request ${approved.requestId}: it is no longer pending \\(already approved or denied, expired, or withdrawn by the requester\\)\n$`,
      ),
    );
    assertOneLine(
      approveDenied,
      EXIT.FAILURE,
      new RegExp(
        `^condor_token_request_approve: Cannot approve request ${denied.requestId}: it is no longer pending `,
      ),
    );
  });
});

Deno.test("a user may not decide on another identity's request, widen a request, or install rules", async () => {
  await withFixture(async (f) => {
    const bobs = await f.enqueue({ identity: id("bob") });
    const wide = await f.enqueue({ identity: id("alice"), authz: ["READ", "WRITE"] });
    const narrow = await f.enqueue({ identity: id("alice"), authz: ["READ"], lifetime: 60 });
    const alice = await f.userEnv(id("alice"), ["READ"], 3600);

    const [approveBob, denyBob, widen, rule, own] = await Promise.all([
      f.run("condor_token_request_approve", ["-reqid", bobs.requestId, "-yes"], alice),
      f.run("condor_token_request_deny", ["-reqid", bobs.requestId], alice),
      f.run("condor_token_request_approve", ["-reqid", wide.requestId, "-yes"], alice),
      f.run(
        "condor_token_request_auto_approve",
        ["-netblock", "127.0.0.1", "-lifetime", "60"],
        alice,
      ),
      f.run("condor_token_request_approve", ["-reqid", narrow.requestId], alice, "yes\n"),
    ]);
    assertOneLine(
      approveBob,
      EXIT.NOT_AUTHORIZED,
      new RegExp(
        `^condor_token_request_approve: Cannot approve request ${bobs.requestId}: insufficient privilege for alice@tokend-test\\.example\\.org \\(the token in .*\\/token line 1\\): only an administrator \\(ALLOW_ADMINISTRATOR\\) may approve a request for an identity other than the caller's`,
      ),
    );
    assertOneLine(
      denyBob,
      EXIT.NOT_AUTHORIZED,
      new RegExp(
        `^condor_token_request_deny: Cannot deny request ${bobs.requestId}: insufficient privilege for alice@`,
      ),
    );
    assertOneLine(
      widen,
      EXIT.NOT_AUTHORIZED,
      new RegExp(
        `^condor_token_request_approve: Cannot approve request ${wide.requestId}: not authorized for alice@tokend-test\\.example\\.org \\(the token in .*\\/token line 1\\) \\(daemon said: Insufficient privilege to approve request \\(scope restricted\\)\\.\\)\n$`,
      ),
    );
    assertOneLine(
      rule,
      EXIT.NOT_AUTHORIZED,
      new RegExp(
        `^condor_token_request_auto_approve: Cannot install auto-approval rule at ${DAEMON}: "${
          id("alice")
        }" does not have ADMINISTRATOR authorization \\(acting as ${
          id("alice")
        } \\(the token in .*\\/token line 1\\)\\)\n$`,
      ),
    );
    // Within the user's own scope and lifetime, their own identity's request is theirs to approve.
    assert.equal(own.code, EXIT.OK, own.stderr);
    assert.equal((await f.collect(bobs.requestId, bobs.secret)).state, "pending");
    assert.equal((await f.collect(wide.requestId, wide.secret)).state, "pending");
    assert.equal((await f.collect(narrow.requestId, narrow.secret)).state, "collected");
  });
});

Deno.test("without credentials every tool says how to get one", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const runs = await Promise.all([
      f.run("condor_token_request_list", [], f.noCredentialEnv),
      f.run(
        "condor_token_request_approve",
        ["-reqid", request.requestId],
        f.noCredentialEnv,
        "yes\n",
      ),
      f.run("condor_token_request_deny", ["-reqid", request.requestId], f.noCredentialEnv),
      f.run(
        "condor_token_request_auto_approve",
        ["-netblock", "127.0.0.1", "-lifetime", "60"],
        f.noCredentialEnv,
      ),
      f.run("condor_token_fetch", [], f.noCredentialEnv),
    ]);
    for (const r of runs) {
      assertOneLine(
        r,
        EXIT.NOT_AUTHORIZED,
        /^condor_token_\w+: Cannot authenticate to the daemon \(trust domain "tokend-test\.example\.org", keys POOL\): no token in [^,]*no-tokens(, [^,]*system-tokens\.d)? was issued by it, and no signing key it holds is readable here; get a token with condor_token_fetch or condor_token_request, or ask the pool administrator\n$/,
      );
    }
    assert.equal((await f.collect(request.requestId, request.secret)).state, "pending");
  });
});

Deno.test("an administrator's token found in SEC_TOKEN_DIRECTORY is used, and a forged one refused", async () => {
  await withFixture(async (f) => {
    const request = await f.enqueue({ identity: id("alice") });
    const good = await f.tokenEnv("admin", f.daemon.adminToken);
    const [header, payload] = f.daemon.adminToken.split(".");
    const forged = await f.tokenEnv("admin", `${header}.${payload}.${"A".repeat(43)}`);
    const [ok, refused] = await Promise.all([
      f.run("condor_token_request_list", ["-debug"], good),
      f.run("condor_token_request_list", [], forged),
    ]);
    assert.equal(ok.code, EXIT.OK, ok.stderr);
    assert.match(ok.stdout, new RegExp(`RequestId = "${request.requestId}"`));
    assert.match(
      ok.stderr,
      /DEBUG: authenticating as admin@tokend-test\.example\.org with the token in .*\/admin line 1\n/,
    );
    assertOneLine(
      refused,
      EXIT.NOT_AUTHORIZED,
      new RegExp(
        `^condor_token_request_list: Cannot list token requests at ${DAEMON}: .*signature`,
      ),
    );
  });
});

Deno.test("-d and -debug:CATEGORIES work as in HTCondor: the categories stand in for TOOL_DEBUG", async () => {
  await withFixture(async (f) => {
    const env = {
      ...await f.tokenEnv("admin", f.daemon.adminToken),
      _CONDOR_TOOL_DEBUG: "D_NETWORK",
    };
    const [plain, security] = await Promise.all([
      f.run("condor_token_request_list", ["-d"], env),
      f.run("condor_token_request_list", ["-debug:D_SECURITY,D_FULLDEBUG"], env),
    ]);
    for (const r of [plain, security]) {
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.match(r.stderr, /^DEBUG: configuration read from /m, "D_ALWAYS lines always show");
    }
    // The credential lines are D_SECURITY: not in TOOL_DEBUG's D_NETWORK, but asked for by name.
    const credential = /^DEBUG: authenticating as admin@tokend-test\.example\.org /m;
    assert.doesNotMatch(plain.stderr, credential);
    assert.match(security.stderr, credential);
  });
});

Deno.test("the tools refuse bad command lines with one line and the usage, and -help prints it", async () => {
  const cases: [string, string[], RegExp][] = [
    [
      "condor_token_request_list",
      ["-reqid", "123"],
      /Invalid value for -reqid: "123" is not a request ID \(7 digits\)/,
    ],
    ["condor_token_request_list", ["-jsn"], /Invalid command line argument: -jsn/],
    ["condor_token_request_approve", ["-reqid"], /Option -reqid requires a value/],
    [
      "condor_token_request_approve",
      ["-reqid", "12345678"],
      /Invalid value for -reqid: "12345678"/,
    ],
    ["condor_token_request_deny", ["-reqid", "abcdefg"], /Invalid value for -reqid: "abcdefg"/],
    [
      "condor_token_request_auto_approve",
      ["-netblock", "10.0.0.0/8", "-lifetime", "ten"],
      /Invalid value for -lifetime: "ten"/,
    ],
    ["condor_token_request_list", ["-pool", "http://cm"], /Invalid value for -pool: "http:\/\/cm"/],
    ["condor_token_request_list", ["-trust", "abc"], /Invalid value for -trust: "abc"/],
  ];
  const results = await Promise.all(cases.map(([tool, args]) => f(tool, args)));
  results.forEach((r, i) => {
    const [tool, args, line] = cases[i];
    assert.equal(r.code, EXIT.USAGE, `${tool} ${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.match(r.stderr.split("\n")[0], new RegExp(`^${tool}: ${line.source}`));
    assert.match(r.stderr, new RegExp(`\nUsage: ${tool} `));
  });
  for (const tool of ["condor_token_request_list", "condor_token_request_approve"]) {
    const help = await f(tool, ["-help"]);
    assert.equal(help.code, EXIT.OK);
    assert.match(help.stdout, new RegExp(`^Usage: ${tool} `));
    assert.equal(help.stderr, "");
  }

  function f(tool: string, args: string[]) {
    return import("../_support/run_tool.ts").then(({ runTool }) =>
      runTool(tool, args, { env: {} })
    );
  }
});

Deno.test("the tools exit 7 when the daemon cannot be reached", async () => {
  await withFixture(async (f) => {
    const env = { ...f.keyEnv, _CONDOR_COLLECTOR_HOST: "127.0.0.1:1" };
    const r = await f.run("condor_token_request_list", [], env);
    assertOneLine(
      r,
      EXIT.UNREACHABLE,
      /^condor_token_request_list: Cannot reach the pool's collector: tried 127\.0\.0\.1:1 /,
    );
  });
});

Deno.test({
  name: "run as root, the tools also find the administrator's token in SEC_TOKEN_SYSTEM_DIRECTORY",
  // Only root reads the system directory, as in HTCondor; the check needs --allow-sys=uid.
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
  fn: async () => {
    await withFixture(async (f) => {
      const request = await f.enqueue({ identity: id("alice") });
      const system = `${f.dir}/system-tokens.d`;
      await Deno.mkdir(system, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(`${system}/admin`, f.daemon.adminToken + "\n", { mode: 0o600 });
      const r = await f.run("condor_token_request_list", [], {
        ...f.noCredentialEnv,
        _CONDOR_SEC_TOKEN_SYSTEM_DIRECTORY: system,
      });
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.match(r.stdout, new RegExp(`RequestId = "${request.requestId}"`));
    });
  },
});
