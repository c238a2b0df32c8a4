/**
 * Per-peer rate limits: a token bucket per peer address that holds a
 * minute's worth of calls and refills continuously, so a peer may burst up
 * to its per-minute limit and then goes at the limit's pace.
 *
 * @module
 */

/** Buckets kept before idle (full) ones are dropped, bounding memory under address churn. */
const MAX_TRACKED_PEERS = 10_000;

/** A per-key token bucket limiter. */
export class RateLimiter {
  #perMinute: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** `perMinute` calls per key per minute; 0 disables the limit. `now` in milliseconds. */
  constructor(perMinute: number, now: () => number) {
    this.#perMinute = perMinute;
    this.#now = now;
  }

  /** Changes the rate (SIGHUP); buckets refill at the new rate from now on. */
  setRate(perMinute: number): void {
    this.#perMinute = perMinute;
  }

  /**
   * Takes one call from `key`'s bucket. Returns 0 when allowed, otherwise the
   * whole seconds until the next call would be.
   */
  take(key: string): number {
    if (this.#perMinute <= 0) return 0;
    const now = this.#now();
    const rate = this.#perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: this.#perMinute, at: now };
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + Math.max(0, now - bucket.at) * rate);
    bucket.at = now;
    if (!this.#buckets.has(key)) {
      if (this.#buckets.size >= MAX_TRACKED_PEERS) this.#evict(now, rate);
      this.#buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
  }

  #evict(now: number, rate: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * rate >= this.#perMinute) this.#buckets.delete(key);
    }
    // Still full of busy peers: drop the oldest half rather than grow without bound.
    if (this.#buckets.size >= MAX_TRACKED_PEERS) {
      let n = 0;
      for (const key of this.#buckets.keys()) {
        if (n++ >= MAX_TRACKED_PEERS / 2) break;
        this.#buckets.delete(key);
      }
    }
  }
}
