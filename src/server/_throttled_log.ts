/**
 * Log lines about what any peer can cause (refused connections, accept
 * errors) at most once per interval per kind, so that a flood cannot fill
 * the log: the next line that gets out says how many were held back.
 *
 * @module
 */

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

  /** Logs `line` unless a line of this `kind` went out less than an interval ago. */
  note(kind: string, line: string): void {
    const now = this.#now();
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
