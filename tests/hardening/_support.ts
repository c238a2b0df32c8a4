/**
 * What the hardening tests share: a seeded random source whose seed is
 * printed when a test fails (and can be set to replay it), the switch for
 * the heavier variants, and raw HTTP/1.1 over TLS for requests that `fetch`
 * refuses to send.
 *
 * - CONDOR_TOKEN_HEAVY=1 runs every hardening test with larger counts.
 * - CONDOR_TOKEN_SEED=N replays a run with seed N (each test prints its
 *   seed when it fails).
 */

/** True when the heavier variants are asked for (CONDOR_TOKEN_HEAVY=1). Needs --allow-env. */
export function heavy(): boolean {
  return Deno.env.get("CONDOR_TOKEN_HEAVY") === "1";
}

/** The seed to use: CONDOR_TOKEN_SEED when set, else a fresh one. Needs --allow-env. */
export function chooseSeed(): number {
  const given = Deno.env.get("CONDOR_TOKEN_SEED");
  if (given !== undefined && given !== "") {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) throw new Error(`CONDOR_TOKEN_SEED must be an integer`);
    return seed;
  }
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A small deterministic PRNG (mulberry32) with the helpers the tests need. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** `items` in a random order (a copy). */
  shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  }
}

/**
 * Runs `fn` with a seeded Random; if it throws, rethrows with the seed and
 * the way to replay it in the message.
 */
export async function withSeed<T>(
  name: string,
  fn: (random: Random, seed: number) => Promise<T>,
): Promise<T> {
  const seed = chooseSeed();
  try {
    return await fn(new Random(seed), seed);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      `${name} failed with seed ${seed} (replay: CONDOR_TOKEN_SEED=${seed}): ${message}`,
      { cause: err },
    );
  }
}

/** What came back for one raw request. */
export interface RawAnswer {
  /** The status of the first response line, or undefined when none came. */
  status: number | undefined;
  /** Everything read (headers and body), as latin1 text. */
  text: string;
}

/**
 * Sends `bytes` as-is over a new TLS connection to `url`'s host and port
 * (HTTP/1.1, no ALPN) and reads until the server closes, `timeoutMs`
 * passes, or `maxBytes` arrived. Never throws for what the server does.
 */
export async function rawRequest(
  url: string,
  certPem: string,
  bytes: Uint8Array,
  timeoutMs = 3_000,
  maxBytes = 256 * 1024,
): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connectTls({ hostname, port: Number(port), caCerts: [certPem] });
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Already closed by the reader.
    }
  }, timeoutMs);
  try {
    try {
      await writeAll(conn, bytes);
    } catch {
      // The server may close before reading everything (a refusal): read what it said.
    }
    const buf = new Uint8Array(16 * 1024);
    while (size < maxBytes) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break; // reset, or closed by the timer
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      size += n;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  const text = new TextDecoder("latin1").decode(all);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
  return { status: status === undefined ? undefined : Number(status), text };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Encodes text as latin1 bytes, so tests can put any byte in a request. */
export function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}
