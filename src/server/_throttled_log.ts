/**
 * Log lines about what any peer can cause (refused connections, accept
 * errors) at most once per interval per kind, so that a flood cannot fill
 * the log: the next line that gets out says how many were held back.
 *
 * @module
 */

/** Most kinds remembered at once: kinds may name peers, and peers are many. */
const MAX_KINDS = 1024;

/** Logs each kind of event at most once per interval, counting the rest. */
export class ThrottledLog {
  readonly #log: (line: string) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #kinds = new Map<string, { at: number; held: number }>();

  /** `now` is a monotonic clock in milliseconds. */
  constructor(log: (line: string) => void, intervalMs: number, now = () => performance.now()) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * Logs `line` unless a line of this `kind` went out less than an interval
   * ago. When MAX_KINDS kinds are remembered and none has expired, a new
   * kind shares the throttle of `overflow` (e.g. the event without its
   * peer), so the kinds a flood of peers invents cannot grow the log or the
   * memory without bound.
   */
  note(kind: string, line: string, overflow = "*"): void {
    const now = this.#now();
    if (!this.#kinds.has(kind) && this.#kinds.size >= MAX_KINDS) {
      for (const [k, v] of this.#kinds) {
        if (now - v.at >= this.#intervalMs) this.#kinds.delete(k);
      }
      if (this.#kinds.size >= MAX_KINDS) kind = `\0${overflow}`;
    }
    const last = this.#kinds.get(kind);
    if (last && now - last.at < this.#intervalMs) {
      last.held++;
      return;
    }
    const held = last?.held ?? 0;
    this.#kinds.set(kind, { at: now, held: 0 });
    this.#log(held > 0 ? `${line} (${held} more like this since the last such line)` : line);
  }
}
