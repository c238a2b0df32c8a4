/**
 * CEDAR's reliable-socket framing, the way HTCondor daemons speak it over
 * TCP, and its AES-256-GCM stream encryption.
 *
 * A message is one or more packets; a packet is a 5-byte header (end flag,
 * big-endian uint32 body length) and its body; the packet whose end flag is
 * non-zero ends the message. Until encryption is switched on, every
 * plaintext byte sent and received (headers included) is kept, because the
 * first encrypted packet in each direction authenticates both transcripts:
 * its additional data is SHA-256(sent) ‖ SHA-256(received) ‖ header, seen
 * from the sender. Each packet is encrypted alone with the direction's base
 * IV whose first 32 bits count packets; the first packet carries the base IV
 * before its ciphertext. Later packets' additional data is their header.
 *
 * Values inside a message: integers are 8-byte big-endian; strings are bytes
 * and a NUL, and once encryption is on they are also preceded by their length
 * (NUL included) as an integer.
 *
 * @module
 */
import { DaemonError } from "../../errors.ts";
import { DAEMON_ERRORS } from "../daemon_client.ts";
import {
  type ClassAd,
  type ClassAdValue,
  formatAttribute,
  MAX_ATTRIBUTES,
  parseAttribute,
} from "./classad.ts";

/** Header size of a packet: end flag and big-endian length. */
export const HEADER_SIZE = 5;
/** Most body bytes HTCondor puts in one packet; we send no more either. */
export const MAX_PACKET_BODY = 4091;
/** Largest packet body we accept (HTCondor's own bound is 1 MiB). */
export const MAX_RECEIVED_PACKET = 1 << 20;
/** Largest message we accept: replies of the token commands are a few kilobytes. */
export const MAX_RECEIVED_MESSAGE = 16 << 20;
/** Size of the GCM IV HTCondor uses, and of its tag. */
const IV_SIZE = 16;
const TAG_SIZE = 16;

/** The bytes underneath: a TCP connection, or anything that reads and writes like one. */
export interface ByteChannel {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** Session keys of one direction. */
interface Direction {
  key: CryptoKey;
  /** Base IV: ours is chosen at random; the peer's arrives in its first packet. */
  baseIv: Uint8Array | undefined;
  /** Packets done in this direction since encryption started. */
  counter: number;
}

/** What the packet stream needs from its surroundings (tests inject IVs). */
export interface PacketStreamOptions {
  /** Where errors say the peer is, e.g. "cm.example.org:9618". */
  peer: string;
  /** The peer's address as connected, `ip:port` (`[v6]:port`), for FS channel binding. */
  remoteAddress?: string;
  /** Fills a fresh base IV; crypto.getRandomValues by default. */
  randomIv?: (iv: Uint8Array) => void;
}

/**
 * One CEDAR connection: whole messages in, whole messages out, plaintext
 * until {@link PacketStream.startEncryption}, AES-GCM after. Errors are
 * DaemonError: DAEMON_UNREACHABLE when the peer closes or resets,
 * DAEMON_BAD_RESPONSE for framing or decryption failures.
 */
export class PacketStream {
  readonly peer: string;
  readonly remoteAddress: string | undefined;
  #channel: ByteChannel;
  #pending: Uint8Array = new Uint8Array(0);
  #sentPlain: Uint8Array[] = [];
  #receivedPlain: Uint8Array[] = [];
  #transcript: { sent: Uint8Array; received: Uint8Array } | undefined;
  #out: Direction | undefined;
  #in: Direction | undefined;
  #randomIv: (iv: Uint8Array) => void;

  constructor(channel: ByteChannel, options: PacketStreamOptions) {
    this.#channel = channel;
    this.peer = options.peer;
    this.remoteAddress = options.remoteAddress;
    this.#randomIv = options.randomIv ?? ((iv) => crypto.getRandomValues(iv));
  }

  /** Whether values are now written in their encrypted-mode encoding. */
  get encrypted(): boolean {
    return this.#out !== undefined;
  }

