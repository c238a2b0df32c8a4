import assert from "node:assert/strict";
import { DaemonError, TrustError } from "../../src/errors.ts";
import { httpsClient, pinnedHttpsClient, TrustSessions } from "../../src/client/connect.ts";
import { createTestCa } from "../_support/test_ca.ts";
import { DAEMON_ERRORS, isTransient } from "../../src/client/daemon_client.ts";
import { clientFor, TEST_TRUST_DOMAIN, withDaemon } from "../_support/daemon.ts";
import { closedPort } from "../_support/ports.ts";
import { untilWaiting } from "../_support/waiting_polls.ts";
import { requestBody } from "./_request_body.ts";

const codeOf = (code: string) => (err: unknown) => err instanceof DaemonError && err.code === code;

Deno.test("httpsDaemonClient() reads the daemon's info over HTTPS", async () => {
  await withDaemon({}, async ({ client }) => {
    const info = await client.info();
    assert.equal(info.trustDomain, TEST_TRUST_DOMAIN);
    assert.deepEqual(info.issuerKeys.includes("POOL"), true);
    assert.equal(typeof info.name, "string");
  });
});

Deno.test("httpsDaemonClient() enqueues, waits in a long poll and sees the approval at once", async () => {
  await withDaemon({}, async ({ daemon, client, admin }) => {
    const body = requestBody({ authz: ["READ"], lifetime: 600 });
    const enqueued = await client.enqueue(body);
    assert.match(enqueued.requestId, /^\d{7}$/);
    assert.equal(enqueued.state, "pending");
    const again = await client.enqueue(body);
    assert.equal(again.requestId, enqueued.requestId, "same secret, same request");

    const started = Date.now();
    const waiting = client.collect(enqueued.requestId, body.secret, 20);
    await untilWaiting(daemon, 1);
    await admin.approve(enqueued.requestId);
    const collected = await waiting;
    assert.ok(Date.now() - started < 5_000, "the long poll ended with the approval");
    assert.equal(collected.state, "collected");
    assert.match(collected.token!, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  });
});

Deno.test("httpsDaemonClient() passes the daemon's refusal through with its code and status", async () => {
  await withDaemon({}, async ({ client, admin }) => {
    const body = requestBody();
    const { requestId } = await client.enqueue(body);
    await assert.rejects(client.collect(requestId, "x".repeat(43), 0), (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.status, 403);
      assert.equal(err.code, "SECRET_INCORRECT");
      assert.match(
        err.message,
        /^Cannot collect token request \d{7} at https:\/\/127\.0\.0\.1:\d+: /,
      );
      assert.ok(!err.message.includes(body.secret));
      // The daemon's own words travel apart from the client's "Cannot ... at ...: ".
      assert.ok(err.reason.length > 0 && err.message.endsWith(`: ${err.reason}`));
      assert.doesNotMatch(err.reason, /^Cannot collect token request \d{7} at /);
      return true;
    });
    await assert.rejects(client.collect("0000000", body.secret, 0), (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.status, 404);
      return !isTransient(err);
    });
    await assert.rejects(client.list(), codeOf(DAEMON_ERRORS.NO_CREDENTIALS));
    const denied = await admin.deny(requestId, "not today");
    assert.deepEqual(denied, { requestId, state: "denied" });
    const reply = await client.collect(requestId, body.secret, 0);
    assert.deepEqual([reply.state, reply.reason], ["denied", "not today"]);
  });
});

Deno.test("httpsDaemonClient() cancels a request with its secret", async () => {
  await withDaemon({}, async ({ client, admin }) => {
    const body = requestBody();
    const { requestId } = await client.enqueue(body);
    assert.deepEqual(await client.cancel(requestId, body.secret), {
      requestId,
      state: "cancelled",
    });
    assert.equal((await client.collect(requestId, body.secret, 0)).state, "cancelled");
    await assert.rejects(
      admin.approve(requestId),
      (err) => err instanceof DaemonError && err.status === 409,
    );
  });
});

Deno.test("httpsDaemonClient() lists requests and daemons, installs rules, fetches tokens as admin", async () => {
  await withDaemon({}, async ({ client, admin }) => {
    const body = requestBody({
      authz: ["ADVERTISE_STARTD"],
      identity: "condor@tokend-test.example.org",
    });
    const { requestId } = await client.enqueue(body);
    const listed = await admin.list();
    const mine = listed.find((r) => r.requestId === requestId)!;
    assert.equal(mine.clientId, "test-1");
    assert.deepEqual(mine.authorizations, ["ADVERTISE_STARTD"]);
    const rule = await admin.autoApprove("127.0.0.0/8", 600);
    assert.deepEqual(rule.approved, [requestId]);
    const fetched = await admin.fetchToken({ authz: ["READ"], lifetime: 60 });
    assert.match(fetched.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const daemons = await client.daemons({});
    assert.ok(Array.isArray(daemons));
  });
});

Deno.test("httpsDaemonClient() reports an unreachable daemon as DAEMON_UNREACHABLE, worth a retry", async () => {
  const client = httpsClient(`https://127.0.0.1:${closedPort()}`, trustNothing());
  try {
    await assert.rejects(client.info(), (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.code, DAEMON_ERRORS.UNREACHABLE);
      assert.match(err.message, /connection refused/);
      return isTransient(err);
    });
  } finally {
    client.close();
  }
});

Deno.test("httpsDaemonClient() refuses an untrusted certificate before sending anything", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const client = httpsClient(daemon.url, trustNothing()); // system CAs only
    try {
      await assert.rejects(client.info(), (err) => {
        assert.ok(err instanceof TrustError);
        assert.equal(err.code, "TRUST_UNKNOWN");
        return !isTransient(err);
      });
    } finally {
      client.close();
    }
  });
});

