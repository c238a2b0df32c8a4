/**
 * The requester's path, top to bottom: enqueue a token request, wait for the
 * administrator's decision with long polls, and return the outcome. Network
 * failures and daemon restarts are retried with bounded exponential backoff
 * and full jitter (retry.ts); the same request (id and secret) continues
 * afterwards.
 * Progress is reported as events; nothing here writes to a terminal.
 *
 * @module
 */
import { MAX_WAIT_SECONDS } from "../api/protocol.ts";
import { DaemonError } from "../errors.ts";
import { checkIssuedToken } from "../token/issued_token.ts";
import { DAEMON_ERRORS, type TokenDaemonClient } from "./daemon_client.ts";
import { type Clock, realClock } from "../clock.ts";
import { backoffDelay, DEFAULT_RETRY, type RetryPolicy, withRetries } from "./retry.ts";

/** What is asked for. */
export interface TokenRequestSpec {
  /** `user@domain`. */
  identity: string;
  /** Authorization levels; empty for an unrestricted token. */
  authz: string[];
  /** Token lifetime in seconds, null for none requested. */
  lifetime: number | null;
  /** Human-readable client id: host name plus a short random number. */
  clientId: string;
}

export { backoffDelay, DEFAULT_RETRY, type RetryPolicy };

/** Long-poll length asked of the daemon, in seconds (below proxies' usual idle limits). */
export const DEFAULT_POLL_SECONDS = 25;

/** How long a best-effort cancel may take before the requester gives up on it. */
const CANCEL_TIMEOUT_MS = 3_000;

/** Progress of a request, for the tool to render. */
export type RequestEvent =
  /** The daemon accepted the request (the administrator needs `requestId`). */
  | { type: "enqueued"; requestId: string; expiresAt: number; autoApproved: boolean }
  /** Waiting resumed on an existing request. */
  | { type: "resumed"; requestId: string }
  /** Still pending after a long poll. */
  | { type: "waiting"; requestId: string; expiresAt: number; elapsedMs: number }
  /** A call failed in a way worth retrying; the next try is in `delayMs`. */
  | {
    type: "retrying";
    requestId: string | undefined;
    error: DaemonError;
    attempt: number;
    delayMs: number;
  }
  /** The daemon answered again after failures. */
  | { type: "reconnected"; requestId: string | undefined; downMs: number }
  /** The request is being withdrawn at the daemon. */
  | { type: "cancelling"; requestId: string; why: "signal" | "timeout" };

/** How a request ended. */
export type RequestOutcome =
  | { outcome: "approved"; requestId: string; token: string; autoApproved: boolean }
  | { outcome: "denied"; requestId: string; reason: string | undefined }
  | { outcome: "expired"; requestId: string }
  /** Cancelled at the daemon by someone else (the requester's own cancel is "interrupted"). */
  | { outcome: "cancelled"; requestId: string }
  /** The deadline passed while the request was pending. */
  | { outcome: "timed_out"; requestId: string; withdrawn: boolean }
  /** The signal fired; the request (if any) was withdrawn when `withdrawn`. */
  | {
    outcome: "interrupted";
    requestId: string | undefined;
    signal: string;
    withdrawn: boolean;
  };

/** Everything the flow needs. */
export interface RequestFlowOptions {
  client: TokenDaemonClient;
  request: TokenRequestSpec;
  /** The requester secret (see {@link newRequesterSecret}); needed to collect and cancel. */
  secret: string;
  /** Continue waiting on this existing request instead of enqueuing. */
  requestId?: string;
  /** Give up waiting at this time, epoch milliseconds. */
  deadline: number;
  /** Withdraw the request when the deadline passes (when nobody could collect it later). */
  cancelOnTimeout: boolean;
  /** Aborted (reason "SIGINT"/"SIGTERM") to stop and withdraw the request. */
  signal: AbortSignal;
  onEvent?: (event: RequestEvent) => void | Promise<void>;
  clock?: Clock;
  retry?: RetryPolicy;
  random?: () => number;
  /** Long-poll length, seconds (default 25, at most the protocol's maximum). */
  pollSeconds?: number;
  /**
   * The pool's trust domain, which an issued token's `iss` must name; asked
   * only when a token arrives. Undefined when it is not known.
   */
  trustDomain?: () => Promise<string | undefined>;
}

/** 32 random bytes, base64url: the secret that proves a request is ours. */
export function newRequesterSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/**
 * Runs one token request to its outcome. Resolves to the outcome (approved,
 * denied, expired, cancelled, timed out, interrupted); throws DaemonError when
 * the daemon refuses the request or stays unreachable until the deadline,
 * and TokenError when the token it hands over is not the one asked for
 * (see {@link checkIssuedToken}): such a token is never returned.
 * Needs --allow-net to the daemon.
 */
