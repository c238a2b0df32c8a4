/**
 * The one interface every network tool uses to talk to a token-issuing
 * daemon, whatever the transport: HTTPS to condor_tokend (https_client.ts)
 * or HTCondor's own protocol to an HTCondor daemon (cedar/cedar_client.ts).
 * Tools and the request flow never know which one they hold.
 *
 * @module
 */
import type {
  AutoApproveResponse,
  CollectResponse,
  DaemonAd,
  DaemonInfo,
  EnqueueRequest,
  EnqueueResponse,
  FetchTokenRequest,
  FetchTokenResponse,
  IssuedTokenListResponse,
  RequestInfo,
  RequestStateResponse,
  RuleInfo,
  WatchResponse,
} from "../api/protocol.ts";
import { DaemonError, type DaemonTransportCode } from "../errors.ts";
import type { TrustJudgement } from "./trust.ts";

/** Which daemons to list from the collector-role daemon's directory. */
export interface DaemonQuery {
  /** Daemon name, e.g. "bird.cs.wisc.edu"; all names when absent. */
  name?: string;
  /** Daemon type, upper case, e.g. "SCHEDD"; all types when absent. */
  type?: string;
}

/** Which issued tokens to list (GET /v1/issued-tokens). */
export interface IssuedQuery {
  /** Only tokens issued to this identity. */
  identity?: string;
  /** Only tokens issued to requests (or fetches) from this netblock. */
  peer?: string;
  /** The cursor of the page to list (`next` of the page before). */
  before?: string;
  /** At most this many (the daemon caps it). */
  limit?: number;
}

/**
 * A connection to one daemon. Every call takes an optional abort signal and
 * has its own timeout; failures are DaemonError (codes in {@link DAEMON_ERRORS}
 * or the daemon's own error code). Calls marked "authenticated" present the
 * client's credential; the rest need none.
 */