Deno.test("httpsDaemonClient() times out a call that gets no answer", async () => {
  // A TCP listener that accepts and never speaks TLS.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) conns.push(conn);
  })();
  const client = clientFor({
    url: `https://127.0.0.1:${listener.addr.port}`,
    fingerprint: "",
    adminToken: "",
  }, { timeoutMs: 200 });
  try {
    await assert.rejects(client.info(), codeOf(DAEMON_ERRORS.TIMEOUT));
  } finally {
    client.close();
    listener.close();
    await accepting.catch(() => {});
    conns.forEach((c) => c.close());
  }
});

Deno.test("httpsDaemonClient() refuses plain http addresses", () => {
  assert.throws(
    () => httpsClient("http://127.0.0.1:1", trustNothing()),
    codeOf(DAEMON_ERRORS.TLS),
  );
});

/** Trust by system CAs only: no pin, no known-hosts file, nobody to ask. */
function trustNothing(): TrustSessions {
  return new TrustSessions({ pins: [], knownHostsFile: undefined, now: Date.now });
}

Deno.test("httpsDaemonClient() takes a list of thousands of requests, and refuses a megabyte answer elsewhere", async () => {
  const ca = await createTestCa();
  const id = await ca.issue({ ips: ["127.0.0.1"] });
  const request = {
    requestId: "1234567",
    requestedIdentity: "condor@pool.example.org",
    authenticatedIdentity: "unauthenticated@unmapped",
    peerLocation: "192.0.2.1",
    clientId: "worker-" + "x".repeat(200),
    authorizations: ["ADVERTISE_STARTD"],
    lifetime: null,
    state: "pending",
    requestedAt: 1,
    expiresAt: 2,
  };
  const big = { requests: Array.from({ length: 8000 }, () => request) };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: id.certPem, key: id.keyPem, onListen: () => {} },
    () => Response.json(big),
  );
  const client = pinnedHttpsClient(`https://127.0.0.1:${server.addr.port}`, id.fingerprint, {
    credential: () => Promise.resolve("a.b.c"),
  });
  try {
    assert.ok(JSON.stringify(big).length > 2 * 1024 * 1024);
    assert.equal((await client.list()).length, 8000);
    await assert.rejects(client.info(), codeOf(DAEMON_ERRORS.BAD_RESPONSE));
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("httpsDaemonClient() bounds a page of issued tokens, which the tool gathers by the thousand", async () => {
  const ca = await createTestCa();
  const id = await ca.issue({ ips: ["127.0.0.1"] });
  const token = (identity: string) => ({
    jti: "6c0f6e1f3b2a4d5e",
    identity,
    authorizations: ["READ"],
    issuedAt: 1,
    expiresAt: null,
    how: "fetch",
  });
  const pages = [
    // A full page of ordinary tokens is taken.
    { tokens: Array.from({ length: 1000 }, () => token("condor@pool.example.org")) },
    // One token more than the protocol's page holds is not.
    { tokens: Array.from({ length: 1001 }, () => token("condor@pool.example.org")) },
    // Nor are a few megabytes, well under what a list of requests may be.
    { tokens: Array.from({ length: 10 }, () => token("x".repeat(512 * 1024))) },
  ];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: id.certPem, key: id.keyPem, onListen: () => {} },
    () => Response.json(pages.shift()),
  );
  const client = pinnedHttpsClient(`https://127.0.0.1:${server.addr.port}`, id.fingerprint, {
    credential: () => Promise.resolve("a.b.c"),
  });
  try {
    assert.equal((await client.issued({})).tokens.length, 1000);
    await assert.rejects(client.issued({}), (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.code, DAEMON_ERRORS.BAD_RESPONSE);
      assert.match(err.message, /lists 1001 tokens on one page, more than 1000/);
      return true;
    });
    await assert.rejects(client.issued({}), (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.code, DAEMON_ERRORS.BAD_RESPONSE);
      assert.match(err.message, /too large/);
      return true;
    });
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("httpsDaemonClient() reads a refusal code condor_tokend does not send by its status alone", async () => {
  const ca = await createTestCa();
  const server = await ca.issue({ ips: ["127.0.0.1"] });
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.certPem,
    key: server.keyPem,
  });
  const answers = [
    { code: "SOMETHING_NEWER", message: "Not for you." },
    { code: "SCOPE_RESTRICTED", message: "Insufficient privilege." },
  ];
  const serving = (async () => {
    for await (const conn of listener) {
      const body = JSON.stringify({ error: answers.shift() });
      try {
        await conn.read(new Uint8Array(4096));
        await conn.write(
          new TextEncoder().encode(
            `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n` +
              `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
          ),
        );
      } catch {
        // the client went away
      }
      conn.close();
    }
  })();
  const address = `https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const client = pinnedHttpsClient(address, server.fingerprint);
  try {
    const unknown = await client.info().then(() => undefined, (e) => e);
    assert.ok(unknown instanceof DaemonError, String(unknown));
    assert.equal(unknown.code, "DAEMON_HTTP_403");
    assert.equal(unknown.status, 403);
    assert.equal(unknown.reason, "Not for you.");
    assert.equal(unknown.message, `Cannot read daemon information at ${address}: Not for you.`);
    const known = await client.info().then(() => undefined, (e) => e);
    assert.ok(known instanceof DaemonError, String(known));
    assert.equal(known.code, "SCOPE_RESTRICTED");
    assert.equal(known.reason, "Insufficient privilege.");
  } finally {
    client.close();
    listener.close();
    await serving.catch(() => {});
  }
});