  /**
   * Switches both directions to AES-256-GCM under `key` (32 bytes). The
   * transcripts are frozen: everything exchanged so far is what the first
   * encrypted packet of each direction authenticates.
   */
  async startEncryption(key: Uint8Array): Promise<void> {
    const aes = await crypto.subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    const sent = await sha256(this.#sentPlain);
    const received = await sha256(this.#receivedPlain);
    this.#transcript = { sent, received };
    this.#sentPlain = [];
    this.#receivedPlain = [];
    const ourIv = new Uint8Array(IV_SIZE);
    this.#randomIv(ourIv);
    this.#out = { key: aes, baseIv: ourIv, counter: 0 };
    this.#in = { key: aes, baseIv: undefined, counter: 0 };
  }

  /**
   * Forgets the plaintext exchanged so far: after a shared-port connect
   * message, the transcripts start anew (the daemon behind the port never
   * saw that message).
   */
  resetTranscript(): void {
    this.#sentPlain = [];
    this.#receivedPlain = [];
  }

  /** A writer for one message, encoding values for the current mode. */
  message(): MessageWriter {
    return new MessageWriter(this.encrypted);
  }

  /** Sends one message, split into packets of at most {@link MAX_PACKET_BODY} bytes. */
  async send(message: MessageWriter | Uint8Array): Promise<void> {
    const body = message instanceof MessageWriter ? message.bytes() : message;
    const parts: Uint8Array[] = [];
    for (let at = 0; at === 0 || at < body.length; at += MAX_PACKET_BODY) {
      const chunk = body.subarray(at, at + MAX_PACKET_BODY);
      const last = at + MAX_PACKET_BODY >= body.length;
      parts.push(await this.#packet(chunk, last));
    }
    await this.#write(concat(parts));
  }

  async #packet(body: Uint8Array, last: boolean): Promise<Uint8Array> {
    const out = this.#out;
    if (out === undefined) {
      const packet = concat([header(last, body.length), body]);
      this.#sentPlain.push(packet);
      return packet;
    }
    const first = out.counter === 0;
    const length = (first ? IV_SIZE : 0) + body.length + TAG_SIZE;
    const head = header(last, length);
    const aad = first ? concat([this.#transcript!.sent, this.#transcript!.received, head]) : head;
    const iv = packetIv(out.baseIv!, out.counter);
    out.counter++;
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: iv as BufferSource, additionalData: aad as BufferSource },
        out.key,
        body as BufferSource,
      ),
    );
    return concat(first ? [head, out.baseIv!, sealed] : [head, sealed]);
  }

  /** Receives one whole message and returns a reader over its values. */
  async receive(): Promise<MessageReader> {
    const bodies: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const head = await this.#readExact(HEADER_SIZE);
      const end = head[0];
      const length = new DataView(head.buffer, head.byteOffset).getUint32(1);
      if (end > 10 || length > MAX_RECEIVED_PACKET) throw this.#notCedar(head);
      const body = await this.#readExact(length);
      const plain = await this.#open(head, body);
      total += plain.length;
      if (total > MAX_RECEIVED_MESSAGE) throw this.#bad("the message is too large");
      bodies.push(plain);
      if (end !== 0) break;
    }
    return new MessageReader(concat(bodies), this.encrypted, this.peer);
  }

