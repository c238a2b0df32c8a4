/** Waiting in tests for something to become true, with a deadline instead of a fixed sleep. */

/** How long and how often `until()` checks. */
export interface UntilOptions {
  /** Give up after this many milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Milliseconds between checks (default 10). */
  intervalMs?: number;
}

/**
 * Resolves once `check()` returns true; throws naming `what` (and the last
 * `describe()`, when given) if that has not happened by the deadline.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: UntilOptions & { describe?: () => string } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const last = options.describe ? ` (last seen: ${options.describe()})` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
  }
}
