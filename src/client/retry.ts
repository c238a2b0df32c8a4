/**
 * Retrying a call to a daemon with bounded exponential backoff and full
 * jitter until it succeeds, fails for good, a deadline passes or the user
 * interrupts: what the requester does while waiting for a decision, and at
 * first contact with a daemon it was told to wait for. The clock is
 * injectable so tests can fake it.
 *
 * @module
 */
import { type Clock, realClock } from "../clock.ts";
import { DaemonError } from "../errors.ts";
import { isTransient } from "./daemon_client.ts";

/** Backoff between retries: `random() * min(capMs, baseMs * 2^attempt)` ("full jitter"). */
export interface RetryPolicy {
  baseMs: number;
  capMs: number;
}

/** Retries start around a quarter second and never wait more than 10 s. */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 250, capMs: 10_000 };

/** The delay before retry number `attempt` (0-based), in milliseconds. */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** How {@link withRetries} retries. */
export interface RetryOptions {
  /** Epoch milliseconds: a retry that would start after this is not made. */
  deadline: number;
  /** Stops the retries when it aborts: the call then resolves to undefined. */
  signal: AbortSignal;
  clock?: Clock;
  retry?: RetryPolicy;
  random?: () => number;
  /** Whether a failure is worth another try; default {@link isTransient}. */
  retryable?: (err: DaemonError) => boolean;
  /** Before each wait: the failure, the retry's number (0-based) and the delay. */
  onRetry?: (err: DaemonError, attempt: number, delayMs: number) => void | Promise<void>;
  /** After a success that followed failures: how long they lasted. */
  onRecovered?: (downMs: number) => void | Promise<void>;
}

/**
 * Runs `call`, retrying failures `options.retryable` accepts with backoff
 * until it succeeds, fails for good (that failure is thrown), or the
 * deadline passes (the last failure is thrown, saying how long it lasted).
 * Resolves to undefined when the signal aborts. `call` gets the attempt's
 * number, 0 first.
 */
export async function withRetries<T>(
  call: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T | undefined> {
  const clock = options.clock ?? realClock;
  const retryable = options.retryable ?? isTransient;
  let attempt = 0;
  let downSince: number | undefined;
  while (true) {
    try {
      const result = await call(attempt);
      if (downSince !== undefined) await options.onRecovered?.(clock.now() - downSince);
      return result;
    } catch (err) {
      if (options.signal.aborted) return undefined;
      if (!(err instanceof DaemonError) || !retryable(err)) throw err;
      downSince ??= clock.now();
      const delayMs = backoffDelay(attempt, options.retry, options.random);
      if (clock.now() + delayMs >= options.deadline) {
        const downFor = Math.round((clock.now() - downSince) / 1000);
        throw new DaemonError(
          err.code,
          `${err.message} (still failing after ${downFor} s of retries; giving up)`,
          err.status,
          {
            cause: err,
            reason: `${err.reason} (still failing after ${downFor} s of retries; giving up)`,
          },
        );
      }
      await options.onRetry?.(err, attempt, delayMs);
      attempt++;
      await clock.sleep(delayMs, options.signal);
      if (options.signal.aborted) return undefined;
    }
  }
}
