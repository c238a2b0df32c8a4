import assert from "node:assert/strict";
import { connectDaemon, TrustSessions } from "../../src/client/connect.ts";
import { withDaemon } from "../_support/daemon.ts";
import { parseDaemonAddress } from "../../src/client/locate.ts";
import type { TrustPolicy } from "../../src/client/trust.ts";
import { DaemonError } from "../../src/errors.ts";
import { closedPort } from "../_support/ports.ts";

Deno.test("connectDaemon() talks HTTPS to a bare address that answers TLS (condor_tokend)", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const url = parseDaemonAddress(new URL(daemon.url).host)!;
    assert.equal(url.protocol, "condor:");
    const trusted: string[] = [];
    const sessions = new TrustSessions(
      policy([daemon.fingerprint]),
      (judgement, key) => void trusted.push(`${judgement.basis} ${key}`),
    );
    const { client, trust } = await connectDaemon(url, sessions);
    try {
      assert.equal(client.address, daemon.url);
      assert.equal(trust?.basis, "pinned");
      assert.deepEqual(trusted, [`pinned ${new URL(daemon.url).host}`]);
      assert.equal((await client.info()).type, "COLLECTOR");
    } finally {
      client.close();
    }
  });
});

Deno.test("connectDaemon() talks HTCondor's protocol to a bare address that hangs up on TLS", async () => {
  await withHangUpPeer(async (port, connections) => {
    const { client, trust } = await connectDaemon(
      parseDaemonAddress(`127.0.0.1:${port}`)!,
      sessions([]),
    );
    try {
      assert.equal(client.address, `cedar://127.0.0.1:${port}`);
      // Trust is only decided inside HTCondor's SSL authentication.
      assert.equal(trust, undefined);
      assert.equal(connections(), 1, "one TLS attempt, nothing else yet");
      // Each command is a connection of its own; this peer hangs up on it too.
      await assert.rejects(client.enqueue(request()), (err) => {
        assert.ok(err instanceof DaemonError);
        assert.equal(err.code, "DAEMON_REFUSED");
        return true;
      });
      assert.equal(connections(), 2);
    } finally {
      client.close();
    }
  });
});

Deno.test("connectDaemon() keeps an explicit https:// to a daemon that hangs up: no second protocol", async () => {
  await withHangUpPeer(async (port, connections) => {
    await assert.rejects(
      connectDaemon(new URL(`https://127.0.0.1:${port}`), sessions([])),
      (err) => {
        assert.ok(err instanceof DaemonError);
        assert.equal(err.code, "DAEMON_NOT_TLS");
        assert.match(err.message, /cedar:\/\//);
        return true;
      },
    );
    assert.equal(connections(), 1);
  });
});

Deno.test("connectDaemon() reports a refused bare address as unreachable, without trying CEDAR", async () => {
  await assert.rejects(
    connectDaemon(parseDaemonAddress(`127.0.0.1:${closedPort()}`)!, sessions([])),
    (err) => {
      assert.ok(err instanceof DaemonError);
      assert.equal(err.code, "DAEMON_UNREACHABLE");
      return true;
    },
  );
});

/** A trust policy with these pins and nothing else (no prompt, no known-hosts file). */
function policy(pins: string[]): TrustPolicy {
  return { pins, knownHostsFile: undefined, now: Date.now };
}

/** Trust sessions with these pins and nothing else. */
function sessions(pins: string[]): TrustSessions {
  return new TrustSessions(policy(pins));
}

function request() {
  return {
    identity: "alice@example.org",
    authz: ["READ"],
    lifetime: null,
    clientId: "host-1",
    secret: "s".repeat(43),
  };
}

/**
 * A TCP peer that reads a little and hangs up, as an HTCondor daemon does
 * on a TLS ClientHello (an unknown packet header); counts connections.
 */
async function withHangUpPeer(
  fn: (port: number, connections: () => number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      count++;
      try {
        await conn.read(new Uint8Array(5));
      } catch (err) {
        if (!(err instanceof Deno.errors.ConnectionReset)) throw err;
      }
      conn.close();
    }
  })();
  try {
    await fn((listener.addr as Deno.NetAddr).port, () => count);
  } finally {
    listener.close();
    await serving;
  }
}