  async #open(head: Uint8Array, body: Uint8Array): Promise<Uint8Array> {
    const incoming = this.#in;
    if (incoming === undefined) {
      if (body.length === 0) throw this.#bad("an empty packet arrived");
      this.#receivedPlain.push(concat([head, body]));
      return body;
    }
    const first = incoming.counter === 0;
    if (body.length < TAG_SIZE + (first ? IV_SIZE : 0)) {
      throw this.#bad("an encrypted packet is shorter than its IV and tag");
    }
    if (first) {
      incoming.baseIv = body.slice(0, IV_SIZE);
      body = body.subarray(IV_SIZE);
    }
    // From the sender's view: what it sent (our received) first.
    const aad = first ? concat([this.#transcript!.received, this.#transcript!.sent, head]) : head;
    const iv = packetIv(incoming.baseIv!, incoming.counter);
    incoming.counter++;
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: iv as BufferSource, additionalData: aad as BufferSource },
          incoming.key,
          body as BufferSource,
        ),
      );
    } catch (err) {
      if (!(err instanceof DOMException)) throw err;
      throw this.#bad(
        "a packet failed decryption (the session key or the handshake transcript differs)",
        err,
      );
    }
  }

  async #readExact(n: number): Promise<Uint8Array> {
    while (this.#pending.length < n) {
      const buffer = new Uint8Array(Math.max(n - this.#pending.length, 16 * 1024));
      let read: number | null;
      try {
        read = await this.#channel.read(buffer);
      } catch (err) {
        throw connectionLost(this.peer, err);
      }
      if (read === null) {
        throw new DaemonError(
          DAEMON_ERRORS.UNREACHABLE,
          `Cannot talk to the daemon at ${this.peer}: it closed the connection`,
        );
      }
      this.#pending = concat([this.#pending, buffer.subarray(0, read)]);
    }
    const bytes = this.#pending.slice(0, n);
    this.#pending = this.#pending.subarray(n);
    return bytes;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      for (let at = 0; at < bytes.length;) at += await this.#channel.write(bytes.subarray(at));
    } catch (err) {
      throw connectionLost(this.peer, err);
    }
  }

  #bad(reason: string, cause?: unknown): DaemonError {
    return new DaemonError(
      DAEMON_ERRORS.BAD_RESPONSE,
      `Cannot talk to the daemon at ${this.peer}: ${reason}`,
      undefined,
      { cause },
    );
  }

  /** What a reply that is not HTCondor's protocol at all looks like, in words. */
  #notCedar(head: Uint8Array): DaemonError {
    const text = new TextDecoder().decode(head);
    const what = head[0] >= 0x14 && head[0] <= 0x17 && head[1] === 0x03
      ? "it answers in TLS, not HTCondor's protocol (a condor_tokend? address it as https://HOST:PORT)"
      : text.startsWith("HTTP/")
      ? "it answers in plain HTTP, not HTCondor's protocol"
      : `it does not speak HTCondor's protocol (its reply starts ${hex(head)})`;
    return new DaemonError(
      DAEMON_ERRORS.NOT_CEDAR,
      `Cannot talk to the daemon at ${this.peer}: ${what}`,
    );
  }

  /** Closes the connection; safe to call twice. */
  close(): void {
    try {
      this.#channel.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }
}

function connectionLost(peer: string, err: unknown): DaemonError {
  if (
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionAborted || err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted
  ) {
    return new DaemonError(
      DAEMON_ERRORS.UNREACHABLE,
      `Cannot talk to the daemon at ${peer}: the connection was reset`,
      undefined,
      { cause: err },
    );
  }
  throw err;
}

/** Builds one message's body: integers, strings, ClassAds, raw bytes. */
export class MessageWriter {
  #parts: Uint8Array[] = [];
  #encrypted: boolean;

  constructor(encrypted: boolean) {
    this.#encrypted = encrypted;
  }

  /** An 8-byte big-endian two's-complement integer. */
  int(value: number | bigint): this {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigInt64(0, BigInt(value));
    this.#parts.push(bytes);
    return this;
  }

  /** A string: bytes and NUL, preceded by its length once encryption is on. */
  string(value: string): this {
    const utf8 = new TextEncoder().encode(value);
    if (utf8.includes(0)) throw new TypeError("Cannot send a string containing NUL");
    if (this.#encrypted) this.int(utf8.length + 1);
    this.#parts.push(utf8, new Uint8Array(1));
    return this;
  }

  /** Raw bytes, no length (protocols send the length first themselves). */
  raw(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    return this;
  }

  /** A ClassAd: count, one line per attribute, two empty strings. */
  classAd(attributes: Iterable<[string, ClassAdValue]>): this {
    const lines = [...attributes].map(([name, value]) => formatAttribute(name, value));
    this.int(lines.length);
    for (const line of lines) this.string(line);
    return this.string("").string("");
  }

  bytes(): Uint8Array {
    return concat(this.#parts);
  }
}

/** Reads the values of one received message, in order. */
export class MessageReader {
  #bytes: Uint8Array;
  #at = 0;
  #encrypted: boolean;
  #peer: string;

  constructor(bytes: Uint8Array, encrypted: boolean, peer: string) {
    this.#bytes = bytes;
    this.#encrypted = encrypted;
    this.#peer = peer;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.length - this.#at;
  }

  int(): number {
    const bytes = this.#take(8, "an integer");
    const value = new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw this.#bad("an integer is out of range");
    }
    return Number(value);
  }

  string(): string {
    let end: number;
    if (this.#encrypted) {
      const length = this.int();
      if (length < 1 || length > this.remaining) throw this.#bad("a string has a bad length");
      end = this.#at + length - 1;
      if (this.#bytes[end] !== 0) throw this.#bad("a string is not NUL-terminated");
    } else {
      end = this.#bytes.indexOf(0, this.#at);
      if (end < 0) throw this.#bad("a string is not NUL-terminated");
    }
    const text = new TextDecoder().decode(this.#bytes.subarray(this.#at, end));
    this.#at = end + 1;
    return text;
  }

  raw(length: number): Uint8Array {
    return this.#take(length, `${length} bytes`).slice();
  }

  classAd(): ClassAd {
    const count = this.int();
    if (count < 0 || count > MAX_ATTRIBUTES) {
      throw this.#bad(`a ClassAd claims ${count} attributes`);
    }
    const ad: ClassAd = new Map();
    for (let i = 0; i < count; i++) {
      const [name, value] = parseAttribute(this.string());
      ad.set(name, value);
    }
    // The two legacy MyType/TargetType strings; they are empty in practice.
    this.string();
    this.string();
    return ad;
  }

  #take(n: number, what: string): Uint8Array {
    if (this.remaining < n) throw this.#bad(`the message ended before ${what}`);
    const bytes = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return bytes;
  }

  #bad(reason: string): DaemonError {
    return new DaemonError(
      DAEMON_ERRORS.BAD_RESPONSE,
      `Cannot read the reply of the daemon at ${this.#peer}: ${reason}`,
    );
  }
}

function header(last: boolean, length: number): Uint8Array {
  const head = new Uint8Array(HEADER_SIZE);
  head[0] = last ? 1 : 0;
  new DataView(head.buffer).setUint32(1, length);
  return head;
}

/** IV of packet `n`: the base IV with its first 32 bits (big-endian) advanced by n. */
export function packetIv(base: Uint8Array, n: number): Uint8Array {
  const iv = base.slice();
  const view = new DataView(iv.buffer);
  view.setUint32(0, (view.getUint32(0) + n) >>> 0);
  return iv;
}

async function sha256(chunks: Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(chunks) as BufferSource));
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}
