/**
 * Attack: a server that never proves who it is still chooses text the tool
 * prints. It hangs up on TLS (so a bare host:port falls back to HTCondor's
 * protocol), declines authentication, and answers the command with a verdict
 * whose ReturnCode and User carry terminal escape sequences (set the window
 * title, clear the screen, hide what follows). Nothing it says may reach the
 * terminal as control characters.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { type ClassAdValue, stringOf } from "../../src/client/cedar/classad.ts";
import { type ByteChannel, PacketStream } from "../../src/client/cedar/packet_stream.ts";
import { deriveSessionKey, newEcdhKeyPair } from "../../src/client/cedar/session_key.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN } from "../_support/daemon.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { untrustedEnv } from "../e2e/_token_request.ts";

const ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[8m\u009b8m\u202e";

function startServer(verdict: [string, ClassAdValue][]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tasks: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      tasks.push(
        serve(conn, verdict).catch(() => {}).finally(() => {
          try {
            conn.close();
          } catch {
            // closed already
          }
        }),
      );
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await Promise.allSettled([accepting, ...tasks]);
    },
  };
}

async function serve(conn: Deno.Conn, verdict: [string, ClassAdValue][]) {
  const first = new Uint8Array(1);
  if ((await conn.read(first)) !== 1 || first[0] === 0x16) return; // hang up on TLS
  let pending: number | undefined = first[0];
  const channel: ByteChannel = {
    read: (buffer) => {
      if (pending !== undefined && buffer.length > 0) {
        buffer[0] = pending;
        pending = undefined;
        return Promise.resolve(1);
      }
      return conn.read(buffer);
    },
    write: (bytes) => conn.write(bytes),
    close: () => conn.close(),
  };
  const stream = new PacketStream(channel, { peer: "client" });
  const m1 = await stream.receive();
  m1.int();
  const clientAd = m1.classAd();
  const ours = await newEcdhKeyPair();
  await stream.send(
    stream.message().classAd([
      ["Authentication", "NO"],
      ["CryptoMethods", "AES"],
      ["Encryption", "YES"],
      ["Integrity", "YES"],
      ["ECDHPublicKey", ours.publicKeyBase64],
      ["TrustDomain", "evil"],
    ]),
  );
  await stream.startEncryption(await deriveSessionKey(ours, stringOf(clientAd, "ECDHPublicKey")!));
  await stream.send(stream.message().classAd(verdict));
  await stream.receive().catch(() => {});
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

Deno.test("attack: an unproven server's verdict text (ReturnCode, User) reaches the terminal without control characters", async () => {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir });
    const server = startServer([
      ["ReturnCode", `DENIED${ESCAPES}`],
      ["User", `root${ESCAPES}`],
    ]);
    try {
      const r = await runTool("condor_token_request", [
        ...["-pool", `127.0.0.1:${server.port}`],
        ...["-identity", `condor@${TEST_TRUST_DOMAIN}`, "-token", "startd"],
      ], { env: untrustedEnv(daemon.env), requesterFlags: true });
      assert.notEqual(r.code, EXIT.OK, r.stderr);
      assert.doesNotMatch(r.stderr, CONTROL, JSON.stringify(r.stderr));
    } finally {
      await server.close();
      await daemon.close();
    }
  });
});
