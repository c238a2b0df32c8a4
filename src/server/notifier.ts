/**
 * Webhook notifications (TOKEND_NOTIFY_URL): one JSON object POSTed per
 * event (a request left pending, approved, denied, cancelled or expired; a
 * rule installed, removed, held by the circuit breaker or resumed), with a
 * one-line `text` field so that a Slack or Mattermost incoming webhook
 * takes it as it is. docs/protocol.md lists the fields and event names.
 *
 * Delivery never holds up the call that caused the event: {@link
 * Notifier.send} only appends to a bounded in-memory queue (the oldest event
 * is dropped, and counted, when it is full: unauthenticated peers can cause
 * events), and one loop POSTs them in order, each with a deadline, retried
 * with exponential backoff and jitter until it is TOKEND_NOTIFY_RETRY_TIME
 * old. Failures are logged at most once a minute and counted in /metrics.
 * With TOKEND_NOTIFY_SECRET_FILE, each POST carries an HMAC-SHA256 of its
 * timestamp and body. No event carries a token or a secret: the requester's
 * secret never reaches this module, and the URL (whose path may be the
 * webhook's own secret) is named in messages by its origin only.
 *
 * The daemon that commits a change is the one that sends its event, so two
 * daemons sharing one database send each event once.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import type { RequestInfo } from "../api/protocol.ts";
import { ConfigError } from "../errors.ts";
import { inspectTrusted, type TrustRule } from "../token/trusted_file.ts";
import { ThrottledLog } from "./_throttled_log.ts";
import type { Metrics } from "./metrics.ts";
import type { NotifySettings } from "./settings.ts";

/** Every event a notification can be about. */
export type NotifyEventName =
  | "request.pending"
  | "request.approved"
  | "request.denied"
  | "request.cancelled"
  | "request.expired"
  | "rule.installed"
  | "rule.removed"
  | "rule.held"
  | "rule.resumed";

/**
 * The request an event is about, as administrators see it in a list
 * (no secret, no token), without the state the event itself names.
 */
export type NotifiedRequest = Omit<RequestInfo, "state" | "requestedAt">;

/** The rule an event is about. */
export interface NotifiedRule {
  ruleId: number;
  netblock: string;
  expiresAt?: number;
  /** rule.held: which limit was reached, "rule" (its own) or "total" (all rules together). */
  limit?: "rule" | "total";
  /** rule.held: the limit, per `interval` seconds. */
  max?: number;
  interval?: number;
}

/** What the state machine reports, once the change it describes has committed. */
export interface Notification {
  event: NotifyEventName;
  /** Epoch seconds. */
  at: number;
  request?: NotifiedRequest;
  rule?: NotifiedRule;
  /** Who caused it: an identity, a rule, "requester" or "daemon". */
  actor?: string;
  /** request.denied: the reason the requester is shown. */
  reason?: string;
  /** request.expired, request.cancelled: the state it left. */
  from?: string;
}

/** The header carrying `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export const SIGNATURE_HEADER = "x-condor-tokend-signature";
/** The header carrying the Unix time (seconds) the POST was signed at. */
export const TIMESTAMP_HEADER = "x-condor-tokend-timestamp";
/** The header naming the event, as the body's `event`. */
export const EVENT_HEADER = "x-condor-tokend-event";

/** Where and how to deliver, as taken from the settings. */
export interface NotifyTarget {
  url: URL;
  /** The HMAC key (TOKEND_NOTIFY_SECRET_FILE), if any. */
  secret: Uint8Array | undefined;
  /** TOKEND_NOTIFY_CA_FILE's certificates, trusted alone; the runtime's roots when undefined. */
  caCerts: string[] | undefined;
  timeoutMs: number;
  retryMs: number;
  queueSize: number;
}

/** What a notifier needs. */
export interface NotifierDeps {
  metrics: Metrics;
  log: (line: string) => void;
  /** This daemon: its name, and the target options of the approve command (`-pool HOST:PORT`). */
  daemon: () => { name: string; approveTarget: string };
}

interface Item {
  payload: Record<string, unknown>;
  /** performance.now() when queued. */
  queuedAt: number;
  attempts: number;
}

/** First retry delay; doubled on each failure up to MAX_BACKOFF_MS, with jitter. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Failures are logged at most this often. */
const LOG_INTERVAL_MS = 60_000;

