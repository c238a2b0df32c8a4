import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv, createHash } from "node:crypto";
import { DaemonError } from "../../../src/errors.ts";
import {
  type ByteChannel,
  MAX_PACKET_BODY,
  MessageReader,
  MessageWriter,
  packetIv,
  PacketStream,
} from "../../../src/client/cedar/packet_stream.ts";

/** A fixed AES-256 session key and base IVs, so the wire bytes are reproducible. */
const KEY = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const IV_NEAR = hex("10111213 14151617 18191a1b 1c1d1e1f");
// Its first 32 bits are at their maximum, so its second packet wraps to 00000000.
const IV_FAR = hex("ffffffff a1a2a3a4 a5a6a7a8 a9aaabac");

// --- MessageWriter and MessageReader encodings ----------------------------------

Deno.test("MessageWriter.int() writes 8 bytes big-endian two's complement", () => {
  assert.deepEqual(writer(false).int(60010).bytes(), hex("00 00 00 00 00 00 ea 6a"));
  assert.deepEqual(writer(false).int(60010n).bytes(), hex("00 00 00 00 00 00 ea 6a"));
  assert.deepEqual(writer(false).int(-1).bytes(), hex("ff ff ff ff ff ff ff ff"));
  assert.deepEqual(
    writer(false).int(256).int(0).bytes(),
    hex("00000000 00000100 00000000 00000000"),
  );
});

Deno.test("MessageWriter.string() writes bytes and NUL while encryption is off", () => {
  assert.deepEqual(writer(false).string("Sid").bytes(), hex("53 69 64 00"));
  assert.deepEqual(writer(false).string("").bytes(), hex("00"));
  assert.deepEqual(writer(false).string("é").bytes(), hex("c3 a9 00"));
});

Deno.test("MessageWriter.string() adds the length with its NUL first once encryption is on", () => {
  assert.deepEqual(writer(true).string("Sid").bytes(), hex("00000000 00000004 53 69 64 00"));
  assert.deepEqual(writer(true).string("").bytes(), hex("00000000 00000001 00"));
  // The length counts UTF-8 bytes, not characters.
  assert.deepEqual(writer(true).string("é").bytes(), hex("00000000 00000003 c3 a9 00"));
});

Deno.test("MessageWriter.string() refuses a string holding a NUL", () => {
  assert.throws(() => writer(false).string("a\0b"), TypeError);
  assert.throws(() => writer(true).string("a\0b"), TypeError);
});

Deno.test("MessageWriter.classAd() writes the count, one line per attribute and two empty strings", () => {
  const attributes: [string, string | number][] = [["A", 1], ["User", "x"]];
  assert.deepEqual(
    writer(false).classAd(attributes).bytes(),
    concatBytes(be64(2), ascii("A = 1\0"), ascii('User = "x"\0'), hex("00 00")),
  );
  assert.deepEqual(
    writer(true).classAd(attributes).bytes(),
    concatBytes(
      be64(2),
      be64(6),
      ascii("A = 1\0"),
      be64(11),
      ascii('User = "x"\0'),
      be64(1),
      hex("00"),
      be64(1),
      hex("00"),
    ),
  );
  assert.deepEqual(writer(false).classAd([]).bytes(), concatBytes(be64(0), hex("00 00")));
});

Deno.test("MessageReader reads back ints, strings and ClassAds in both encodings", () => {
  for (const encrypted of [false, true]) {
    const ad: [string, string | number][] = [["Token", "abc"], ["Lease", 3600]];
    const bytes = writer(encrypted).int(-7).string("héllo").classAd(ad).raw(hex("de ad")).bytes();
    const reader = new MessageReader(bytes, encrypted, "peer");
    assert.equal(reader.int(), -7);
    assert.equal(reader.string(), "héllo");
    assert.deepEqual(reader.classAd(), new Map(ad));
    assert.deepEqual(reader.raw(2), hex("de ad"));
    assert.equal(reader.remaining, 0);
  }
});

