/**
 * Time, as everything time-dependent takes it: the request flow and its
 * retries, the CEDAR client's polling, the tools' status lines. Passed in,
 * never read from a global, so a test can hand in a fake clock and see a
 * schedule of minutes run in no time. At the bottom layer beside errors.ts:
 * every layer may import it.
 *
 * @module
 */

/** Time, injectable so tests can fake it. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: Date.now() and setTimeout. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    }),
};