/** The delivery queue and its one loop. */
export class Notifier {
  readonly #deps: NotifierDeps;
  readonly #queue: Item[] = [];
  readonly #throttled: ThrottledLog;
  readonly #stop = new AbortController();
  #target: NotifyTarget | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #failing = false;

  constructor(deps: NotifierDeps, target: NotifyTarget | undefined) {
    this.#deps = deps;
    this.#throttled = new ThrottledLog(deps.log, LOG_INTERVAL_MS);
    this.configure(target);
  }

  /** Events waiting to be sent (the one being sent included). */
  get size(): number {
    return this.#queue.length;
  }

  /** Whether events are being sent at all. */
  get enabled(): boolean {
    return this.#target !== undefined;
  }

  /** Takes a new target (SIGHUP); undefined stops sending and drops what is queued. */
  configure(target: NotifyTarget | undefined): void {
    this.#target = target;
    if (!target) this.#queue.length = 0;
    while (target && this.#queue.length > target.queueSize) this.#drop();
  }

  /** Queues the event; returns at once and never throws. */
  send(note: Notification): void {
    const target = this.#target;
    if (!target || this.#stop.signal.aborted) return;
    try {
      const daemon = this.#deps.daemon();
      const payload = notificationPayload(note, daemon.name, daemon.approveTarget);
      if (this.#queue.length >= target.queueSize) this.#drop();
      this.#queue.push({ payload, queuedAt: performance.now(), attempts: 0 });
      this.#loop ??= this.#run();
      this.#wake?.();
    } catch (err) {
      this.#deps.log(`error queueing a notification: ${err instanceof Error ? err.message : err}`);
    }
  }

  /** Stops the loop (a POST in flight is abandoned); events still queued are not sent. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
    if (this.#queue.length > 0) {
      this.#deps.log(`${this.#queue.length} notification(s) not sent at shutdown`);
      this.#queue.length = 0;
    }
  }

  #drop(): void {
    this.#queue.shift();
    this.#deps.metrics.notification("dropped");
    this.#throttled.note(
      "notify-drop",
      "dropped the oldest notification: TOKEND_NOTIFY_QUEUE_SIZE events are waiting to be sent",
    );
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      const item = this.#queue[0];
      const target = this.#target;
      if (item === undefined || target === undefined) {
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      const problem = await this.#post(item, target);
      if (stop.aborted) return;
      // Dropped (queue full) or cleared (SIGHUP) while it was being sent.
      if (this.#queue[0] !== item) continue;
      if (problem === undefined) {
        this.#queue.shift();
        this.#deps.metrics.notification("sent");
        if (this.#failing) {
          this.#failing = false;
          this.#deps.log(`notifications reach ${target.url.origin} again`);
        }
        continue;
      }
      this.#failing = true;
      item.attempts++;
      this.#deps.metrics.notification("retried");
      const delay = backoff(item.attempts);
      if (performance.now() + delay - item.queuedAt > target.retryMs) {
        this.#queue.shift();
        this.#deps.metrics.notification("failed");
        this.#throttled.note(
          "notify-fail",
          `cannot notify ${target.url.origin}: ${problem}; gave up a ${item.payload.event} event after ${item.attempts} attempt(s) (TOKEND_NOTIFY_RETRY_TIME)`,
        );
        continue;
      }
      this.#throttled.note(
        "notify-fail",
        `cannot notify ${target.url.origin}: ${problem}; retrying`,
      );
      await sleep(delay, stop);
    }
  }

  /** One POST; undefined when the receiver took it (2xx), else why not. */
  async #post(item: Item, target: NotifyTarget): Promise<string | undefined> {
    const body = JSON.stringify(item.payload);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      [EVENT_HEADER]: String(item.payload.event),
    };
    if (target.secret) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      headers[TIMESTAMP_HEADER] = timestamp;
      headers[SIGNATURE_HEADER] = signature(target.secret, timestamp, body);
    }
    const timeout = AbortSignal.timeout(target.timeoutMs);
    const signal = AbortSignal.any([this.#stop.signal, timeout]);
    try {
      let status: number;
      if (target.caCerts) {
        status = await postTrustingOnly(target.url, target.caCerts, headers, body, signal);
      } else {
        const response = await fetch(target.url, {
          method: "POST",
          headers,
          body,
          // A redirect could carry the event elsewhere: not followed, a failure.
          redirect: "manual",
          signal,
        });
        await response.body?.cancel();
        status = response.status;
      }
      return status >= 200 && status < 300 ? undefined : `HTTP ${status}`;
    } catch (err) {
      if (timeout.aborted) {
        return `no answer within ${target.timeoutMs / 1000} s (TOKEND_NOTIFY_TIMEOUT)`;
      }
      return redacted(err, target.url);
    }
  }
}

/**
 * One POST over node:https trusting the certificates `ca` and nothing else
 * (Deno's fetch adds the runtime's roots to those it is given); resolves
 * to the answer's status, without reading its body. Redirects are not
 * followed. Needs --allow-net.
 */
async function postTrustingOnly(
  url: URL,
  ca: string[],
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<number> {
  // Loaded on first use: only a daemon with TOKEND_NOTIFY_CA_FILE needs it.
  const https = await import("node:https");
  const bytes = new TextEncoder().encode(body);
  return await new Promise((resolve, reject) => {
    const request = https.request(url, {
      method: "POST",
      headers: { ...headers, "content-length": String(bytes.length) },
      ca,
      agent: false,
      signal,
    }, (response) => {
      resolve(response.statusCode ?? 0);
      response.destroy();
    });
    request.on("error", reject);
    request.end(bytes);
  });
}

/**
 * `sha256=` and the lower-case hex HMAC-SHA256, keyed with the secret, of
 * the timestamp, a full stop, and the body exactly as sent.
 */
export function signature(secret: Uint8Array, timestamp: string, body: string): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex");
  return `sha256=${mac}`;
}

/** The message of a failed fetch with the URL's path and query (possibly a secret) cut out. */
function redacted(err: unknown, url: URL): string {
  let text = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  if (cause && !text.includes(cause)) text += `: ${cause}`;
  text = text.split(url.href).join(url.origin);
  const tail = url.pathname + url.search;
  if (tail.length > 1) text = text.split(tail).join("/...");
  return text.replace(/\s+/g, " ").trim();
}

function backoff(attempts: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(attempts - 1, 16));
  return ceiling / 2 + Math.random() * ceiling / 2;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** The JSON object POSTed for `note` (see docs/protocol.md, "Webhook notifications"). */
export function notificationPayload(
  note: Notification,
  daemon: string,
  approveTarget: string,
): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    event: note.event,
    eventId: crypto.randomUUID(),
    at: note.at,
    daemon,
  };
  const r = note.request;
  if (r) {
    Object.assign(payload, {
      requestId: r.requestId,
      requestedIdentity: r.requestedIdentity,
      authenticatedIdentity: r.authenticatedIdentity,
      peer: r.peerLocation,
      clientId: r.clientId,
      authorizations: r.authorizations,
      lifetime: r.lifetime,
      expiresAt: r.expiresAt,
    });
  }
  if (note.event === "request.pending" && r) {
    payload.approveCommand = `condor_token_request_approve -reqid ${r.requestId} ${approveTarget}`;
  }
  if (note.rule) payload.rule = note.rule;
  if (note.actor !== undefined) payload.actor = note.actor;
  if (note.reason !== undefined) payload.reason = note.reason;
  if (note.from !== undefined) payload.from = note.from;
  payload.text = oneLine(`condor_tokend ${daemon}: ${describe(note, payload)}`);
  return payload;
}