Deno.test("MessageReader refuses a truncated value as DAEMON_BAD_RESPONSE", () => {
  const cases: [Uint8Array, boolean, (r: MessageReader) => unknown][] = [
    [hex("00 00 00"), false, (r) => r.int()],
    [ascii("no NUL"), false, (r) => r.string()],
    [concatBytes(be64(10), ascii("short\0")), true, (r) => r.string()],
    [concatBytes(be64(3), ascii("abc")), true, (r) => r.string()],
    [hex("01 02"), false, (r) => r.raw(3)],
  ];
  for (const [bytes, encrypted, read] of cases) {
    assert.throws(() => read(new MessageReader(bytes, encrypted, "peer")), isBadResponse);
  }
});

// --- Plaintext framing on a real socket -----------------------------------------

Deno.test("send() puts a plaintext message on the wire as [01][length BE32] and the body", async () => {
  await withTcpPair(async (near, far) => {
    const stream = new PacketStream(near, { peer: "far" });
    await stream.send(stream.message().int(60010).string("abc"));
    stream.close();
    assert.deepEqual(
      await readToEnd(far),
      hex("01 00 00 00 0c", "00 00 00 00 00 00 ea 6a", "61 62 63 00"),
    );
  });
});

Deno.test("send() splits a long message into packets of at most 4091 bytes, end flag 0 then 1", async () => {
  assert.equal(MAX_PACKET_BODY, 4091);
  const cases: [number, [number, number][]][] = [
    [4091, [[1, 4091]]],
    [4092, [[0, 4091], [1, 1]]],
    [8282, [[0, 4091], [0, 4091], [1, 100]]],
  ];
  for (const [size, expected] of cases) {
    await withTcpPair(async (near, far) => {
      const body = pattern(size);
      const stream = new PacketStream(near, { peer: "far" });
      await stream.send(body);
      stream.close();
      const packets = splitPackets(await readToEnd(far));
      assert.deepEqual(packets.map((p) => [p.end, p.body.length]), expected, `size ${size}`);
      assert.deepEqual(concatBytes(...packets.map((p) => p.body)), body);
    });
  }
});

Deno.test("receive() reassembles a message sent in several packets", async () => {
  await withTcpPair(async (near, far) => {
    const sender = new PacketStream(near, { peer: "far" });
    const receiver = new PacketStream(far, { peer: "near" });
    const body = pattern(10_000);
    await sender.send(body);
    await sender.send(sender.message().int(5));
    const message = await receiver.receive();
    assert.deepEqual(message.raw(10_000), body);
    assert.equal(message.remaining, 0);
    assert.equal((await receiver.receive()).int(), 5);
  });
});

Deno.test("receive() accepts packets of any size up to the one whose end flag is non-zero", async () => {
  await withTcpPair(async (near, far) => {
    const stream = new PacketStream(near, { peer: "far" });
    const big = pattern(5000);
    // Bigger than we would send, and an end flag of 2: HTCondor accepts both.
    await far.write(
      concatBytes(hex("00 00000001 aa"), hex("00 00001388"), big, hex("02 00000002 bb cc")),
    );
    const message = await stream.receive();
    assert.deepEqual(message.raw(5003), concatBytes(hex("aa"), big, hex("bb cc")));
    assert.equal(message.remaining, 0);
  });
});

// --- AES-256-GCM ----------------------------------------------------------------

