/**
 * condor_token_request_approve -watch in process (its run with an injected
 * terminal): each request is shown as it arrives and approved only on
 * "yes"; a "no" leaves it pending and it is not asked about again; the
 * interrupt ends the watch with exit 0.
 */
import assert from "node:assert/strict";
import { condorTokenRequestApprove } from "../../src/cli/condor_token_request_approve.ts";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { startTestDaemon } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { apiFor } from "../_support/api.ts";

Deno.test("condor_token_request_approve -watch shows each request as it comes and approves it only on yes", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    const api = apiFor(daemon);
    try {
      const before = await api.enqueue({ identity: "alice@tokend-test.example.org" });
      const controller = new AbortController();
      const answers: string[] = [];
      let wake = () => {};
      const io = memoryIo({ env: daemon.env, terminal: true, signal: controller.signal });
      // The terminal: a line once the test types it.
      io.readLine = async () => {
        while (answers.length === 0) await new Promise<void>((resolve) => wake = resolve);
        return answers.shift()!;
      };
      const type = (line: string) => {
        answers.push(line);
        wake();
      };
      const asked = (id: string) =>
        until(
          `the question about ${id}`,
          () =>
            io.stdout.join("").includes(`RequestId = "${id}"`) &&
            io.stdout.join("").endsWith("To approve, please type 'yes'\n"),
          { describe: () => io.stdout.join("") + io.stderr.join("") },
        );
      const running = condorTokenRequestApprove.main(["-watch"], io);

      await asked(before.body.requestId);
      type("yes");
      const later = await api.enqueue({ identity: "bob@tokend-test.example.org" });
      await asked(later.body.requestId);
      type("no");
      const third = await api.enqueue({ identity: "carol@tokend-test.example.org" });
      await asked(third.body.requestId);
      type("yes");
      await until(
        "the third approval",
        () => io.stdout.join("").includes(`Request ${third.body.requestId} approved`),
      );
      controller.abort("SIGINT");
      assert.equal(await running, EXIT.OK, io.stderr.join(""));

      const out = io.stdout.join("");
      assert.equal(out.split("Request contents:").length - 1, 3, "each request asked about once");
      assert.match(out, new RegExp(`Request ${before.body.requestId} approved successfully\\.`));
      assert.doesNotMatch(out, new RegExp(`Request ${later.body.requestId} approved`));
      const err = io.stderr.join("");
      assert.match(err, /Request was NOT approved\.\n/);
      assert.match(err, /Stopped watching\.\n$/);
      const pending = await api.get("/v1/token-requests", daemon.adminToken);
      assert.deepEqual(
        pending.body.requests.map((r: { requestId: string }) => r.requestId),
        [later.body.requestId],
      );
    } finally {
      api.close();
      await daemon.close();
    }
  });
});
