/**
 * The connection that carries the request must show the certificate that
 * was judged, and an explicit pin outranks every other source of trust.
 *
 * The man in the middle here is a TCP proxy that sends the requester's
 * first connection to the real (pinned, self-signed) daemon and every later
 * one to an impostor whose certificate chains to a CA the runtime trusts
 * (DENO_CERT stands in for a CA in the system's root store).
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { knownHostKey, rememberKnownHost } from "../../src/client/known_hosts.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN, testDaemonPaths } from "../_support/daemon.ts";
import { startImpostorHttps } from "../_support/impostor_https.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { untrustedEnv } from "./_token_request.ts";

const OTHER = "sha256:" + Array(32).fill("5A").join(":");

/** A TCP proxy: connection number `i` (0-based) goes to `route(i)`'s port. */
function switchingProxy(route: (i: number) => number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let count = 0;
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch {
      // one side went away
    }
  };
  const serving = (async () => {
    for await (const conn of listener) {
      const target = await Deno.connect({ hostname: "127.0.0.1", port: route(count++) });
      conns.add(conn).add(target);
      Promise.all([pipe(conn, target), pipe(target, conn)]).finally(() => {
        for (const c of [conn, target]) {
          conns.delete(c);
          try {
            c.close();
          } catch {
            // closed
          }
        }
      });
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    connections: () => count,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
      await serving;
    },
  };
}

Deno.test("condor_token_request (e2e): a later connection to another CA-signed server gets nothing, the pin holds", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir: `${dir}/daemon` });
    const impostor = await startImpostorHttps({
      caFile: `${dir}/impostor-ca.pem`,
      record: async (req) => `${req.method} ${new URL(req.url).pathname} ${await req.text()}`,
      answer: { requestId: "6666666", state: "pending", expiresAt: 0 },
    });
    const daemonPort = Number(new URL(daemon.url).port);
    const proxy = switchingProxy((i) => i === 0 ? daemonPort : impostor.port);
    try {
      const r = await runTool("condor_token_request", [
        ...["-pool", `https://127.0.0.1:${proxy.port}`, "-trust", daemon.fingerprint],
        ...["-identity", `condor@${TEST_TRUST_DOMAIN}`, "-authz", "ADVERTISE_STARTD"],
        ...["-token", "startd", "-timeout", "5"],
      ], {
        env: { ...untrustedEnv(daemon.env), DENO_CERT: impostor.caFile },
        requesterFlags: true,
      });
      assert.ok(proxy.connections() >= 2, "the requester made a second connection");
      assert.deepEqual(impostor.seen, [], "not a byte of a request reached the impostor");
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.match(r.stderr, /presented another certificate.*nothing was sent/);
      await assert.rejects(
        Deno.stat(`${testDaemonPaths(`${dir}/daemon`).tokenDirectory}/startd`),
        Deno.errors.NotFound,
      );
    } finally {
      await proxy.close();
      await impostor.close();
      await daemon.close();
    }
  });
});

Deno.test("condor_token_request (e2e): a pin that does not match is refused although a CA vouches for the daemon", async () => {
  await withTempDir(async (dir) => {
    // The test daemon's environment trusts its certificate as a CA (AUTH_SSL_CLIENT_CAFILE).
    const daemon = await startTestDaemon({ dir });
    try {
      const r = await runTool("condor_token_request", ["-trust", OTHER], {
        env: daemon.env,
        requesterFlags: true,
      });
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.match(r.stderr, /matches none of the trusted fingerprints given.*authority/);
    } finally {
      await daemon.close();
    }
  });
});

Deno.test("condor_token_request (e2e): a pin that does not match is refused although known_hosts lists the daemon", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    try {
      await rememberKnownHost(
        `${testDaemonPaths(dir).home}/.condor/known_hosts`,
        knownHostKey(new URL(daemon.url)),
        daemon.fingerprint,
      );
      const r = await runTool("condor_token_request", ["-trust", OTHER], {
        env: untrustedEnv(daemon.env),
        requesterFlags: true,
      });
      assert.equal(r.code, EXIT.UNTRUSTED, r.stderr);
      assert.match(r.stderr, /matches none of the trusted fingerprints given.*known-hosts/);
    } finally {
      await daemon.close();
    }
  });
});
