/**
 * One daemon client over several addresses of daemons that share one state
 * (condor_tokend on one PostgreSQL database, listed together in
 * COLLECTOR_HOST or -pool): calls go to the current daemon, and when it
 * cannot be reached any more (refused, reset, timed out) the call is made
 * again at the next address, in the order given, and the client stays
 * there. A requester keeps its request: the same request id and secret are
 * good at every daemon of the pool.
 *
 * Failing over never skips a trust decision: each address is connected
 * through the same `connect` as the first (one TrustSessions per run, each
 * daemon judged by its own certificate), and a daemon that is not trusted
 * ends the call with its TrustError rather than being passed over.
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
import { DaemonError } from "../errors.ts";
import {
  DAEMON_ERRORS,
  type DaemonQuery,
  type IssuedQuery,
  type TokenDaemonClient,
} from "./daemon_client.ts";
import { displayAddress } from "./locate.ts";
import type { TrustJudgement } from "./trust.ts";

/** What a failover client needs. */
export interface FailoverOptions {
  /** Every address of the pool's daemons, in the order to try them. */
  addresses: readonly URL[];
  /** The daemon connected to already, and its address (one of `addresses`). */
  first: { client: TokenDaemonClient; url: URL };
  /** Opens a trusted client for an address (trust.ts decides; may throw TrustError). */
  connect: (url: URL) => Promise<TokenDaemonClient>;
  /** Told of each move to another daemon. */
  onFailover?: (event: { from: string; to: string; error: DaemonError }) => void | Promise<void>;
}

/** Whether `err` says the daemon is gone (not what it answered). */
export function isUnreachable(err: unknown): err is DaemonError {
  return err instanceof DaemonError &&
    (err.code === DAEMON_ERRORS.UNREACHABLE || err.code === DAEMON_ERRORS.TIMEOUT);
}

/**
 * A client that moves to the next address when its daemon cannot be
 * reached. With one address it behaves as that address's client.
 */
export function failoverClient(options: FailoverOptions): TokenDaemonClient & {
  /** The address of the daemon calls go to now. */
  readonly url: URL;
} {
  const addresses = [...options.addresses];
  let current = options.first;
  let closed = false;

  /** Runs `call` on the current daemon; on UNREACHABLE, once at each other address in turn. */
  async function run<T>(call: (client: TokenDaemonClient) => Promise<T>): Promise<T> {
    try {
      return await call(current.client);
    } catch (err) {
      if (!isUnreachable(err) || addresses.length < 2 || closed) throw err;
      const start = Math.max(0, addresses.findIndex((u) => u.href === current.url.href));
      let last: DaemonError = err;
      for (let step = 1; step < addresses.length; step++) {
        const url = addresses[(start + step) % addresses.length];
        let client: TokenDaemonClient;
        try {
          client = await options.connect(url);
        } catch (connectErr) {
          if (!isUnreachable(connectErr)) throw connectErr;
          last = connectErr;
          continue;
        }
        const from = current.client.address;
        current.client.close();
        current = { client, url };
        await options.onFailover?.({ from, to: client.address, error: last });
        try {
          return await call(client);
        } catch (callErr) {
          if (!isUnreachable(callErr)) throw callErr;
          last = callErr;
        }
      }
      const tried = `(tried every daemon of the pool: ${
        addresses.map((u) => displayAddress(u)).join(", ")
      })`;
      throw new DaemonError(last.code, `${last.message} ${tried}`, last.status, {
        cause: last,
        reason: `${last.reason} ${tried}`,
      });
    }
  }

  return {
    get url() {
      return current.url;
    },
    get address() {
      return current.client.address;
    },
    trusted: (): TrustJudgement | undefined => current.client.trusted(),
    authenticatedAs: () => current.client.authenticatedAs(),
    info: (signal?: AbortSignal): Promise<DaemonInfo> => run((c) => c.info(signal)),
    enqueue: (request: EnqueueRequest, signal?: AbortSignal): Promise<EnqueueResponse> =>
      run((c) => c.enqueue(request, signal)),
    collect: (
      requestId: string,
      secret: string,
      waitSeconds: number,
      signal?: AbortSignal,
      clientId?: string,
    ): Promise<CollectResponse> =>
      run((c) => c.collect(requestId, secret, waitSeconds, signal, clientId)),
    cancel: (requestId: string, secret: string, signal?: AbortSignal) =>
      run((c) => c.cancel(requestId, secret, signal)),
    list: (requestId?: string, signal?: AbortSignal): Promise<RequestInfo[]> =>
      run((c) => c.list(requestId, signal)),
    approve: (requestId: string, signal?: AbortSignal): Promise<RequestStateResponse> =>
      run((c) => c.approve(requestId, signal)),
    deny: (requestId: string, reason?: string, signal?: AbortSignal) =>
      run((c) => c.deny(requestId, reason, signal)),
    autoApprove: (
      netblock: string,
      lifetime: number,
      signal?: AbortSignal,
    ): Promise<AutoApproveResponse> => run((c) => c.autoApprove(netblock, lifetime, signal)),
    rules: (signal?: AbortSignal): Promise<RuleInfo[]> => run((c) => c.rules(signal)),
    watch: (after: string | undefined, waitSeconds: number, signal?: AbortSignal) =>
      run((c): Promise<WatchResponse> => c.watch(after, waitSeconds, signal)),
    issued: (query: IssuedQuery, signal?: AbortSignal): Promise<IssuedTokenListResponse> =>
      run((c) => c.issued(query, signal)),
    removeRule: (ruleId: number, signal?: AbortSignal): Promise<RuleInfo> =>
      run((c) => c.removeRule(ruleId, signal)),
    resumeRule: (ruleId: number, signal?: AbortSignal): Promise<RuleInfo> =>
      run((c) => c.resumeRule(ruleId, signal)),
    fetchToken: (request: FetchTokenRequest, signal?: AbortSignal): Promise<FetchTokenResponse> =>
      run((c) => c.fetchToken(request, signal)),
    daemons: (query: DaemonQuery, signal?: AbortSignal): Promise<DaemonAd[]> =>
      run((c) => c.daemons(query, signal)),
    close() {
      closed = true;
      current.client.close();
    },
    [Symbol.dispose]() {
      this.close();
    },
  };
}
