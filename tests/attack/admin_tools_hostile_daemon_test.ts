/**
 * Attack: a compromised condor_tokend (its certificate pinned, so trusted)
 * against the administrator's tools. What it lists is pasted into
 * configuration or shown on a terminal, so it must come out as itself; and
 * its answers must not set the tools spinning.
 *
 * - `-watch` against a daemon that answers every long poll at once, with the
 *   same cursor, asked as fast as the network allowed (a busy loop).
 * - `-watch -json` and `-issued -json` printed bidi overrides, C1 controls and
 *   line separators raw: JSON.stringify escapes only C0.
 * - `-issued -revocation` wrote a jti with such characters into the
 *   SEC_TOKEN_REVOCATION_EXPR line, which an administrator reads and pastes
 *   (and `-revocation -jti` took them from the command line).
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { startTestDaemon } from "../_support/daemon.ts";
import { runTool, spawnTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { untrustedEnv } from "../e2e/_token_request.ts";
import { HOSTILE_TEXT, hostileRequest, startHostileHttps } from "./_hostile_https.ts";

/** Characters that must never reach stdout raw. */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Runs `fn` with the env of a real daemon's configuration (its POOL key makes an admin token). */
async function withEnv(fn: (env: Record<string, string>) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    try {
      await fn(untrustedEnv(daemon.env));
    } finally {
      await daemon.close();
    }
  });
}

/** Runs `-watch -json` for `ms` against `url`, then SIGINT; returns its output. */
async function watchFor(url: string, fingerprint: string, env: Record<string, string>, ms: number) {
  const child = spawnTool(
    "condor_token_request_approve",
    ["-pool", url, "-trust", fingerprint, "-watch", "-json"],
    { env },
  );
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  const killer = setTimeout(() => child.kill("SIGINT"), ms);
  const hard = setTimeout(() => child.kill("SIGKILL"), ms + 20_000);
  try {
    const status = await child.status;
    return { code: status.code, stdout: await stdout, stderr: await stderr };
  } finally {
    clearTimeout(killer);
    clearTimeout(hard);
  }
}

Deno.test("attack: -watch against a daemon that answers each long poll at once does not spin", async () => {
  await withEnv(async (env) => {
    const cursor = "0".repeat(32);
    const hostile = await startHostileHttps((url) =>
      url.pathname === "/v1/token-requests" ? { requests: [], cursor } : undefined
    );
    try {
      const r = await watchFor(hostile.url, hostile.fingerprint, env, 4_000);
      assert.equal(r.code, 0, r.stderr);
      const watches = hostile.calls.filter((c) => c.includes("watch=1")).length;
      // A long poll that comes back at once is asked again at most about once a second.
      assert.ok(watches >= 1 && watches <= 8, `${watches} watch calls in 4 s`);
    } finally {
      await hostile.close();
    }
  });
});

Deno.test("attack: -watch -json prints a hostile daemon's strings escaped, the same values", async () => {
  await withEnv(async (env) => {
    let n = 0;
    const hostile = await startHostileHttps((url) =>
      url.pathname === "/v1/token-requests"
        ? { requests: [hostileRequest("1234567")], cursor: (++n).toString(16).padStart(32, "0") }
        : undefined
    );
    try {
      const r = await watchFor(hostile.url, hostile.fingerprint, env, 3_000);
      assert.equal(r.code, 0, r.stderr);
      const line = r.stdout.split("\n")[0];
      assert.doesNotMatch(r.stdout.replaceAll("\n", ""), HIDDEN, JSON.stringify(r.stdout));
      const shown = JSON.parse(line);
      assert.equal(shown.RequestedIdentity, `alice${HOSTILE_TEXT}@tokend-test.example.org`);
      assert.equal(shown.ClientId, `host${HOSTILE_TEXT}`);
    } finally {
      await hostile.close();
    }
  });
});

/** An issued-token record carrying {@link HOSTILE_TEXT} in its jti and identity. */
function hostileIssued() {
  return {
    tokens: [{
      jti: `6c0f${HOSTILE_TEXT}`,
      identity: `mallory${HOSTILE_TEXT}@tokend-test.example.org`,
      authorizations: ["READ"],
      issuedAt: 1_700_000_000,
      expiresAt: null,
      how: "fetch",
    }],
  };
}

Deno.test("attack: -issued -json prints a hostile daemon's strings escaped, the same values", async () => {
  await withEnv(async (env) => {
    const hostile = await startHostileHttps((url) =>
      url.pathname === "/v1/issued-tokens" ? hostileIssued() : undefined
    );
    try {
      const r = await runTool("condor_token_request_list", [
        ...["-pool", hostile.url, "-trust", hostile.fingerprint, "-issued", "-json"],
      ], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout.replaceAll("\n", ""), HIDDEN, JSON.stringify(r.stdout));
      assert.equal(JSON.parse(r.stdout)[0].jti, `6c0f${HOSTILE_TEXT}`);
    } finally {
      await hostile.close();
    }
  });
});

Deno.test("attack: -issued -revocation writes no hostile jti into the configuration line", async () => {
  await withEnv(async (env) => {
    const hostile = await startHostileHttps((url) =>
      url.pathname === "/v1/issued-tokens" ? hostileIssued() : undefined
    );
    try {
      const r = await runTool("condor_token_request_list", [
        ...["-pool", hostile.url, "-trust", hostile.fingerprint, "-issued", "-revocation"],
      ], { env });
      assert.notEqual(r.code, EXIT.OK, r.stdout);
      assert.equal(r.stdout, "");
      assert.doesNotMatch(r.stderr.replaceAll("\n", ""), HIDDEN, JSON.stringify(r.stderr));
      assert.match(r.stderr, /U\+009B/);
    } finally {
      await hostile.close();
    }
  });
});

for (
  const [what, character] of [["U+2028", "\u2028"], ["U+0085", "\u0085"], ["U+202E", "\u202e"]]
) {
  Deno.test(`attack: -revocation -jti with ${what} is refused, nothing printed`, async () => {
    await withEnv(async (env) => {
      const r = await runTool("condor_token_request_list", [
        ...["-revocation", "-jti", `abc${character}def`],
      ], { env });
      assert.equal(r.code, EXIT.USAGE, r.stderr);
      assert.equal(r.stdout, "");
      assert.doesNotMatch(r.stderr.replaceAll("\n", ""), HIDDEN, JSON.stringify(r.stderr));
    });
  });
}

Deno.test("attack: -issued stops at once when a daemon's cursor is not a record number", async () => {
  await withEnv(async (env) => {
    // "x" as the next cursor: Number("x") is NaN, which no comparison
    // catches, so the tool used to ask 1,000 times before giving up.
    const hostile = await startHostileHttps((url) =>
      url.pathname === "/v1/issued-tokens" ? { ...hostileIssued(), next: "x" } : undefined
    );
    try {
      const r = await runTool("condor_token_request_list", [
        ...["-pool", hostile.url, "-trust", hostile.fingerprint, "-issued", "-json"],
      ], { env });
      assert.equal(r.code, EXIT.FAILURE, r.stderr);
      assert.match(r.stderr, /its cursor did not move on/);
      assert.equal(hostile.calls.filter((c) => c.startsWith("/v1/issued-tokens")).length, 1);
    } finally {
      await hostile.close();
    }
  });
});
