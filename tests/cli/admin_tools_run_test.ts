import assert from "node:assert/strict";
import { targetExitCode } from "../../src/cli/_exit_status.ts";
import { decisionError, tidyRefusal } from "../../src/cli/_refusals.ts";
import { condorTokenRequestApprove } from "../../src/cli/condor_token_request_approve.ts";
import { condorTokenRequestList } from "../../src/cli/condor_token_request_list.ts";
import { narrowed } from "../../src/cli/condor_token_fetch.ts";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { type Io, memoryIo } from "../../src/cli/io.ts";
import { DAEMON_ERRORS } from "../../src/client/daemon_client.ts";
import {
  CondorError,
  DaemonError,
  type DaemonErrorCode,
  TokenError,
  TrustError,
} from "../../src/errors.ts";
import { writeTokenToDirectory } from "../../src/token/token_file.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";

const ADDRESS = "https://cm.example.org:9618";

/** An unsigned token with `payload` (narrowed() only decodes). */
function tokenWith(payload: Record<string, unknown>): string {
  const part = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "");
  return `${part({ alg: "HS256", kid: "POOL" })}.${part(payload)}.sig`;
}

Deno.test("narrowed() names the authorizations dropped and the lifetime cut, and nothing else", () => {
  const token = tokenWith({ iat: 1000, exp: 1300, scope: "condor:/READ" });
  assert.deepEqual(narrowed(token, { authz: ["READ"], lifetime: 300 }), []);
  assert.deepEqual(narrowed(token, { authz: [], lifetime: undefined }), []);
  const notes = narrowed(token, { authz: ["READ", "WRITE", "DAEMON"], lifetime: 600 });
  assert.equal(notes.length, 2);
  assert.match(notes[0], /^the token does not carry WRITE, DAEMON: .*\(it carries READ\)$/);
  assert.match(notes[1], /^the token lives 300 s, not the 600 s asked/);
  // An unrestricted token carries everything; one without exp lives as long as asked.
  assert.deepEqual(narrowed(tokenWith({ iat: 1000 }), { authz: ["WRITE"], lifetime: 60 }), []);
  assert.deepEqual(narrowed("not a token", { authz: ["WRITE"], lifetime: 60 }), []);
});

Deno.test("decisionError() turns the daemon's refusals into one clear line, keeping code and status", () => {
  // As the client makes them: the daemon's own message travels as `reason`.
  const refusal = (status: number, code: DaemonErrorCode, reason: string) =>
    new DaemonError(
      code,
      `Cannot approve token request 1234567 at ${ADDRESS}: ${reason}`,
      status,
      { reason },
    );

  const unknown = decisionError(
    refusal(404, "REQUEST_UNKNOWN", "Request unknown."),
    "approve",
    "1234567",
    ADDRESS,
  );
  assert.ok(unknown instanceof DaemonError);
  assert.equal(unknown.code, "REQUEST_UNKNOWN");
  assert.equal(unknown.status, 404);
  assert.equal(
    unknown.message,
    `Cannot approve request 1234567: the daemon at ${ADDRESS} knows no request with that ID`,
  );

  const decided = decisionError(
    refusal(409, "WRONG_STATE", "Request in incorrect state."),
    "deny",
    "1234567",
    ADDRESS,
  );
  assert.match(
    (decided as Error).message,
    /^Cannot deny request 1234567: it is no longer pending /,
  );

  const other = decisionError(
    refusal(403, "NOT_AUTHORIZED", "Insufficient privilege to deny request."),
    "deny",
    "1234567",
    ADDRESS,
  );
  assert.equal(
    (other as Error).message,
    "Cannot deny request 1234567: insufficient privilege: only an administrator " +
      "(ALLOW_ADMINISTRATOR) may deny a request for an identity other than the caller's " +
      "(daemon said: Insufficient privilege to deny request.)",
  );

  const transport = new DaemonError(DAEMON_ERRORS.UNREACHABLE, "Cannot approve: refused");
  assert.equal(decisionError(transport, "approve", "1234567", ADDRESS), transport);
  const bad = refusal(400, "BAD_REASON", "Cannot deny token request: reason must be text");
  assert.match(
    (decisionError(bad, "deny", "1234567", ADDRESS) as Error).message,
    /at https:\/\/cm\.example\.org:9618: reason must be text$/,
  );
});

Deno.test("tidyRefusal() drops the daemon's repeated 'Cannot ...:' and nothing else", () => {
  const reason = `Cannot install auto-approval rule: "a@b" is not an administrator`;
  const doubled = new DaemonError(
    "NOT_AUTHORIZED",
    `Cannot install auto-approval rule at ${ADDRESS}: ${reason}`,
    403,
    { reason },
  );
  assert.equal(
    (tidyRefusal(doubled) as Error).message,
    `Cannot install auto-approval rule at ${ADDRESS}: "a@b" is not an administrator`,
  );
  const plain = new DaemonError(
    "REQUEST_UNKNOWN",
    `Cannot list token requests at ${ADDRESS}: Request unknown.`,
    404,
    { reason: "Request unknown." },
  );
  assert.equal(tidyRefusal(plain), plain);
});

