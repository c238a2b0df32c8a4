/**
 * In-process notification for long polls: a collect waiting on a request
 * wakes the moment the request changes state, with no polling loop.
 *
 * @module
 */

/** Why a wait ended. */
export type WakeReason = "changed" | "timeout" | "aborted" | "closing";

/** Waiters keyed by request id. */
export class Waiters {
  readonly #waiting = new Map<string, Set<(reason: WakeReason) => void>>();
  #closing = false;

  /** Number of polls currently waiting (for metrics and tests). */
  get size(): number {
    let n = 0;
    for (const set of this.#waiting.values()) n += set.size;
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

  /** Wakes every poll waiting on request `id`. */
  notify(id: string): void {
    const set = this.#waiting.get(id);
    if (!set) return;
    for (const done of [...set]) done("changed");
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
