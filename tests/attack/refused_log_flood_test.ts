/**
 * Any peer can be refused as fast as it can send (a 404, a 401, a 429):
 * each refusal used to write one log line, so one host could fill the
 * daemon's log (and journald) at its request rate, and many addresses all
 * the more. A peer's refusals of one kind are now logged once per interval,
 * the rest counted into the next line, and the kinds remembered are bounded.
 */
import assert from "node:assert/strict";
import { handlerApi } from "../_support/api.ts";
import { startTestDaemon } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";

const refusedLines = (logs: string[]) => logs.filter((l) => l.startsWith("refused "));

Deno.test("condor_tokend logs one peer's flood of refused calls once, and still logs another peer's", async () => {
  await withTempDir(async (dir) => {
    const logs: string[] = [];
    await using daemon = await startTestDaemon({ dir, log: (l) => logs.push(l) });
    const flooder = handlerApi(daemon, { peer: "192.0.2.7" });
    for (let i = 0; i < 500; i++) {
      assert.equal((await flooder.get("/v1/nothing")).status, 404);
      assert.equal((await flooder.get("/v1/token-requests")).status, 401);
    }
    const fromFlooder = refusedLines(logs).filter((l) => l.includes("from 192.0.2.7"));
    assert.deepEqual(fromFlooder, [
      "refused GET /v1/nothing from 192.0.2.7: NOT_FOUND",
      "refused GET /v1/token-requests from 192.0.2.7: NOT_AUTHENTICATED",
    ]);
    assert.equal((await handlerApi(daemon, { peer: "192.0.2.8" }).get("/v1/nothing")).status, 404);
    assert.deepEqual(
      refusedLines(logs).filter((l) => l.includes("from 192.0.2.8")),
      ["refused GET /v1/nothing from 192.0.2.8: NOT_FOUND"],
    );
  });
});

Deno.test("condor_tokend's refusal lines stay bounded when thousands of addresses are refused", async () => {
  await withTempDir(async (dir) => {
    const logs: string[] = [];
    await using daemon = await startTestDaemon({ dir, log: (l) => logs.push(l) });
    for (let i = 0; i < 3000; i++) {
      const peer = `10.1.${i >> 8}.${i & 255}`;
      assert.equal((await handlerApi(daemon, { peer }).get("/v1/nothing")).status, 404);
    }
    const lines = refusedLines(logs).length;
    assert.ok(lines <= 1025, `${lines} refusal lines for 3000 peers`);
    assert.ok(lines >= 1000, `${lines}: the first peers are each logged`);
  });
});

Deno.test("condor_tokend's refusal line quotes at most 128 characters of a peer's path and method", async () => {
  await withTempDir(async (dir) => {
    const logs: string[] = [];
    await using daemon = await startTestDaemon({ dir, log: (l) => logs.push(l) });
    const api = handlerApi(daemon, { peer: "192.0.2.9" });
    // A path as long as the default TOKEND_MAX_HEADER_BYTES lets through.
    assert.equal((await api.get(`/v1/${"a".repeat(15_000)}`)).status, 404);
    const [line] = refusedLines(logs).filter((l) => l.includes("from 192.0.2.9"));
    assert.equal(line, `refused GET /v1/${"a".repeat(124)}... from 192.0.2.9: NOT_FOUND`);
  });
});