function describe(note: Notification, payload: Record<string, unknown>): string {
  const r = note.request;
  const rule = note.rule;
  const who = note.actor === undefined ? "" : ` by ${inert(note.actor)}`;
  const about = r
    ? `token request ${r.requestId} for ${inert(r.requestedIdentity)} from ${r.peerLocation}`
    : "";
  switch (note.event) {
    case "request.pending":
      return `${about} (authenticated as ${inert(r!.authenticatedIdentity)}, client ${
        inert(r!.clientId)
      }) is waiting for approval; authorizations ${
        r!.authorizations.length > 0 ? r!.authorizations.join(",") : "any"
      }, lifetime ${
        r!.lifetime === null ? "not limited" : `${r!.lifetime} s`
      }; to approve: ${payload.approveCommand}`;
    case "request.approved":
      return `${about} was approved${who}`;
    case "request.denied":
      return `${about} was denied${who}${note.reason ? `: ${inert(note.reason)}` : ""}`;
    case "request.cancelled":
      return `${about} was cancelled by the requester`;
    case "request.expired":
      return `${about} expired (${note.from ?? "pending"})`;
    case "rule.installed":
      return `auto-approval rule ${rule!.ruleId} for ${rule!.netblock} installed${who}`;
    case "rule.removed":
      return `auto-approval rule ${rule!.ruleId} for ${rule!.netblock} removed${who}`;
    case "rule.held":
      return `auto-approval rule ${rule!.ruleId} for ${rule!.netblock} is held: ${
        rule!.limit === "total" ? "all rules together" : "it"
      } made ${rule!.max} auto-approvals within ${
        rule!.interval
      } s; matching requests now wait for a human (condor_token_request_auto_approve -resume ${
        rule!.ruleId
      } to resume now)`;
    case "rule.resumed":
      return `auto-approval rule ${rule!.ruleId} for ${rule!.netblock} approves again${who}`;
  }
}