Deno.test("startEncryption() seals packets as HTCondor does: first with digests and IV, later by header", async () => {
  await withTcpPair(async (nearConn, farConn) => {
    const nearWire = new WireTap(nearConn);
    const farWire = new WireTap(farConn);
    const near = new PacketStream(nearWire, { peer: "far", randomIv: (iv) => iv.set(IV_NEAR) });
    const far = new PacketStream(farWire, { peer: "near", randomIv: (iv) => iv.set(IV_FAR) });

    // Plaintext phase, with a two-packet message so the transcript holds several headers.
    await near.send(near.message().int(60010).string("hello from near"));
    assert.equal((await far.receive()).int(), 60010);
    await far.send(far.message().int(256));
    assert.equal((await near.receive()).int(), 256);
    await near.send(pattern(5000));
    assert.equal((await far.receive()).remaining, 5000);
    const nearSent = farWire.take();
    const farSent = nearWire.take();
    assert.equal(nearSent.length, 5 + 24 + 5 + 4091 + 5 + 909);

    await near.startEncryption(KEY);
    await far.startEncryption(KEY);
    assert.ok(near.encrypted && far.encrypted);

    // Near's first packet: AAD = SHA-256(near sent) ‖ SHA-256(near received) ‖ header.
    await near.send(near.message().string("first from near").int(7));
    const first = await far.receive();
    assert.equal(first.string(), "first from near");
    assert.equal(first.int(), 7);
    assert.deepEqual(
      farWire.take(),
      sealFirst(IV_NEAR, nearSent, farSent, concatBytes(encString("first from near"), be64(7))),
    );

    // Far's first packet, from its own point of view.
    await far.send(far.message().string("first from far"));
    assert.equal((await near.receive()).string(), "first from far");
    assert.deepEqual(
      nearWire.take(),
      sealFirst(IV_FAR, farSent, nearSent, encString("first from far")),
    );

    // Second packets: IV counter + 1, AAD = header only, no IV in the body.
    await near.send(near.message().string("second from near"));
    assert.equal((await far.receive()).string(), "second from near");
    assert.deepEqual(farWire.take(), sealLater(IV_NEAR, 1, 1, encString("second from near")));

    await far.send(far.message().string("second from far"));
    assert.equal((await near.receive()).string(), "second from far");
    assert.deepEqual(nearWire.take(), sealLater(IV_FAR, 1, 1, encString("second from far")));

    // A long message: each packet sealed alone, counters 2 and 3, end flags 0 then 1.
    const long = pattern(5000);
    await near.send(long);
    assert.deepEqual((await far.receive()).raw(5000), long);
    assert.deepEqual(
      farWire.take(),
      concatBytes(
        sealLater(IV_NEAR, 2, 0, long.subarray(0, 4091)),
        sealLater(IV_NEAR, 3, 1, long.subarray(4091)),
      ),
    );
  });
});

Deno.test("receive() opens packets sealed independently and refuses a flipped ciphertext byte", async () => {
  await withTcpPair(async (near, far) => {
    const stream = new PacketStream(near, { peer: "far" });
    const hello = concatBytes(hex("01 00000008"), be64(1));
    await far.write(hello);
    assert.equal((await stream.receive()).int(), 1);
    await stream.startEncryption(KEY);

    // The stream sent nothing in plaintext: its "sent" digest is that of no bytes.
    await far.write(sealFirst(IV_FAR, hello, new Uint8Array(0), encString("sealed")));
    assert.equal((await stream.receive()).string(), "sealed");

    const tampered = sealLater(IV_FAR, 1, 1, encString("tampered"));
    tampered[5 + 3] ^= 0x01;
    await far.write(tampered);
    await assert.rejects(stream.receive(), isBadResponse);
  });
});

Deno.test("receive() refuses a first encrypted packet sealed over another transcript", async () => {
  await withTcpPair(async (near, far) => {
    const stream = new PacketStream(near, { peer: "far" });
    const hello = concatBytes(hex("01 00000008"), be64(1));
    await far.write(hello);
    await stream.receive();
    await stream.startEncryption(KEY);
    // Digests in the wrong order: the receiver's view instead of the sender's.
    await far.write(sealFirst(IV_FAR, new Uint8Array(0), hello, encString("sealed")));
    await assert.rejects(stream.receive(), isBadResponse);
  });
});

