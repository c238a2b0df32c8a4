import assert from "node:assert/strict";
import { cedarDaemonClient } from "../../../src/client/cedar/cedar_client.ts";
import { TrustSessions } from "../../../src/client/trust.ts";
import { DaemonError } from "../../../src/errors.ts";

Deno.test("a CEDAR call to a daemon that never answers ends at the call's timeout", async () => {
  await withSilentPeer(async (port) => {
    const client = clientFor(port, 300);
    try {
      const started = performance.now();
      await assert.rejects(client.daemons({}), (err) => {
        assert.ok(err instanceof DaemonError);
        assert.equal(err.code, "DAEMON_TIMEOUT");
        assert.match(err.message, /no answer within 0\.3 s/);
        return true;
      });
      assert.ok(performance.now() - started < 5_000);
    } finally {
      client.close();
    }
  });
});

Deno.test("a CEDAR call ends at once when the caller aborts it", async () => {
  await withSilentPeer(async (port) => {
    const client = clientFor(port, 60_000);
    const abort = new AbortController();
    setTimeout(() => abort.abort("SIGINT"), 50);
    try {
      await assert.rejects(client.daemons({}, abort.signal), (err) => {
        assert.ok(err instanceof DaemonError);
        assert.equal(err.code, "DAEMON_ABORTED");
        return true;
      });
    } finally {
      client.close();
    }
  });
});

Deno.test("HTCondor daemons cannot withdraw or deny: cancel leaves the request pending, deny says why", async () => {
  const client = clientFor(9, 1_000);
  try {
    assert.deepEqual(await client.cancel("1234567"), { requestId: "1234567", state: "pending" });
    await assert.rejects(client.deny("1234567"), (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.code, "UNSUPPORTED");
      assert.match(err.message, /no command to deny a request/);
      return true;
    });
  } finally {
    client.close();
  }
});

function clientFor(port: number, timeoutMs: number) {
  return cedarDaemonClient({
    url: new URL(`cedar://127.0.0.1:${port}`),
    trust: new TrustSessions({ pins: [], knownHostsFile: undefined, now: Date.now }),
    methods: ["SSL"],
    timeoutMs,
  });
}

/** A real TCP peer that accepts connections and never sends a byte. */
async function withSilentPeer(fn: (port: number) => Promise<void>): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  try {
    await fn((listener.addr as Deno.NetAddr).port);
  } finally {
    listener.close();
    await serving;
    for (const conn of accepted) conn.close();
  }
}