/**
 * Text someone else chose (an identity, a client ID, a reason: anyone may
 * enqueue) as chat shows it without acting on it: an inline code span, in
 * which neither Slack nor Mattermost makes a mention (`@here`), a link or
 * formatting, with `&`, `<` and `>` escaped as Slack asks (its `<!channel>`
 * and `<url|label>` would act even in code), and a backtick, which would
 * close the span, shown as `'`. The payload's own fields keep the exact text.
 */
function inert(value: string): string {
  const escaped = value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `\`${escaped.replace(/`/g, "'")}\``;
}

/** Control characters and line breaks become spaces: `text` is one line. */
function oneLine(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]+/g, " ");
}

/** TOKEND_NOTIFY_SECRET_FILE must be a private file of this user's, not a link. */
const SECRET_FILE_RULE: TrustRule = {
  kind: "file",
  privateBits: 0o077,
  fixMode: 0o600,
  followSymlinks: false,
  checkOwner: true,
};

/** Shortest secret accepted, in bytes. */
const MIN_SECRET_BYTES = 16;

/**
 * Reads TOKEND_NOTIFY_SECRET_FILE: its bytes without trailing line breaks,
 * at least 16 of them. Refuses a link, a file others may read or write, or
 * one owned by another user, as with signing keys. Throws ConfigError.
 */
export async function readNotifySecret(path: string): Promise<Uint8Array> {
  const fail = (reason: string, cause?: unknown) =>
    new ConfigError(
      "NOTIFY_SECRET",
      `Cannot use TOKEND_NOTIFY_SECRET_FILE: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  let bytes: Uint8Array;
  try {
    const { info, problem } = await inspectTrusted(path, SECRET_FILE_RULE);
    if (info === undefined) throw fail(`${path} does not exist`);
    if (problem) throw fail(problem.reason);
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
      throw fail(`${path} is not readable by this user`, err);
    }
    throw fail(`${path}: ${err instanceof Error ? err.message : err}`, err);
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end < MIN_SECRET_BYTES) {
    throw fail(`${path} holds fewer than ${MIN_SECRET_BYTES} bytes; use a long random secret`);
  }
  return bytes.slice(0, end);
}

/**
 * The delivery target the settings describe, reading the secret and CA
 * files; undefined when TOKEND_NOTIFY_URL is not set. Throws ConfigError.
 */
export async function notifyTarget(settings: NotifySettings): Promise<NotifyTarget | undefined> {
  if (settings.url === undefined) return undefined;
  const secret = settings.secretFile === undefined
    ? undefined
    : await readNotifySecret(settings.secretFile);
  let caCerts: string[] | undefined;
  if (settings.caFile !== undefined) {
    try {
      caCerts = [await Deno.readTextFile(settings.caFile)];
    } catch (err) {
      throw new ConfigError(
        "NOTIFY_CA",
        `Cannot read TOKEND_NOTIFY_CA_FILE ${settings.caFile}: ${
          err instanceof Error ? err.message : err
        }`,
        { cause: err },
      );
    }
  }
  return {
    url: new URL(settings.url),
    secret,
    caCerts,
    timeoutMs: settings.timeout * 1000,
    retryMs: settings.retryTime * 1000,
    queueSize: settings.queueSize,
  };
}
