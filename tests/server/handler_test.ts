/**
 * The daemon's routes called as hono tests its app: the handler itself, with
 * `new Request(...)` and a peer address, no socket and no TLS. Bad input,
 * health, metrics, info, the daemon directory and peer addresses need
 * nothing of the network; the suites beside this one keep what does (long
 * polls, disconnects, connection limits, TLS).
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES } from "../../src/server/handler.ts";
import { FakeClock, handlerApi, newSecret } from "../_support/api.ts";
import { withDaemon } from "../_support/daemon.ts";

const LIST = "/v1/token-requests";
const LOOPBACK: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };

Deno.test("condor_tokend answers bad input with 4xx and a stable code, never 5xx", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const api = handlerApi(daemon);
    const valid = {
      identity: "condor@x.org",
      authz: ["READ"],
      lifetime: 60,
      clientId: "c-1",
      secret: newSecret(),
    };
    const cases: [unknown, number, string, string?][] = [
      [{ ...valid, identity: undefined }, 400, "NO_IDENTITY", "No identity request."],
      [{ ...valid, clientId: "" }, 400, "NO_CLIENT_ID", "No client ID provided."],
      [{ ...valid, identity: "no-at-sign" }, 400, "BAD_IDENTITY"],
      [{ ...valid, identity: "a b@c" }, 400, "BAD_IDENTITY"],
      [{ ...valid, authz: ["READ", "SUPERUSER"] }, 400, "BAD_AUTHZ"],
      [{ ...valid, authz: "READ" }, 400, "BAD_AUTHZ"],
      [{ ...valid, lifetime: -1 }, 400, "BAD_LIFETIME"],
      [{ ...valid, lifetime: 1.5 }, 400, "BAD_LIFETIME"],
      [{ ...valid, lifetime: "60" }, 400, "BAD_LIFETIME"],
      [{ ...valid, secret: "short" }, 400, "BAD_SECRET"],
      [{ ...valid, secret: "x".repeat(40) + "!" }, 400, "BAD_SECRET"],
      [[valid], 400, "BAD_JSON"],
      ["text", 400, "BAD_JSON"],
      [null, 400, "BAD_JSON"],
    ];
    for (const [body, status, code, message] of cases) {
      const answer = await api.call("POST", LIST, { body });
      assert.deepEqual(
        [answer.status, answer.body.error.code],
        [status, code],
        JSON.stringify(body),
      );
      if (message) assert.equal(answer.body.error.message, message);
    }
    const raws: [string, number, string][] = [
      ["{not json", 400, "BAD_JSON"],
      ["", 400, "BAD_JSON"],
      ["x".repeat(MAX_BODY_BYTES + 1), 413, "BODY_TOO_LARGE"],
    ];
    for (const [raw, status, code] of raws) {
      const answer = await api.call("POST", LIST, { raw });
      assert.deepEqual([answer.status, answer.body.error.code], [status, code]);
    }
    const paths: [string, string, number, string][] = [
      ["POST", `${LIST}/12345/collect`, 400, "BAD_REQUEST_ID"],
      ["POST", `${LIST}/abcdefg/approve`, 400, "BAD_REQUEST_ID"],
      ["GET", `${LIST}/1234567/collect`, 405, "METHOD_NOT_ALLOWED"],
      ["DELETE", LIST, 405, "METHOD_NOT_ALLOWED"],
      ["GET", "/v1/nothing", 404, "NOT_FOUND"],
      ["GET", "/", 404, "NOT_FOUND"],
      ["POST", `${LIST}/1234567/collect`, 400, "BAD_SECRET"],
    ];
    for (const [method, path, status, code] of paths) {
      const answer = await api.call(method, path, { body: method === "POST" ? {} : undefined });
      assert.deepEqual(
        [answer.status, answer.body.error.code],
        [status, code],
        `${method} ${path}`,
      );
    }
    const wait = await api.post(`${LIST}/1234567/collect`, {
      secret: newSecret(),
      waitSeconds: "x",
    });
    assert.deepEqual([wait.status, wait.body.error.code], [400, "BAD_WAIT"]);
    const junk = [
      "[]",
      "1e999",
      '{"identity":{}}',
      '{"identity":"a@b","authz":[null],"clientId":"c","secret":"' + "s".repeat(40) + '"}',
      "\u0000\u0001",
      '{"__proto__":{"x":1}}',
    ];
    for (const raw of junk) {
      for (
        const path of [
          LIST,
          `${LIST}/0000001/collect`,
          `${LIST}/0000001/cancel`,
          "/v1/tokens",
          "/v1/daemons",
          "/v1/auto-approval-rules",
        ]
      ) {
        const answer = await api.call("POST", path, { raw });
        assert.ok(answer.status >= 400 && answer.status < 500, `${path} ${raw}: ${answer.status}`);
        assert.equal(typeof answer.body.error.code, "string");
        assert.ok(!/at .*\.ts:\d+/.test(answer.body.error.message), "no stack trace");
      }
    }
  });
});

Deno.test("condor_tokend answers health and Prometheus metrics", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const api = handlerApi(daemon);
    const health = await api.get("/healthz");
    assert.deepEqual([health.status, health.body], [200, "ok\n"]);
    const { body } = await api.enqueue();
    await api.post(`${LIST}/${body.requestId}/approve`, undefined, daemon.adminToken);
    await api.get(LIST);
    const metrics = await api.get("/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    for (
      const line of [
        /^# TYPE condor_tokend_pending_requests gauge$/m,
        /^condor_tokend_pending_requests 0$/m,
        /^condor_tokend_live_requests 1$/m,
        /^condor_tokend_decisions_total\{decision="approve"\} 1$/m,
        /^condor_tokend_enqueued_total\{kind="new"\} 1$/m,
        /^condor_tokend_rejected_calls_total\{code="NOT_AUTHENTICATED"\} 1$/m,
        /^# TYPE condor_tokend_issued_tokens_total counter$/m,
      ]
    ) assert.match(metrics.body, line);
  });
});

Deno.test("condor_tokend's info names its trust domain, keys, name and type", async () => {
  await withDaemon({ extraConfig: "TOKEND_DAEMON_NAME = cm.example.org" }, async ({ daemon }) => {
    const api = handlerApi(daemon);
    const info = await api.get("/v1/info");
    assert.equal(info.status, 200);
    assert.equal(info.body.trustDomain, "tokend-test.example.org");
    assert.deepEqual(info.body.issuerKeys, ["POOL"]);
    assert.deepEqual([info.body.name, info.body.type], ["cm.example.org", "COLLECTOR"]);
    assert.equal(typeof info.body.version, "string");
  });
});

Deno.test("condor_tokend keeps a directory of daemons that expire unless renewed", async () => {
  const clock = new FakeClock();
  await withDaemon(
    { now: clock.now, extraConfig: "TOKEND_DAEMON_NAME = cm.example.org" },
    async ({ daemon }) => {
      const api = handlerApi(daemon);
      const self = await api.get("/v1/daemons");
      assert.deepEqual(self.body.daemons, [{
        name: "cm.example.org",
        type: "COLLECTOR",
        address: daemon.url,
      }]);
      const ad = {
        name: "schedd.example.org",
        type: "schedd",
        address: "https://schedd.example.org:9618/x",
        lifetime: 120,
      };
      assert.equal((await api.post("/v1/daemons", ad)).status, 401);
      const user = await daemon.mintToken("alice@tokend-test.example.org");
      assert.equal((await api.post("/v1/daemons", ad, user)).status, 403);
      const advertised = await api.post("/v1/daemons", ad, daemon.adminToken);
      assert.deepEqual(advertised.body, {
        name: "schedd.example.org",
        type: "SCHEDD",
        address: "https://schedd.example.org:9618",
        lifetime: 120,
      });
      const daemonToken = await daemon.mintToken("condor@tokend-test.example.org", ["DAEMON"]);
      const startd = { name: "node1", type: "STARTD", address: "https://node1:9618" };
      assert.equal((await api.post("/v1/daemons", startd, daemonToken)).status, 200);
      const schedds = await api.get("/v1/daemons?type=SCHEDD");
      assert.deepEqual(schedds.body.daemons.map((d: { name: string }) => d.name), [
        "schedd.example.org",
      ]);
      const byName = await api.get("/v1/daemons?name=SCHEDD.example.org");
      assert.equal(byName.body.daemons.length, 1);
      clock.advance(121);
      const later = await api.get("/v1/daemons?type=SCHEDD");
      assert.deepEqual(later.body.daemons, []);
      assert.equal((await api.get("/v1/daemons?type=STARTD")).body.daemons.length, 1);
      const bad = await api.post("/v1/daemons", { ...ad, address: "ftp://x" }, daemon.adminToken);
      assert.deepEqual([bad.status, bad.body.error.code], [400, "BAD_DAEMON_AD"]);
    },
  );
});

Deno.test("condor_tokend's directory finds name@HOST for name=HOST, as HTCondor's -name does", async () => {
  await withDaemon(
    { extraConfig: "TOKEND_DAEMON_NAME = cm.example.org" },
    async ({ daemon }) => {
      const api = handlerApi(daemon);
      for (
        const [name, type] of [
          ["schedd@bird.example.org", "SCHEDD"],
          ["bird.example.org", "STARTD"],
          ["slot1@xbird.example.org", "STARTD"],
        ]
      ) {
        const ad = { name, type, address: "https://bird.example.org:9618" };
        assert.equal((await api.post("/v1/daemons", ad, daemon.adminToken)).status, 200);
      }
      const names = async (query: string) =>
        (await api.get(`/v1/daemons?${query}`)).body.daemons.map((d: { name: string }) => d.name)
          .sort();
      assert.deepEqual(await names("name=BIRD.example.org"), [
        "bird.example.org",
        "schedd@bird.example.org",
      ]);
      assert.deepEqual(await names("name=bird.example.org&type=SCHEDD"), [
        "schedd@bird.example.org",
      ]);
      // A name with "@" is matched whole; a host name only after an "@", never as a suffix.
      assert.deepEqual(await names("name=Schedd@bird.example.org"), ["schedd@bird.example.org"]);
      assert.deepEqual(await names("name=schedd@example.org"), []);
      assert.deepEqual(await names("name=ird.example.org"), []);
      assert.deepEqual(await names("name=cm.example.org"), ["cm.example.org"]);
    },
  );
});

Deno.test("condor_tokend's handler refuses plain-HTTP requests when it serves HTTPS", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const response = await daemon.handler(new Request("http://127.0.0.1/healthz"), {
      remoteAddr: LOOPBACK,
    });
    assert.equal(response.status, 421);
    assert.equal((await response.json()).error.code, "WRONG_SCHEME");
    const ok = await daemon.handler(new Request("https://127.0.0.1/healthz"), {
      remoteAddr: LOOPBACK,
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("condor_tokend records IPv4-mapped IPv6 peers as IPv4 and matches rules on them", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const mapped: Deno.NetAddr = { transport: "tcp", hostname: "::ffff:192.0.2.9", port: 1 };
    const call = async (path: string, body: unknown, token?: string) => {
      const response = await daemon.handler(
        new Request(`https://127.0.0.1${path}`, {
          method: "POST",
          body: JSON.stringify(body),
          headers: token ? { authorization: `Bearer ${token}` } : {},
        }),
        { remoteAddr: mapped },
      );
      return { status: response.status, body: await response.json() };
    };
    // Before any rule: the request waits, and the administrator's list shows where it came from.
    const waiting = await call(LIST, {
      identity: "condor@tokend-test.example.org",
      authz: ["ADVERTISE_SCHEDD"],
      lifetime: null,
      clientId: "w",
      secret: newSecret(),
    });
    assert.deepEqual([waiting.status, waiting.body.state], [201, "pending"]);
    const listed = await daemon.handler(
      new Request(`https://127.0.0.1${LIST}`, {
        headers: { authorization: `Bearer ${daemon.adminToken}` },
      }),
      { remoteAddr: mapped },
    );
    assert.equal(listed.status, 200);
    const requests = (await listed.json()).requests as {
      requestId: string;
      peerLocation: string;
    }[];
    assert.deepEqual(
      requests.map((r) => [r.requestId, r.peerLocation]),
      [[waiting.body.requestId, "192.0.2.9"]],
    );
    await call(
      "/v1/auto-approval-rules",
      { netblock: "192.0.2.0/24", lifetime: 60 },
      daemon.adminToken,
    );
    const answer = await call(LIST, {
      identity: "condor@tokend-test.example.org",
      authz: ["ADVERTISE_SCHEDD"],
      lifetime: null,
      clientId: "c",
      secret: newSecret(),
    });
    assert.deepEqual([answer.status, answer.body.state, typeof answer.body.token], [
      201,
      "collected",
      "string",
    ]);
  });
});
