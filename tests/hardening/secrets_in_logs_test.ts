/**
 * Nothing secret in any log: a realistic session, every shipped tool and
 * the daemon run with -debug (all TOOL_DEBUG categories) as subprocesses
 * with the shipped permission flags, including failures (a forged token, a
 * wrong secret, a bad bearer header). Every token issued in the session,
 * every requester secret and the signing key (its file bytes and the
 * derived HMAC key, in hex, base64 and base64url) are then looked for in
 * the daemon's and the tools' stderr, and in the state database, which
 * must hold neither tokens nor secrets in clear. Any JWT-shaped string in a
 * log fails the test too, so tokens the test does not know of (the tools'
 * own short-lived admin tokens) are caught as well.
 */
import assert from "node:assert/strict";
import { deriveJwtKeyBytes, scramble } from "../../src/token/signing_key.ts";
import { prepareTestDaemonDir, TEST_ADMIN, type TestDaemonPaths } from "../_support/daemon.ts";
import { runTool, spawnTool, type ToolResult } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { Requester } from "../e2e/_token_request.ts";
import { apiFor, newSecret } from "../_support/api.ts";

const JWT_SHAPE = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{20,}/;

/** condor_tokend -port 0 -debug in `paths`; resolves once its address file is written. */
async function startDebugDaemon(paths: TestDaemonPaths) {
  const child = spawnTool("condor_tokend", ["-port", "0", "-debug"], {
    env: { CONDOR_CONFIG: paths.configPath, HOME: paths.home, TOOL_DEBUG: "D_ALL" },
  });
  const stderr = new Response(child.stderr).text();
  const stdout = new Response(child.stdout).text();
  const deadline = Date.now() + 30_000;
  while (true) {
    const url = await Deno.readTextFile(paths.addressFile).then((t) => t.trim(), () => "");
    if (url !== "") {
      return {
        url,
        certPem: await Deno.readTextFile(paths.certFile),
        async stop() {
          child.kill("SIGTERM");
          await child.status;
          return (await stdout) + (await stderr);
        },
      };
    }
    if (Date.now() > deadline) throw new Error("condor_tokend did not start");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** True when any 16-character stretch of `secret` occurs in `text`: a partial leak counts. */
function leaks(text: string, secret: string, window = 16): boolean {
  for (let i = 0; i + window <= secret.length; i++) {
    if (text.includes(secret.slice(i, i + window))) return true;
  }
  return false;
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("no token, requester secret or key material appears in any log of a full session", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    const daemon = await startDebugDaemon(paths);
    const env = {
      CONDOR_CONFIG: paths.configPath,
      HOME: paths.home,
      _CONDOR_COLLECTOR_HOST: new URL(daemon.url).host,
      _CONDOR_TOOL_DEBUG: "D_ALL",
    };
    const logs: string[] = [];
    const tokens: string[] = [];
    const secrets: string[] = [];
    const tool = async (name: string, args: string[], options: { stdin?: string } = {}) => {
      const result: ToolResult = await runTool(name, [...args, "-debug"], {
        env,
        requesterFlags: name === "condor_token_request",
        ...options,
      });
      logs.push(`${name}:\n${result.stderr}`);
      for (const t of result.stdout.match(new RegExp(JWT_SHAPE, "g")) ?? []) tokens.push(t);
      return result;
    };
    const waitForRequest = async (args: string[]) => {
      const requester = new Requester([...args, "-debug"], { ...env, TOOL_DEBUG: "D_ALL" });
      const id = await requester.requestId();
      return { requester, id };
    };
    const api = apiFor(daemon);
    let daemonLog = "";
    try {
      // A requester that is approved, saving its state (and so its secret) in a file.
      const state = `${dir}/request.state`;
      const approved = await waitForRequest(["-state", state, "-token", "boot"]);
      secrets.push(JSON.parse(await Deno.readTextFile(state)).secret);
      assert.equal((await tool("condor_token_request_list", [])).code, 0);
      const approve = await tool("condor_token_request_approve", ["-reqid", approved.id, "-yes"]);
      assert.equal(approve.code, 0, approve.stderr);
      const approvedRun = await approved.requester.done;
      assert.equal(approvedRun.code, 0, approvedRun.stderr);
      logs.push(`requester (approved):\n${approvedRun.stderr}`);
      tokens.push((await Deno.readTextFile(`${paths.tokenDirectory}/boot`)).trim());

      // One denied, one auto-approved, one on stdout as JSON.
      const denied = await waitForRequest(["-state", `${dir}/denied.state`]);
      secrets.push(JSON.parse(await Deno.readTextFile(`${dir}/denied.state`)).secret);
      assert.equal((await tool("condor_token_request_deny", ["-reqid", denied.id])).code, 0);
      const deniedRun = await denied.requester.done;
      logs.push(`requester (denied):\n${deniedRun.stderr}`);
      assert.notEqual(deniedRun.code, 0);
      const rule = await tool("condor_token_request_auto_approve", [
        "-netblock",
        "127.0.0.1/32",
        "-lifetime",
        "600",
      ]);
      assert.equal(rule.code, 0, rule.stderr);
      const auto = await tool("condor_token_request", ["-authz", "ADVERTISE_STARTD", "-json"]);
      assert.equal(auto.code, 0, auto.stderr);
      assert.equal(tokens.length, 2, "the auto-approved token came on stdout");

      // Tokens made or fetched by the other tools.
      const created = await tool("condor_token_create", [
        "-identity",
        TEST_ADMIN,
        "-token",
        "admin",
      ]);
      assert.equal(created.code, 0, created.stderr);
      tokens.push((await Deno.readTextFile(`${paths.tokenDirectory}/admin`)).trim());
      const fetched = await tool("condor_token_fetch", ["-authz", "READ"]);
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.equal((await tool("condor_token_list", [])).code, 0);

      // Failures: a forged token file, a wrong secret, a bad bearer header.
      const forged = tokens[0].slice(0, -4) + (tokens[0].endsWith("AAAA") ? "BBBB" : "AAAA");
      await Deno.writeTextFile(`${paths.tokenDirectory}/admin`, forged + "\n", { mode: 0o600 });
      tokens.push(forged);
      assert.notEqual((await tool("condor_token_request_list", [])).code, 0);
      // Not condor@: the rule installed above would issue at once.
      const enqueued = await api.enqueue({ identity: "alice@tokend-test.example.org" });
      assert.equal(enqueued.body.state, "pending");
      secrets.push(enqueued.secret);
      const wrong = newSecret();
      secrets.push(wrong);
      const refused = await api.post(`/v1/token-requests/${enqueued.body.requestId}/collect`, {
        secret: wrong,
        waitSeconds: 0,
      });
      assert.equal(refused.status, 403);
      const badBearer = await api.get("/v1/token-requests", `${tokens[1]}x`);
      assert.equal(badBearer.status, 401);
      await api.post(`/v1/token-requests/${enqueued.body.requestId}/approve`, {}, forged);
      const collected = await api.post(`/v1/token-requests/${enqueued.body.requestId}/collect`, {
        secret: enqueued.secret,
        waitSeconds: 0,
      });
      assert.equal(collected.body.state, "pending");
    } finally {
      api.close();
      daemonLog = await daemon.stop();
    }
    logs.push(`condor_tokend:\n${daemonLog}`);
    assert.match(daemonLog, /audit issue request=\d{7}/, "the daemon did log its decisions");
    assert.deepEqual([tokens.length, secrets.length], [5, 4], "every token and secret was caught");

    const keyFile = await Deno.readFile(paths.poolKeyFile);
    const password = scramble(keyFile);
    const derived = await deriveJwtKeyBytes(password, { isPool: true });
    const keyForms = [keyFile, password, derived].flatMap((bytes) => [
      hex(bytes),
      b64(bytes),
      b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
      new TextDecoder("latin1").decode(bytes),
    ]);
    const all = logs.join("\n");
    for (const token of tokens) {
      assert.ok(!leaks(all, token.split(".")[2]), `(part of) a token's signature appears in a log`);
    }
    for (const secret of secrets) assert.ok(!leaks(all, secret), "(part of) a secret appears");
    for (const form of keyForms) assert.ok(!leaks(all, form), "(part of) the key appears");
    const shaped = all.match(JWT_SHAPE);
    assert.equal(
      shaped,
      null,
      `a JWT-shaped string appears in a log: ${shaped?.[0].slice(0, 20)}...`,
    );

    // The state database keeps neither tokens nor secrets (only hashes and jtis).
    let stored = "";
    for await (const entry of Deno.readDir(paths.stateDirectory)) {
      if (entry.name.startsWith("tokend.sqlite")) {
        stored += new TextDecoder("latin1").decode(
          await Deno.readFile(`${paths.stateDirectory}/${entry.name}`),
        );
      }
    }
    assert.ok(stored.length > 0);
    for (const token of tokens) assert.ok(!leaks(stored, token.split(".")[2]), "token stored");
    for (const secret of secrets) assert.ok(!leaks(stored, secret), "secret stored in clear");
    assert.equal(stored.match(JWT_SHAPE), null);
  });
});
