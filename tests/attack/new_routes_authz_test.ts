/**
 * Attack: the endpoints added with the route table, called by strangers.
 * A watch holds a slot of MAX_WATCHERS and re-reads every pending request
 * on each change; an issued-token listing scans up to 20,000 audit
 * records; resume ends a hold. Each must refuse a caller who is not an
 * administrator before it waits, scans or changes anything. And the table
 * itself: method names that are names of Object.prototype, and paths
 * whose segments are escaped dots or slashes, must find no endpoint.
 */
import assert from "node:assert/strict";
import { handlerApi } from "../_support/api.ts";
import { TEST_TRUST_DOMAIN, withDaemon } from "../_support/daemon.ts";

Deno.test("attack: non-administrators cannot watch, list issued tokens or resume a rule; prototype method names and escaped paths find no endpoint", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const api = handlerApi(daemon);
    const user = await daemon.mintToken(`alice@${TEST_TRUST_DOMAIN}`);
    const calls: [string, string][] = [
      ["GET", "/v1/token-requests?watch=1&wait=30"],
      ["GET", "/v1/issued-tokens?limit=1000&peer=0.0.0.0/0"],
      ["POST", "/v1/auto-approval-rules/1/resume"],
    ];
    for (const [method, path] of calls) {
      const started = performance.now();
      const raw = method === "GET" ? undefined : "";
      const anonymous = await api.call(method, path, { raw });
      const alice = await api.call(method, path, { raw, token: user });
      assert.deepEqual(
        [anonymous.status, anonymous.body.error.code, alice.status, alice.body.error.code],
        [401, "NOT_AUTHENTICATED", 403, "NOT_AUTHORIZED"],
        path,
      );
      assert.ok(performance.now() - started < 5000, `${path} waited`);
    }
    for (const method of ["__proto__", "constructor", "hasOwnProperty", "toString", "OPTIONS"]) {
      const answer = await api.call(method, "/v1/info");
      assert.deepEqual([answer.status, answer.headers.get("allow")], [405, "GET"], method);
    }
    const paths: [string, number][] = [
      ["/v1/info/", 404],
      ["/v1//info", 404],
      ["/v1/auto-approval-rules/1%2Fresume", 405],
      ["/v1/auto-approval-rules/%2e%2e/resume", 404],
    ];
    for (const [path, status] of paths) {
      assert.equal(
        (await api.call("POST", path, { raw: "", token: daemon.adminToken })).status,
        status,
        path,
      );
    }
    const escaped = await api.call("DELETE", "/v1/auto-approval-rules/1%2Fresume", {
      token: daemon.adminToken,
    });
    assert.deepEqual([escaped.status, escaped.body.error.code], [400, "BAD_RULE_ID"]);
  });
});
