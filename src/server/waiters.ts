/**
 * In-process notification for long polls: a collect waiting on a request
 * wakes the moment the request changes state, with no polling loop.
 *
 * @module
 */

/** Why a wait ended. */
export type WakeReason = "changed" | "timeout" | "aborted" | "closing";

/**
 * The key under which waits see every notification: an administrator
 * watching for new requests wakes on any request's change (a new one, a
 * decision, an expiry), on this daemon or, through the store, another.
 */
export const ANY_REQUEST = "*";

/** Waiters keyed by request id. */
export class Waiters {
  readonly #waiting = new Map<string, Set<(reason: WakeReason) => void>>();
  #closing = false;

  /** Number of requesters' polls currently waiting, watches not counted (for metrics and tests). */
  get size(): number {
    let n = 0;
    for (const [key, set] of this.#waiting) if (key !== ANY_REQUEST) n += set.size;
    return n;
  }

  /**
   * Resolves when `notify(id)` is called, after `timeoutMs`, when `signal`
   * aborts (the client went away), or when the daemon starts closing.
   */
  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<WakeReason> {
    if (this.#closing) return Promise.resolve("closing");
    if (signal?.aborted) return Promise.resolve("aborted");
    return new Promise((resolve) => {
      let set = this.#waiting.get(id);
      if (!set) this.#waiting.set(id, set = new Set());
      const done = (reason: WakeReason) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        set!.delete(done);
        if (set!.size === 0 && this.#waiting.get(id) === set) this.#waiting.delete(id);
        resolve(reason);
      };
      const onAbort = () => done("aborted");
      const timer = setTimeout(() => done("timeout"), Math.max(0, timeoutMs));
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(done);
    });
  }

  /** Wakes every poll waiting on request `id`, and every wait on {@link ANY_REQUEST}. */
  notify(id: string): void {
    for (const key of id === ANY_REQUEST ? [id] : [id, ANY_REQUEST]) {
      const set = this.#waiting.get(key);
      if (!set) continue;
      for (const done of [...set]) done("changed");
    }
  }

  /** Number of waits on {@link ANY_REQUEST} (the watchers, for their cap). */
  get watching(): number {
    return this.#waiting.get(ANY_REQUEST)?.size ?? 0;
  }

  /** Wakes every waiting poll to look again (changes may have been missed). */
  notifyAll(): void {
    for (const set of [...this.#waiting.values()]) {
      for (const done of [...set]) done("changed");
    }
  }

  /** Wakes every waiting poll and refuses new waits (shutdown). */
  close(): void {
    this.#closing = true;
    for (const set of [...this.#waiting.values()]) {
      for (const done of [...set]) done("closing");
    }
  }
}
