/** The requester's live waiting status on stderr. */
import type { Clock } from "../clock.ts";
import type { Io } from "./io.ts";

/**
 * The waiting status on stderr: on a terminal one line refreshed every
 * second (what is awaited, elapsed time, expiry); otherwise a "Still
 * waiting" line now and then. What is awaited is the approval of a request
 * ({@link start}) or, before one is made, a daemon that does not answer yet
 * ({@link startContact}). Other messages go through {@link say} so they do
 * not collide with the live line.
 */
export class StatusLine {
  /** What is awaited, as the line says it: "approval of request 6108900". */
  #awaited = "";
  #since = 0;
  #expiresAt: number | undefined;
  #trouble: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #shown = false;

  constructor(
    readonly io: Io,
    readonly clock: Clock,
    readonly intervalMs: number,
  ) {}

  /** Shows the wait for approval of `requestId`, made at `sinceMs`, expiring at `expiresAt` (s). */
  start(requestId: string, sinceMs: number, expiresAt: number | undefined): void {
    this.#begin(`approval of request ${requestId}`, sinceMs, expiresAt);
  }

  /** Shows the wait for the daemon at `address` to answer at all, since `sinceMs`, and why. */
  startContact(address: string, sinceMs: number, trouble: string): void {
    this.#begin(`the daemon at ${address} to answer`, sinceMs, undefined, trouble);
  }

  #begin(
    awaited: string,
    sinceMs: number,
    expiresAt: number | undefined,
    trouble?: string,
  ): void {
    this.#awaited = awaited;
    this.#since = sinceMs;
    this.#expiresAt = expiresAt;
    this.#trouble = trouble;
    this.stop();
    const terminal = this.io.stderrIsTerminal;
    this.#timer = setInterval(() => void this.#tick(), terminal ? 1000 : this.intervalMs);
    if (terminal) void this.#tick();
  }

  update(change: { expiresAt?: number; trouble?: string | undefined }): void {
    if ("expiresAt" in change) this.#expiresAt = change.expiresAt;
    if ("trouble" in change) this.#trouble = change.trouble;
  }

  async say(text: string): Promise<void> {
    await this.#clear();
    await this.io.err(text);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#shown) void this.#clear();
  }

  async #clear(): Promise<void> {
    if (!this.#shown) return;
    this.#shown = false;
    await this.io.err("\r\x1b[K");
  }

  async #tick(): Promise<void> {
    const elapsed = duration(this.clock.now() - this.#since);
    if (!this.io.stderrIsTerminal) {
      await this.io.err(`Still waiting for ${this.#awaited} (${elapsed} elapsed)\n`);
      return;
    }
    const expires = this.#expiresAt === undefined
      ? ""
      : `, expires in ${duration(this.#expiresAt * 1000 - this.clock.now())}`;
    const trouble = this.#trouble ? ` [${this.#trouble}]` : "";
    this.#shown = true;
    await this.io.err(
      `\r\x1b[KWaiting for ${this.#awaited}: ${elapsed} elapsed${expires}${trouble} (Ctrl-C cancels)`,
    );
  }
}

/** "1h02m03s", "4m05s", "17s". */
export function duration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}h${pad(m)}m${pad(s)}s` : m > 0 ? `${m}m${pad(s)}s` : `${s}s`;
}