Deno.test("resetTranscript() leaves earlier plaintext out of the first packet's digests", async () => {
  await withTcpPair(async (nearConn, far) => {
    const near = new PacketStream(nearConn, { peer: "far", randomIv: (iv) => iv.set(IV_NEAR) });
    await near.send(near.message().int(75).string("collector"));
    near.resetTranscript();
    const reply = concatBytes(hex("01 00000008"), be64(0));
    await far.write(reply);
    await near.receive();
    await near.startEncryption(KEY);
    await near.send(near.message().string("after reset"));
    near.close();
    const wire = await readToEnd(far);
    const connect = 5 + 8 + 10;
    assert.deepEqual(
      wire.subarray(connect),
      sealFirst(IV_NEAR, new Uint8Array(0), reply, encString("after reset")),
    );
  });
});

Deno.test("packetIv() adds n to the first 32 bits big-endian, modulo 2^32", () => {
  const base = hex("00000005 a1a2a3a4 a5a6a7a8 a9aaabac");
  assert.deepEqual(packetIv(base, 0), base);
  assert.deepEqual(packetIv(base, 1), hex("00000006 a1a2a3a4 a5a6a7a8 a9aaabac"));
  assert.deepEqual(packetIv(base, 0x100), hex("00000105 a1a2a3a4 a5a6a7a8 a9aaabac"));
  assert.deepEqual(packetIv(IV_FAR, 1), hex("00000000 a1a2a3a4 a5a6a7a8 a9aaabac"));
  assert.deepEqual(packetIv(IV_FAR, 3), hex("00000002 a1a2a3a4 a5a6a7a8 a9aaabac"));
  assert.deepEqual(packetIv(base, 2 ** 32 - 5), hex("00000000 a1a2a3a4 a5a6a7a8 a9aaabac"));
  // The base itself is left alone.
  assert.deepEqual(base, hex("00000005 a1a2a3a4 a5a6a7a8 a9aaabac"));
});

// --- Failures -------------------------------------------------------------------

Deno.test("receive() reports a peer closing mid-message as DAEMON_UNREACHABLE", async () => {
  const cuts = [
    hex("00 00000004 01020304"), // a whole non-final packet, then nothing
    hex("01 00000064 01020304"), // a packet shorter than its header says
    hex("01 0000"), // half a header
  ];
  for (const cut of cuts) {
    await withTcpPair(async (near, far) => {
      const stream = new PacketStream(near, { peer: "far" });
      await far.write(cut);
      far.close();
      await assert.rejects(
        stream.receive(),
        (err) => err instanceof DaemonError && err.code === "DAEMON_UNREACHABLE",
      );
    });
  }
});

