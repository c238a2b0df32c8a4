/**
 * A port that is not a token daemon is "unreachable", not "untrusted": a
 * plain HTTP server, or condor_tokend addressed with HTCondor's protocol,
 * gets exit 7 and one line saying in words what answered.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { startTestDaemon } from "../_support/daemon.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";

async function withDaemonAnd(
  fn: (env: Record<string, string>, tokendPort: number, httpPort: number) => Promise<void>,
) {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("a web server\n"),
    );
    try {
      await fn(daemon.env, Number(new URL(daemon.url).port), http.addr.port);
    } finally {
      await http.shutdown();
      await daemon.close();
    }
  });
}

Deno.test("condor_token_request (e2e): a plain HTTP server at a bare address speaks neither protocol: exit 7", async () => {
  await withDaemonAnd(async (env, _tokend, httpPort) => {
    const r = await runTool("condor_token_request", ["-pool", `127.0.0.1:${httpPort}`], {
      env,
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.UNREACHABLE, r.stderr);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /speaks neither HTTPS \(condor_tokend\) nor HTCondor's protocol/);
  });
});

Deno.test("condor_token_request (e2e): https:// to a plain HTTP server says it answered without TLS: exit 7", async () => {
  await withDaemonAnd(async (env, _tokend, httpPort) => {
    const r = await runTool("condor_token_request", ["-pool", `https://127.0.0.1:${httpPort}`], {
      env,
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.UNREACHABLE, r.stderr);
    assert.match(r.stderr, /answered in a protocol other than TLS \(a plain HTTP server/);
  });
});

Deno.test("condor_token_request (e2e): cedar:// to condor_tokend says it answers in TLS: exit 7", async () => {
  await withDaemonAnd(async (env, tokendPort) => {
    const r = await runTool("condor_token_request", ["-pool", `cedar://127.0.0.1:${tokendPort}`], {
      env,
      requesterFlags: true,
    });
    assert.equal(r.code, EXIT.UNREACHABLE, r.stderr);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(
      r.stderr,
      /answers in TLS, not HTCondor's protocol \(a condor_tokend\? address it as https:/,
    );
  });
});