export interface TokenDaemonClient extends Disposable {
  /** Where the daemon is, as shown in messages (e.g. "https://cm.example.org:9618"). */
  readonly address: string;
  /** Why the daemon is trusted; undefined until its first connection or session was judged. */
  trusted(): TrustJudgement | undefined;
  /**
   * Who the daemon said we are, when its protocol says (HTCondor's does,
   * after authentication); undefined otherwise.
   */
  authenticatedAs(): string | undefined;
  /** What the daemon is: trust domain, signing keys, name and type. */
  info(signal?: AbortSignal): Promise<DaemonInfo>;
  /** Enqueues a token request; re-sending the same secret returns the same request. */
  enqueue(request: EnqueueRequest, signal?: AbortSignal): Promise<EnqueueResponse>;
  /**
   * Waits up to `waitSeconds` for the request's outcome (long poll); the
   * token comes once. `clientId` is the one the request was made with
   * (HTCondor's daemons want it back; condor_tokend needs only the secret).
   */
  collect(
    requestId: string,
    secret: string,
    waitSeconds: number,
    signal?: AbortSignal,
    clientId?: string,
  ): Promise<CollectResponse>;
  /** Withdraws a request, proving ownership with its secret. */
  cancel(requestId: string, secret: string, signal?: AbortSignal): Promise<RequestStateResponse>;
  /** Pending requests visible to the caller, or just `requestId` (authenticated). */
  list(requestId?: string, signal?: AbortSignal): Promise<RequestInfo[]>;
  /**
   * Every pending request, once the set differs from the one `after` names
   * (at once without it) or `waitSeconds` have passed (authenticated,
   * administrators only; condor_tokend only: HTCondor daemons answer
   * UNSUPPORTED, and are polled with list() instead).
   */
  watch(
    after: string | undefined,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<WatchResponse>;
  /** Approves a pending request (authenticated). */
  approve(requestId: string, signal?: AbortSignal): Promise<RequestStateResponse>;
  /** Denies a pending request, with a reason shown to the requester (authenticated). */
  deny(requestId: string, reason?: string, signal?: AbortSignal): Promise<RequestStateResponse>;
  /** Installs an auto-approval rule (authenticated, administrators only). */
  autoApprove(
    netblock: string,
    lifetime: number,
    signal?: AbortSignal,
  ): Promise<AutoApproveResponse>;
  /** The auto-approval rules in force (authenticated, administrators only). */
  rules(signal?: AbortSignal): Promise<RuleInfo[]>;
  /** Removes an auto-approval rule; resolves to it as it was (authenticated, administrators only). */
  removeRule(ruleId: number, signal?: AbortSignal): Promise<RuleInfo>;
  /**
   * Lets a rule the circuit breaker holds approve again; resolves to it
   * (authenticated, administrators only).
   */
  resumeRule(ruleId: number, signal?: AbortSignal): Promise<RuleInfo>;
  /**
   * One page of the tokens the daemon issued, newest first (authenticated,
   * administrators only; HTCondor daemons keep no such list).
   */
  issued(query: IssuedQuery, signal?: AbortSignal): Promise<IssuedTokenListResponse>;
  /** Issues a token for the caller's own identity (authenticated). */
  fetchToken(request: FetchTokenRequest, signal?: AbortSignal): Promise<FetchTokenResponse>;
  /** Lists daemons known to this (collector-role) daemon. */
  daemons(query: DaemonQuery, signal?: AbortSignal): Promise<DaemonAd[]>;
  /** Releases the connection; the client is unusable afterwards. */
  close(): void;
  /** close(), for `using client = ...`. */
  [Symbol.dispose](): void;
}

/** Supplies the bearer credential for authenticated calls; called at most once per client. */
export type CredentialSource = (client: TokenDaemonClient) => Promise<string>;

/** Stable codes of failures that happen before or instead of a daemon's answer. */
export const DAEMON_ERRORS = {
  /** No connection: refused, reset, name not resolved, network down. */
  UNREACHABLE: "DAEMON_UNREACHABLE",
  /** Connected, but no answer within the call's timeout. */
  TIMEOUT: "DAEMON_TIMEOUT",
  /** The daemon hung up on a TLS handshake: it speaks another protocol (HTCondor's own?). */
  NOT_TLS: "DAEMON_NOT_TLS",
  /** The TLS handshake failed (certificate or protocol). */
  TLS: "DAEMON_TLS",
  /** The port answers, but not in HTCondor's protocol (TLS or plain HTTP, say). */
  NOT_CEDAR: "DAEMON_NOT_CEDAR",
  /** The port speaks neither HTTPS nor HTCondor's protocol. */
  NOT_A_DAEMON: "DAEMON_NOT_A_DAEMON",
  /** The answer is not the JSON the protocol promises. */
  BAD_RESPONSE: "DAEMON_BAD_RESPONSE",
  /** The caller aborted the call. */
  ABORTED: "DAEMON_ABORTED",
  /** No daemon of the asked name and type is listed. */
  NOT_FOUND: "DAEMON_NOT_FOUND",
  /** No credential is available for an authenticated call. */
  NO_CREDENTIALS: "DAEMON_NO_CREDENTIALS",
} as const satisfies Record<string, DaemonTransportCode>;

/**
 * Whether retrying the same call may succeed: the daemon was unreachable or
 * slow, rate-limited the caller (429), or is restarting or overloaded (502,
 * 503, 504). Refusals and 500 (a daemon bug) are final.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof DaemonError)) return false;
  if (err.code === DAEMON_ERRORS.UNREACHABLE || err.code === DAEMON_ERRORS.TIMEOUT) return true;
  return err.status === 429 || err.status === 502 || err.status === 503 || err.status === 504;
}

/** Whether the daemon refused the caller's credentials or authorization (401/403). */
export function isNotAuthorized(err: unknown): boolean {
  return err instanceof DaemonError && (err.status === 401 || err.status === 403);
}