Deno.test("targetExitCode() maps failures to the documented exit codes", () => {
  const io = memoryIo();
  const daemon = (code: DaemonErrorCode, status?: number) => new DaemonError(code, "x", status);
  assert.equal(targetExitCode(daemon(DAEMON_ERRORS.UNREACHABLE), io), EXIT.UNREACHABLE);
  assert.equal(targetExitCode(daemon(DAEMON_ERRORS.TIMEOUT), io), EXIT.UNREACHABLE);
  assert.equal(targetExitCode(daemon(DAEMON_ERRORS.TLS), io), EXIT.UNTRUSTED);
  assert.equal(targetExitCode(new TrustError("TRUST_UNKNOWN", "x"), io), EXIT.UNTRUSTED);
  assert.equal(targetExitCode(daemon(DAEMON_ERRORS.NO_CREDENTIALS), io), EXIT.NOT_AUTHORIZED);
  assert.equal(targetExitCode(daemon("NOT_AUTHENTICATED", 401), io), EXIT.NOT_AUTHORIZED);
  assert.equal(targetExitCode(daemon("SCOPE_RESTRICTED", 403), io), EXIT.NOT_AUTHORIZED);
  assert.equal(targetExitCode(daemon("REQUEST_UNKNOWN", 404), io), EXIT.FAILURE);
  assert.equal(targetExitCode(daemon("WRONG_STATE", 409), io), EXIT.FAILURE);
  assert.equal(targetExitCode(new CondorError("CONFIG_MISSING", "x"), io), EXIT.FAILURE);
  // An answer goes by its status, whatever its code; without one, by the code.
  assert.equal(targetExitCode(daemon("DAEMON_REFUSED", 403), io), EXIT.NOT_AUTHORIZED);
  assert.equal(targetExitCode(daemon("DAEMON_REFUSED"), io), EXIT.FAILURE);
  assert.equal(targetExitCode(daemon("HTCONDOR_ERROR_6", 403), io), EXIT.NOT_AUTHORIZED);
  assert.equal(targetExitCode(daemon("HTCONDOR_ERROR_5"), io), EXIT.FAILURE);
  assert.equal(
    targetExitCode(new TokenError("TOKEN_NOT_AS_REQUESTED", "x"), io),
    EXIT.UNTRUSTED,
  );
  const controller = new AbortController();
  controller.abort("SIGTERM");
  assert.equal(
    targetExitCode(daemon(DAEMON_ERRORS.ABORTED), memoryIo({ signal: controller.signal })),
    EXIT.SIGTERM,
  );
});

Deno.test("condor_token_request_list says on stderr which token files it skipped as unsafe", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    try {
      // The administrator's token, but readable by the group: skipped, with a warning.
      const tokens = testDaemonPaths(dir).tokenDirectory;
      await writeTokenToDirectory(tokens, "admin", daemon.adminToken);
      await Deno.chmod(`${tokens}/admin`, 0o640);
      const io = memoryIo({ env: daemon.env });
      assert.equal(await condorTokenRequestList.main([], io), EXIT.OK);
      assert.match(
        io.stderr.join(""),
        /^condor_token_request_list: Ignoring token file .*\/admin: mode 0640 lets other users read it; run "chmod 0600 .*\/admin"\n/,
      );
    } finally {
      await daemon.close();
    }
  });
});

Deno.test("condor_token_request_list names a signing-key knob with a bad value instead of saying it has no credential", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    try {
      const io = memoryIo({
        env: { ...daemon.env, _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD: "maybe" },
      });
      assert.equal(await condorTokenRequestList.main([], io), EXIT.FAILURE);
      assert.match(io.stderr.join(""), /SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD/);
    } finally {
      await daemon.close();
    }
  });
});

Deno.test("-debug shows the configuration's warnings", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    try {
      await Deno.writeTextFile(
        daemon.configPath,
        (await Deno.readTextFile(daemon.configPath)) + "warning : check this pool's settings\n",
      );
      const io = memoryIo({ env: daemon.env });
      assert.equal(await condorTokenRequestList.main(["-debug"], io), EXIT.OK);
      assert.match(io.stderr.join(""), /^DEBUG: configuration: .*check this pool's settings$/m);
    } finally {
      await daemon.close();
    }
  });
});

Deno.test("condor_token_request_approve ends with 130 and approves nothing when interrupted at the prompt", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    const http = Deno.createHttpClient({ caCerts: [daemon.certPem] });
    try {
      const response = await fetch(`${daemon.url}/v1/token-requests`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          identity: `alice@${TEST_TRUST_DOMAIN}`,
          authz: [],
          lifetime: null,
          clientId: "unit",
          secret: "s".repeat(43),
        }),
        client: http,
      });
      const { requestId } = await response.json();
      const controller = new AbortController();
      let prompted: () => void = () => {};
      const atPrompt = new Promise<void>((resolve) => prompted = resolve);
      const base = memoryIo({ env: daemon.env, signal: controller.signal });
      const io: Io & { stdout: string[]; stderr: string[] } = {
        ...base,
        readLine: () => {
          prompted();
          return new Promise<string | null>(() => {}); // a user who never answers
        },
      };
      const run = condorTokenRequestApprove.main([], io);
      await atPrompt;
      controller.abort("SIGINT");
      assert.equal(await run, EXIT.SIGINT);
      assert.match(
        io.stdout.join(""),
        new RegExp(`RequestId = "${requestId}"[^]*To approve, please type 'yes'\n$`),
      );
      assert.equal(io.stderr.join(""), "Request was NOT approved.\n");

      const listed = await fetch(`${daemon.url}/v1/token-requests`, {
        headers: { authorization: `Bearer ${daemon.adminToken}` },
        client: http,
      });
      assert.equal((await listed.json()).requests[0].state, "pending");
    } finally {
      http.close();
      await daemon.close();
    }
  });
});