Deno.test("receive() refuses a header with end flag 11 as DAEMON_NOT_CEDAR", async () => {
  await withTcpPair(async (near, far) => {
    const stream = new PacketStream(near, { peer: "far" });
    // A whole body follows, so only the flag can make the packet unacceptable.
    await far.write(concatBytes(hex("0b 00 00 00 70"), pattern(0x70)));
    await assert.rejects(stream.receive(), isNotCedar(/does not speak HTCondor's protocol/));
  });
});

Deno.test("receive() says in words that a TLS or plain HTTP reply is not HTCondor's protocol", async () => {
  for (
    const [reply, words] of [
      [hex("15 03 03 00 02 02 46"), /answers in TLS.*https:\/\//],
      [new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"), /answers in plain HTTP/],
    ] as const
  ) {
    await withTcpPair(async (near, far) => {
      const stream = new PacketStream(near, { peer: "far" });
      await far.write(reply);
      await assert.rejects(stream.receive(), isNotCedar(words));
    });
  }
});

function isNotCedar(words: RegExp) {
  return (err: unknown) =>
    err instanceof DaemonError && err.code === "DAEMON_NOT_CEDAR" && words.test(err.message);
}

Deno.test("receive() refuses an empty plaintext packet as DAEMON_BAD_RESPONSE", async () => {
  await withTcpPair(async (near, far) => {
    const stream = new PacketStream(near, { peer: "far" });
    await far.write(hex("01 00 00 00 00"));
    await assert.rejects(stream.receive(), isBadResponse);
  });
});

// --- Helpers --------------------------------------------------------------------

/** A real TCP socket that also keeps every byte read from it, to show what crossed the wire. */
class WireTap implements ByteChannel {
  #conn: Deno.TcpConn;
  #read: Uint8Array[] = [];

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    const n = await this.#conn.read(buffer);
    if (n !== null) this.#read.push(buffer.slice(0, n));
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  close(): void {
    this.#conn.close();
  }

  /** The bytes read since the last call. */
  take(): Uint8Array {
    const bytes = concatBytes(...this.#read);
    this.#read = [];
    return bytes;
  }
}

/** The first packet of a direction, computed with node:crypto from the spec alone. */
function sealFirst(
  baseIv: Uint8Array,
  senderSent: Uint8Array,
  senderReceived: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const head = packetHeader(1, 16 + plaintext.length + 16);
  const aad = concatBytes(sha256(senderSent), sha256(senderReceived), head);
  return concatBytes(head, baseIv, aesGcm(baseIv, aad, plaintext));
}

/** Packet `n` (n ≥ 1) of a direction: IV counter advanced, the header as AAD. */
function sealLater(baseIv: Uint8Array, n: number, end: number, plaintext: Uint8Array): Uint8Array {
  const head = packetHeader(end, plaintext.length + 16);
  const iv = Buffer.from(baseIv);
  iv.writeUInt32BE((iv.readUInt32BE(0) + n) % 2 ** 32, 0);
  return concatBytes(head, aesGcm(iv, head, plaintext));
}

/** Ciphertext ‖ tag under KEY. */
function aesGcm(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv("aes-256-gcm", KEY, iv);
  cipher.setAAD(aad);
  return concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

function packetHeader(end: number, length: number): Uint8Array {
  const head = Buffer.alloc(5);
  head[0] = end;
  head.writeUInt32BE(length, 1);
  return new Uint8Array(head);
}

/** Splits raw wire bytes into packets. */
function splitPackets(wire: Uint8Array): { end: number; body: Uint8Array }[] {
  const packets = [];
  for (let at = 0; at < wire.length;) {
    const length = Buffer.from(wire.subarray(at + 1, at + 5)).readUInt32BE(0);
    packets.push({ end: wire[at], body: wire.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return packets;
}

/** A string in its encrypted-mode encoding: length with NUL, bytes, NUL. */
function encString(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  return concatBytes(be64(utf8.length + 1), utf8, hex("00"));
}

function be64(value: number): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(BigInt(value));
  return new Uint8Array(bytes);
}

function writer(encrypted: boolean): MessageWriter {
  return new MessageWriter(encrypted);
}

function isBadResponse(err: unknown): boolean {
  return err instanceof DaemonError && err.code === "DAEMON_BAD_RESPONSE";
}

/** Runs `body` with both ends of a fresh loopback TCP connection, closed afterwards. */
async function withTcpPair(
  body: (near: Deno.TcpConn, far: Deno.TcpConn) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let near: Deno.TcpConn, far: Deno.TcpConn;
  try {
    [near, far] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
  } finally {
    listener.close();
  }
  try {
    await body(near, far);
  } finally {
    closeIfOpen(near);
    closeIfOpen(far);
  }
}

function closeIfOpen(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}

async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    chunks.push(buffer.slice(0, n));
  }
  return concatBytes(...chunks);
}

/** Bytes 0, 1, ... 250, 0, 1, ...: no run repeats at a packet boundary. */
function pattern(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => i % 251);
}

function hex(...parts: string[]): Uint8Array {
  return new Uint8Array(Buffer.from(parts.join("").replace(/\s+/g, ""), "hex"));
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
