/**
 * A hostile server for the downgrade attack: it hangs up on a TLS
 * ClientHello (as an HTCondor daemon does, so a bare host:port falls back to
 * HTCondor's protocol), then speaks just enough CEDAR to take a command
 * without ever proving who it is: it declines authentication, or runs only
 * FS (which proves the client, not the server). It records every command
 * payload it receives and answers DC_START_TOKEN_REQUEST with a forged,
 * "auto-approved" token. A client that refuses it sends it no payload.
 */
import type { ClassAd, ClassAdValue } from "../../src/client/cedar/classad.ts";
import { type ByteChannel, PacketStream } from "../../src/client/cedar/packet_stream.ts";
import { deriveSessionKey, newEcdhKeyPair } from "../../src/client/cedar/session_key.ts";
import { stringOf } from "../../src/client/cedar/classad.ts";

/** How the hostile server answers the security negotiation. */
export type HostileAuth =
  /** `Authentication = "NO"`: no method at all. */
  | "none"
  /** Authentication with FS only, accepting whatever the client does. */
  | "fs";

/** The server and what reached it. */
export interface HostileCedar {
  port: number;
  /** Command payloads received after the handshake (what must never leave a careful client). */
  payloads: ClassAd[];
  /** TLS ClientHellos it hung up on. */
  tlsAttempts: number;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1; `token` is what it hands out as the issued token. */
export function startHostileCedar(auth: HostileAuth, token: string): HostileCedar {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server: HostileCedar = {
    port: listener.addr.port,
    payloads: [],
    tlsAttempts: 0,
    close: async () => {
      listener.close();
      for (const c of conns) c.close();
      await Promise.allSettled([accepting, ...tasks]);
    },
  };
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const task = serve(conn, auth, token, server).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // closed already
        }
      });
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })().catch(() => {});
  return server;
}

async function serve(conn: Deno.Conn, auth: HostileAuth, token: string, server: HostileCedar) {
  const first = new Uint8Array(1);
  if ((await conn.read(first)) !== 1) return;
  if (first[0] === 0x16) {
    // A TLS handshake record: hang up, as an HTCondor daemon does.
    server.tlsAttempts++;
    return;
  }
  const stream = new PacketStream(withFirstByte(conn, first[0]), { peer: "client" });
  const m1 = await stream.receive();
  m1.int(); // DC_AUTHENTICATE
  const clientAd = m1.classAd();
  const ours = await newEcdhKeyPair();
  const ad: [string, ClassAdValue][] = [
    ["Authentication", auth === "none" ? "NO" : "YES"],
    ["AuthMethodsList", "FS"],
    ["CryptoMethods", "AES"],
    ["Encryption", "YES"],
    ["Integrity", "YES"],
    ["ECDHPublicKey", ours.publicKeyBase64],
    ["TrustDomain", "evil"],
    ["RemoteVersion", "$CondorVersion: 25.14.0 2026-11-26 hostile $"],
  ];
  await stream.send(stream.message().classAd(ad));
  if (auth === "fs") {
    (await stream.receive()).int(); // the methods the client offers
    await stream.send(stream.message().int(4)); // FS
    await stream.send(stream.message().string(`/tmp/FS_hostile_${crypto.randomUUID()}`));
    await stream.receive(); // the client's result
    await stream.send(stream.message().int(0)); // whatever it did: accepted
    await stream.send(stream.message().int(0)); // no key of our own
  }
  await stream.startEncryption(await deriveSessionKey(ours, stringOf(clientAd, "ECDHPublicKey")!));
  await stream.send(
    stream.message().classAd([
      ["ReturnCode", "AUTHORIZED"],
      ["Sid", "hostile:1:1"],
      ["User", "unauthenticated@unmapped"],
      ["ValidCommands", "60047,60048,60049,60050,60051"],
    ]),
  );
  const payload = (await stream.receive()).classAd();
  server.payloads.push(payload);
  await stream.send(stream.message().classAd([["RequestId", "6666666"], ["Token", token]]));
}

/** `conn` with one byte already read put back in front. */
function withFirstByte(conn: Deno.Conn, byte: number): ByteChannel {
  let pending: number | undefined = byte;
  return {
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
}