export async function requestToken(options: RequestFlowOptions): Promise<RequestOutcome> {
  const clock = options.clock ?? realClock;
  const emit = async (event: RequestEvent) => await options.onEvent?.(event);
  const started = clock.now();

  let requestId = options.requestId;
  if (requestId === undefined) {
    // Not aborted by the signal: a half-finished enqueue would leave a
    // request we could not name to cancel. Enqueue is idempotent per secret.
    const reply = await retried(
      options,
      clock,
      undefined,
      () => options.client.enqueue({ ...options.request, secret: options.secret }),
    );
    if (reply === undefined) return interrupted(options, undefined, false);
    requestId = reply.requestId;
    // An approved token is checked before anything is said of it.
    if (reply.token !== undefined) await checkToken(options, reply.token);
    await emit({
      type: "enqueued",
      requestId,
      expiresAt: reply.expiresAt,
      autoApproved: reply.token !== undefined,
    });
    if (reply.token !== undefined) {
      return { outcome: "approved", requestId, token: reply.token, autoApproved: true };
    }
    const decided = decidedOutcome(requestId, reply.state, undefined, undefined);
    if (decided) return decided;
  } else {
    await emit({ type: "resumed", requestId });
  }

  const pollSeconds = Math.min(options.pollSeconds ?? DEFAULT_POLL_SECONDS, MAX_WAIT_SECONDS);
  const id = requestId;
  while (true) {
    if (options.signal.aborted) return await withdrawOnSignal(options, id);
    const remainingMs = options.deadline - clock.now();
    if (remainingMs <= 0) return await timedOut(options, id, emit);
    const waitSeconds = Math.min(pollSeconds, Math.ceil(remainingMs / 1000));
    // After a failure, first check back without waiting, so that a daemon
    // that came back is noticed (and reported) at once.
    const reply = await retried(
      options,
      clock,
      id,
      (attempt) =>
        options.client.collect(
          id,
          options.secret,
          attempt === 0 ? waitSeconds : 0,
          options.signal,
          options.request.clientId,
        ),
    );
    if (reply === undefined) return await withdrawOnSignal(options, id);
    const decided = decidedOutcome(id, reply.state, reply.token, reply.reason);
    if (decided?.outcome === "approved") await checkToken(options, decided.token);
    if (decided) return decided;
    await emit({
      type: "waiting",
      requestId: id,
      expiresAt: reply.expiresAt,
      elapsedMs: clock.now() - started,
    });
  }
}

/** Throws TokenError unless `token` is what the request asked for. */
async function checkToken(options: RequestFlowOptions, token: string): Promise<void> {
  checkIssuedToken(token, {
    ...options.request,
    trustDomain: await options.trustDomain?.(),
  });
}

/** The outcome a reply's state means, or undefined while still pending. */
function decidedOutcome(
  requestId: string,
  state: string,
  token: string | undefined,
  reason: string | undefined,
): RequestOutcome | undefined {
  if (token !== undefined) return { outcome: "approved", requestId, token, autoApproved: false };
  switch (state) {
    case "pending":
      return undefined;
    case "denied":
      return { outcome: "denied", requestId, reason };
    case "expired":
      return { outcome: "expired", requestId };
    case "cancelled":
      return { outcome: "cancelled", requestId };
    case "collected":
      throw new DaemonError(
        "REQUEST_ALREADY_COLLECTED",
        `Cannot collect token request ${requestId}: its token was already collected, by an earlier run or another client; request a new token`,
      );
    default:
      // "approved" without a token breaks the protocol's promise.
      throw new DaemonError(
        DAEMON_ERRORS.BAD_RESPONSE,
        `Cannot collect token request ${requestId}: the daemon says "${state}" but sent no token`,
      );
  }
}

/**
 * Runs `call` with {@link withRetries}: transient failures are retried until
 * the deadline, and reported as "retrying" and "reconnected" events.
 * Resolves to undefined when the signal fires.
 */
async function retried<T>(
  options: RequestFlowOptions,
  clock: Clock,
  requestId: string | undefined,
  call: (attempt: number) => Promise<T>,
): Promise<T | undefined> {
  return await withRetries(call, {
    deadline: options.deadline,
    signal: options.signal,
    clock,
    retry: options.retry,
    random: options.random,
    onRetry: (error, attempt, delayMs) =>
      options.onEvent?.({ type: "retrying", requestId, error, attempt, delayMs }),
    onRecovered: (downMs) => options.onEvent?.({ type: "reconnected", requestId, downMs }),
  });
}

async function timedOut(
  options: RequestFlowOptions,
  requestId: string,
  emit: (event: RequestEvent) => Promise<void>,
): Promise<RequestOutcome> {
  if (!options.cancelOnTimeout) return { outcome: "timed_out", requestId, withdrawn: false };
  await emit({ type: "cancelling", requestId, why: "timeout" });
  return { outcome: "timed_out", requestId, withdrawn: await bestEffortCancel(options, requestId) };
}

async function withdrawOnSignal(
  options: RequestFlowOptions,
  requestId: string,
): Promise<RequestOutcome> {
  await options.onEvent?.({ type: "cancelling", requestId, why: "signal" });
  return interrupted(options, requestId, await bestEffortCancel(options, requestId));
}

function interrupted(
  options: RequestFlowOptions,
  requestId: string | undefined,
  withdrawn: boolean,
): RequestOutcome {
  return {
    outcome: "interrupted",
    requestId,
    signal: String(options.signal.reason ?? "SIGINT"),
    withdrawn,
  };
}

/** Cancels at the daemon within a short time; false when that did not work. */
async function bestEffortCancel(options: RequestFlowOptions, requestId: string): Promise<boolean> {
  try {
    const reply = await options.client.cancel(
      requestId,
      options.secret,
      AbortSignal.timeout(CANCEL_TIMEOUT_MS),
    );
    return reply.state === "cancelled";
  } catch (err) {
    if (err instanceof DaemonError) return false;
    throw err;
  }
}
