/**
 * The native-protocol client: {@link TokenDaemonClient} spoken to an
 * unmodified HTCondor daemon over CEDAR, the way HTCondor's own token tools
 * do. One command per TCP connection; after the first command's
 * authentication the daemon's session is resumed, so polls cost no new TLS
 * handshake.
 *
 * What HTCondor's protocol does not have is refused with one clear error:
 * withdrawing a request (it expires at the daemon), denying one (an
 * administrator lets it expire), listing or removing auto-approval rules,
 * and our long poll (we poll every second for a minute, then every 5 s, as
 * HTCondor's own tool does). A token for oneself is fetched with
 * DC_GET_SESSION_TOKEN, as HTCondor's condor_token_fetch does.
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
} from "../../api/protocol.ts";
import { DaemonError } from "../../errors.ts";
import type { CredentialSource, DaemonQuery, TokenDaemonClient } from "../daemon_client.ts";
import { DAEMON_ERRORS } from "../daemon_client.ts";
import { type Clock, realClock } from "../../clock.ts";
import { isLoopbackAddress } from "../_host_names.ts";
import { peerCertificate } from "../_peer_certificate.ts";
import { printable } from "../_printable.ts";
import type { SessionProof, TrustJudgement, TrustSession, TrustSessions } from "../trust.ts";
import { sslMethod } from "./auth_ssl.ts";
import {
  type CedarAddress,
  cedarAddressOf,
  cedarHostKey,
  certificateHost,
  sinfulOf,
} from "./cedar_address.ts";
import { type ClassAd, type ClassAdValue, integerOf, stringOf } from "./classad.ts";
import {
  type AuthMethod,
  type CedarSession,
  type DaemonSecurity,
  type MethodName,
  startCommand,
} from "./handshake.ts";
import { PacketStream } from "./packet_stream.ts";
import { fsMethod } from "./auth_fs.ts";
import { daemonAdOf, daemonQuery, readQueryReply } from "./collector_query.ts";
import { tokenMethod } from "./auth_token.ts";

/** HTCondor's command numbers for token requests and fetches. */
export const COMMANDS = {
  DC_GET_SESSION_TOKEN: 60046,
  DC_START_TOKEN_REQUEST: 60047,
  DC_FINISH_TOKEN_REQUEST: 60048,
  DC_LIST_TOKEN_REQUEST: 60049,
  DC_APPROVE_TOKEN_REQUEST: 60050,
  DC_AUTO_APPROVE_TOKEN_REQUEST: 60051,
} as const;

/** The command that asks a shared port daemon to pass the connection on. */
const SHARED_PORT_CONNECT = 75;

/** DC_FINISH_TOKEN_REQUEST's error code for a request that expired unapproved. */
const FINISH_EXPIRED = 5;

/** How long HTCondor keeps a pending request (its TOKEN_REQUEST lifetime). */
export const HTCONDOR_REQUEST_LIFETIME_SECONDS = 3600;
/**
 * How often a waiting requester asks the daemon during its first minute of
 * waiting, when an administrator at hand approves; every 5 s after that,
 * as HTCondor's own tool does from the start.
 */
export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** How long the requester polls at the fast interval. */
const FAST_POLLING_MS = 60_000;
/** The interval after that (HTCondor's own). */
const SLOW_POLL_INTERVAL_MS = 5000;
/** Per-call timeout. */
const DEFAULT_TIMEOUT_MS = 15_000;

/** Everything the native client needs. */
export interface CedarClientOptions {
  /** `cedar://host:port[?alias=name]`. */
  url: URL;
  /**
   * The run's trust sessions: the daemon's judges the certificate of the
   * SSL method, and sessions that proved the daemon otherwise (or not at all).
   */
  trust: Pick<TrustSessions, "for">;
  /** Methods to offer, in order (from SEC_CLIENT_AUTHENTICATION_METHODS). */
  methods: readonly MethodName[];
  /** Our TRUST_DOMAIN, announced as HTCondor's tools do. */
  trustDomain?: string;
  /** A token for the TOKEN method (administrators); none when absent. */
  credential?: CredentialSource;
  /**
   * Set when the address was given without a protocol and the daemon hung
   * up on TLS: a reply that is not HTCondor's protocol either then means
   * the port speaks neither.
   */
  notTls?: DaemonError;
  /** Per-call timeout, milliseconds (default 15 s). */
  timeoutMs?: number;
  /** Interval between polls in the first minute of waiting (default 1 s; 5 s after). */
  pollIntervalMs?: number;
  trace?: (message: string) => void | Promise<void>;
  /** Session expiry, request ages and the poll schedule (default the real clock). */
  clock?: Clock;
}

/** A native-protocol client for the daemon at `options.url`. */
export function cedarDaemonClient(options: CedarClientOptions): CedarDaemonClient {
  return new CedarDaemonClient(options);
}

export class CedarDaemonClient implements TokenDaemonClient {
  readonly address: string;
  #options: CedarClientOptions;
  #target: CedarAddress;
  #session: CedarSession | undefined;
  #daemon: DaemonSecurity | undefined;
  #trust: TrustSession;
  #clock: Clock;
  #now: () => number;
  #closed = new AbortController();

  constructor(options: CedarClientOptions) {
    this.#options = options;
    this.#target = cedarAddressOf(options.url);
    this.address = options.url.href.replace(/\/$/, "");
    this.#clock = options.clock ?? realClock;
    this.#now = () => this.#clock.now();
    this.#trust = options.trust.for(cedarHostKey(this.#target), certificateHost(this.#target));
  }

  trusted(): TrustJudgement | undefined {
    return this.#trust.judgement;
  }

  authenticatedAs(): string | undefined {
    return this.#session?.user || undefined;
  }

  /**
   * What the daemon says of itself: trust domain and signing keys from its
   * security ad; its name from its own collector ad (a READ query, made
   * when nothing was asked of the daemon yet).
   */
  async info(signal?: AbortSignal): Promise<DaemonInfo> {
    if (this.#daemon === undefined) {
      const own = await this.daemons({ type: "COLLECTOR" }, signal);
      this.#name = own[0]?.name;
    }
    const d = this.#daemon!;
    return {
      version: d.version ?? "",
      trustDomain: d.trustDomain ?? "",
      issuerKeys: d.issuerKeys,
      name: this.#name ?? this.#target.alias ?? this.#target.host,
      type: "COLLECTOR",
    };
  }

  #name: string | undefined;

  async enqueue(request: EnqueueRequest, signal?: AbortSignal): Promise<EnqueueResponse> {
    const ad: [string, ClassAdValue][] = [];
    if (request.authz.length > 0) ad.push(["LimitAuthorization", request.authz.join(",")]);
    if (request.lifetime !== null) ad.push(["TokenLifetime", request.lifetime]);
    ad.push(["User", request.identity], ["ClientId", await cedarClientId(request)]);
    const reply = await this.#call(COMMANDS.DC_START_TOKEN_REQUEST, ad, signal);
    if (reply.size === 0) {
      // HTCondor's answer when 1,000 requests are pending: try again later.
      const reason =
        "it holds too many pending requests (HTCondor's limit is 1,000); ask an administrator to approve or clear some";
      throw new DaemonError(
        "HTCONDOR_QUEUE_FULL",
        `Cannot request a token from the daemon at ${this.address}: ${reason}`,
        503,
        { reason },
      );
    }
    failOnError(reply, `Cannot request a token from the daemon at ${this.address}`);
    const requestId = stringOf(reply, "RequestId");
    if (requestId === undefined) {
      throw new DaemonError(
        DAEMON_ERRORS.BAD_RESPONSE,
        `Cannot request a token from the daemon at ${this.address}: its reply has no request ID`,
      );
    }
    const token = stringOf(reply, "Token") || undefined;
    const known = { clientId: await cedarClientId(request), since: this.#now() };
    this.#requests.set(requestId, known);
    return {
      requestId,
      state: token === undefined ? "pending" : "approved",
      expiresAt: this.#expiresAt(known),
      ...(token === undefined ? {} : { token }),
    };
  }

  /**
   * Requests made or polled through this client: the ClientId HTCondor wants
   * back, and since when we know of it (HTCondor does not say when a request
   * was made; its expiry is estimated from this).
   */
  #requests = new Map<string, { clientId: string; since: number }>();

  #expiresAt(request: { since: number }): number {
    return Math.floor(request.since / 1000) + HTCONDOR_REQUEST_LIFETIME_SECONDS;
  }

  /**
   * Asks for the token until it arrives or `waitSeconds` pass, one
   * DC_FINISH_TOKEN_REQUEST per poll interval (1 s in the first minute of
   * waiting, 5 s after).
   */
  async collect(
    requestId: string,
    secret: string,
    waitSeconds: number,
    signal?: AbortSignal,
    requestClientId?: string,
  ): Promise<CollectResponse> {
    let known = this.#requests.get(requestId);
    if (known === undefined) {
      if (requestClientId === undefined) {
        throw new TypeError("collect() over CEDAR needs the request's client ID");
      }
      known = {
        clientId: await cedarClientId({ clientId: requestClientId, secret }),
        since: this.#now(),
      };
      this.#requests.set(requestId, known);
    }
    const until = this.#now() + waitSeconds * 1000;
    const fast = this.#options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    for (;;) {
      const reply = await this.#call(
        COMMANDS.DC_FINISH_TOKEN_REQUEST,
        [["ClientId", known.clientId], ["RequestId", requestId]],
        signal,
      );
      if (integerOf(reply, "ErrorCode") === FINISH_EXPIRED) {
        return { requestId, state: "expired", expiresAt: Math.floor(this.#now() / 1000) };
      }
      failOnError(reply, `Cannot collect token request ${requestId} at ${this.address}`);
      const token = stringOf(reply, "Token");
      if (token) return { requestId, state: "approved", expiresAt: 0, token };
      const left = until - this.#now();
      if (left <= 0 || signal?.aborted) {
        return { requestId, state: "pending", expiresAt: this.#expiresAt(known) };
      }
      const interval = this.#now() - known.since < FAST_POLLING_MS
        ? fast
        : Math.max(fast, SLOW_POLL_INTERVAL_MS);
      await this.#clock.sleep(Math.min(interval, left), signal);
    }
  }

  /** HTCondor cannot withdraw a request: it stays pending until it expires. */
  cancel(requestId: string): Promise<RequestStateResponse> {
    return Promise.resolve({ requestId, state: "pending" });
  }

  /**
   * DC_LIST_TOKEN_REQUEST: the pending requests the daemon shows us (all
   * for an administrator, else those for our own identity). HTCondor does not
   * say when a request was made or expires: those fields are 0.
   */
  async list(requestId?: string, signal?: AbortSignal): Promise<RequestInfo[]> {
    const action = `Cannot list token requests at ${this.address}`;
    return await this.#exchange(
      COMMANDS.DC_LIST_TOKEN_REQUEST,
      requestId === undefined ? [] : [["RequestId", requestId]],
      signal,
      async (stream) => {
        const requests: RequestInfo[] = [];
        for (;;) {
          const ad = (await stream.receive()).classAd();
          if (integerOf(ad, "Owner") === 0) {
            if ((integerOf(ad, "ErrorCode") ?? 0) !== 0) failOnError(ad, action);
            return requests;
          }
          const info = requestInfoOf(ad);
          if (info === undefined) {
            throw new DaemonError(
              DAEMON_ERRORS.BAD_RESPONSE,
              `${action}: a listed request has no request ID`,
            );
          }
          this.#listedClientIds.set(info.requestId, info.clientId);
          requests.push(info);
        }
      },
    );
  }

  /** Client IDs of listed requests: HTCondor wants the request's ClientId to approve it. */
  #listedClientIds = new Map<string, string>();

  /** DC_APPROVE_TOKEN_REQUEST, with the ClientId the daemon listed for the request. */
  async approve(requestId: string, signal?: AbortSignal): Promise<RequestStateResponse> {
    let clientId = this.#listedClientIds.get(requestId);
    if (clientId === undefined) {
      await this.list(requestId, signal);
      clientId = this.#listedClientIds.get(requestId);
    }
    if (clientId === undefined) {
      const reason = "the daemon lists no pending request with that ID that we may see";
      throw new DaemonError(
        "HTCONDOR_ERROR_5",
        `Cannot approve request ${requestId} at ${this.address}: ${reason}`,
        404,
        { reason },
      );
    }
    const reply = await this.#call(
      COMMANDS.DC_APPROVE_TOKEN_REQUEST,
      [["RequestId", requestId], ["ClientId", clientId]],
      signal,
    );
    if (integerOf(reply, "ErrorCode") === undefined) {
      throw new DaemonError(
        DAEMON_ERRORS.BAD_RESPONSE,
        `Cannot approve request ${requestId} at ${this.address}: the daemon did not return a result`,
      );
    }
    failOnError(reply, `Cannot approve request ${requestId} at ${this.address}`, approveStatus);
    return { requestId, state: "approved" };
  }

  deny(requestId: string): Promise<RequestStateResponse> {
    return Promise.reject(
      new DaemonError(
        "UNSUPPORTED",
        `Cannot deny request ${requestId} at ${this.address}: HTCondor daemons have no command to deny a request; it expires by itself (within ${
          HTCONDOR_REQUEST_LIFETIME_SECONDS / 60
        } minutes) unless approved`,
      ),
    );
  }

  /**
   * DC_AUTO_APPROVE_TOKEN_REQUEST. HTCondor caps the lifetime
   * (TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME) without saying so, and does
   * not say which pending requests the rule approved.
   */
  async autoApprove(
    netblock: string,
    lifetime: number,
    signal?: AbortSignal,
  ): Promise<AutoApproveResponse> {
    const reply = await this.#call(
      COMMANDS.DC_AUTO_APPROVE_TOKEN_REQUEST,
      [["Subnet", netblock], ["Lifetime", lifetime]],
      signal,
    );
    failOnError(reply, `Cannot install auto-approval rule at ${this.address}`);
    return {
      netblock,
      lifetime,
      expiresAt: Math.floor(this.#now() / 1000) + lifetime,
      approved: [],
    };
  }

  /** HTCondor keeps rules in memory, with no command to list them. */
  rules(): Promise<RuleInfo[]> {
    return Promise.reject(noRuleCommands(this.address, "list auto-approval rules"));
  }

  /** HTCondor keeps rules in memory, with no command to remove one. */
  removeRule(ruleId: number): Promise<RuleInfo> {
    return Promise.reject(noRuleCommands(this.address, `remove auto-approval rule ${ruleId}`));
  }

  /** HTCondor has no circuit breaker on its rules, so nothing to resume. */
  resumeRule(ruleId: number): Promise<RuleInfo> {
    return Promise.reject(
      new DaemonError(
        "UNSUPPORTED",
        `Cannot resume auto-approval rule ${ruleId} at ${this.address}: HTCondor daemons have ` +
          `no circuit breaker on auto-approval, and no command to resume a rule`,
      ),
    );
  }

  /** HTCondor daemons have no long poll for requests: the tool polls list() instead. */
  watch(): Promise<WatchResponse> {
    return Promise.reject(unsupported(this.address, "watch token requests"));
  }

  /** HTCondor records issued tokens only in its daemons' logs. */
  issued(): Promise<IssuedTokenListResponse> {
    return Promise.reject(
      new DaemonError(
        "UNSUPPORTED",
        `Cannot list issued tokens at ${this.address}: HTCondor daemons do not keep a list of ` +
          `the tokens they issue (each is logged, with its jti, in the daemon's log when its debug level includes D_AUDIT)`,
      ),
    );
  }

  /**
   * DC_GET_SESSION_TOKEN, as HTCondor's `Daemon::getSessionToken` sends it:
   * `LimitAuthorization` (comma-separated) when authorizations are asked
   * for, `TokenLifetime` when a positive lifetime is, `RequestedKey` when a
   * key is. The daemon signs a token for the identity this session
   * authenticated as, narrowed to the session's own limits; its reply holds
   * `Token`, or `ErrorString` and `ErrorCode`.
   */
  async fetchToken(request: FetchTokenRequest, signal?: AbortSignal): Promise<FetchTokenResponse> {
    const ad: [string, ClassAdValue][] = [];
    if (request.authz.length > 0) ad.push(["LimitAuthorization", request.authz.join(",")]);
    if (request.lifetime !== null && request.lifetime > 0) {
      ad.push(["TokenLifetime", request.lifetime]);
    }
    if (request.key !== undefined && request.key !== "") ad.push(["RequestedKey", request.key]);
    const reply = await this.#call(COMMANDS.DC_GET_SESSION_TOKEN, ad, signal);
    const action = `Cannot fetch a token from the daemon at ${this.address}`;
    failOnError(reply, action, fetchStatus);
    const token = stringOf(reply, "Token");
    if (!token) {
      throw new DaemonError(
        DAEMON_ERRORS.BAD_RESPONSE,
        `${action}: its reply has neither a token nor an error`,
      );
    }
    return { token };
  }

  /** The daemons the collector lists (a READ query, no authentication needed). */
  async daemons(query: DaemonQuery, signal?: AbortSignal): Promise<DaemonAd[]> {
    const { command, ad } = daemonQuery(query);
    const ads = await this.#exchange(
      command,
      ad,
      signal,
      async (stream) => readQueryReply(await stream.receive()),
    );
    return ads.map(daemonAdOf).filter((d): d is DaemonAd => d !== undefined);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  close(): void {
    this.#closed.abort();
  }

  /** Runs one command whose reply is one ad. */
  async #call(
    command: number,
    payload: [string, ClassAdValue][],
    signal?: AbortSignal,
  ): Promise<ClassAd> {
    return await this.#exchange(
      command,
      payload,
      signal,
      async (stream) => (await stream.receive()).classAd(),
    );
  }

  /**
   * Runs one command: connect, start it (resuming our session when the
   * daemon allows the command in it), send `payload`, read the reply with
   * `read`. A session the daemon forgot is dropped and the command started
   * afresh once.
   */
  async #exchange<T>(
    command: number,
    payload: [string, ClassAdValue][],
    signal: AbortSignal | undefined,
    read: (stream: PacketStream) => Promise<T>,
  ): Promise<T> {
    const name = commandName(command);
    for (let attempt = 0;; attempt++) {
      const session = this.#usableSession(command);
      // One deadline for the whole call, connecting included.
      const stop = AbortSignal.any([
        AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        this.#closed.signal,
        ...(signal ? [signal] : []),
      ]);
      let stream: PacketStream | undefined;
      const onStop = () => stream?.close();
      stop.addEventListener("abort", onStop, { once: true });
      try {
        stream = await this.#dial(stop);
        const started = await startCommand(stream, {
          command,
          commandName: name,
          connectSinful: sinfulOf(this.#target),
          methods: this.#methods(stream.remoteAddress),
          trustDomain: this.#options.trustDomain,
          resume: session,
          now: this.#now,
          trace: this.#options.trace,
        });
        this.#daemon = started.session.daemon;
        // Nothing of the command leaves before the daemon has proved itself.
        if (!started.resumed) await this.#judgeSession(started.method, stream.remoteAddress);
        this.#session = started.session;
        await stream.send(stream.message().classAd(payload));
        return await read(stream);
      } catch (err) {
        if (this.#options.notTls && isNotCedar(err)) throw this.#neither(err);
        if (err instanceof DaemonError && err.code === "SESSION_UNKNOWN" && attempt === 0) {
          this.#session = undefined;
          continue;
        }
        if (stop.aborted && err instanceof DaemonError) throw this.#stopped(stop, name, err);
        throw err;
      } finally {
        stop.removeEventListener("abort", onStop);
        stream?.close();
      }
    }
  }

  #stopped(stop: AbortSignal, name: string, cause: unknown): DaemonError {
    const reason = stop.reason;
    if (reason instanceof DOMException && reason.name === "TimeoutError") {
      return new DaemonError(
        DAEMON_ERRORS.TIMEOUT,
        `Cannot run ${name} at ${this.address}: no answer within ${
          (this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000
        } s`,
        undefined,
        { cause },
      );
    }
    return new DaemonError(DAEMON_ERRORS.ABORTED, `Cannot run ${name}: interrupted`, undefined, {
      cause,
    });
  }

  /**
   * Judges a new session: one the SSL method authenticated was judged by its
   * certificate already; any other is judged by how it was proven. Throws
   * TrustError.
   */
  async #judgeSession(method: MethodName | undefined, peer: string | undefined): Promise<void> {
    if (method === "SSL") return;
    const proof: SessionProof = method === "TOKEN" ? "token" : method === "FS" ? "fs" : "none";
    await this.#trust.judgeSession(proof, peerHost(peer));
  }

  /** The port answered neither TLS nor HTCondor's protocol. */
  #neither(err: DaemonError): DaemonError {
    return new DaemonError(
      DAEMON_ERRORS.NOT_A_DAEMON,
      `Cannot talk to ${this.#target.host}:${this.#target.port}: it speaks neither HTTPS (condor_tokend) nor HTCondor's protocol; is this the daemon's port?`,
      undefined,
      { cause: err },
    );
  }

  #usableSession(command: number): CedarSession | undefined {
    const s = this.#session;
    if (s === undefined || s.expiresAt <= this.#now() || !s.validCommands.has(command)) {
      return undefined;
    }
    return s;
  }

  async #dial(signal: AbortSignal): Promise<PacketStream> {
    const { host, port } = this.#target;
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: host, port, signal });
    } catch (err) {
      throw dialError(this.address, err);
    }
    conn.setNoDelay(true);
    const remote = conn.remoteAddr;
    const stream = new PacketStream(conn, {
      peer: cedarHostKey(this.#target),
      remoteAddress: remote.hostname.includes(":")
        ? `[${remote.hostname}]:${remote.port}`
        : `${remote.hostname}:${remote.port}`,
    });
    const id = this.#target.sharedPortId;
    if (id !== undefined) {
      // The shared port daemon hands the connection to the daemon named `id`.
      await stream.send(
        stream.message().int(SHARED_PORT_CONNECT).string(id).string("condor_token").int(-1).int(0),
      );
      stream.resetTranscript();
    }
    return stream;
  }

  /** The methods to offer on a connection to `peer` (`ip:port` as connected). */
  #methods(peer: string | undefined): AuthMethod[] {
    const out: AuthMethod[] = [];
    for (const name of this.#options.methods) {
      if (name === "SSL") out.push(this.#ssl());
      // FS proves only us, and only to a daemon on this host: never offered elsewhere.
      if (name === "FS" && isLoopbackAddress(peerHost(peer))) out.push(fsMethod());
      if (name === "TOKEN" && this.#options.credential) {
        const credential = this.#options.credential;
        out.push(tokenMethod({
          token: async (daemon) => {
            this.#daemon = daemon;
            return await credential(this);
          },
        }));
      }
    }
    return out;
  }

  #ssl(): AuthMethod {
    const host = certificateHost(this.#target);
    return sslMethod({
      hostName: host,
      caPem: this.#trust.policy.caPem,
      verify: async (seen) => {
        const cert = await peerCertificate({
          raw: seen.raw,
          names: seen.subjectAltName,
          notAfter: seen.validTo,
          authorized: seen.authorized,
          authorizationError: seen.authorizationError,
          chain: seen.chain,
        });
        // Judged once per run; later sessions must show the same certificate.
        await this.#trust.judge(cert);
      },
    });
  }
}

/** The address part of `ip:port` or `[ip]:port`. */
function peerHost(peer: string | undefined): string {
  if (peer === undefined) return "";
  const m = /^\[(.*)\]:\d+$/.exec(peer) ?? /^(.*):\d+$/.exec(peer);
  return m ? m[1] : peer;
}

function isNotCedar(err: unknown): err is DaemonError {
  return err instanceof DaemonError && err.code === DAEMON_ERRORS.NOT_CEDAR;
}

/**
 * The ClientId sent to HTCondor. HTCondor's only proof that a poller owns a
 * request is this string, and its own tool's `host-NNN` has a thousand
 * values; we append 64 bits derived from the request's secret, so knowing
 * the request ID is not enough to collect the token (those who may list the
 * request still see it: HTCondor shows it to them). A requester resumed from
 * -state derives the same string again.
 */
export async function cedarClientId(
  request: Pick<EnqueueRequest, "clientId" | "secret">,
): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(request.secret)),
  );
  const tag = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${request.clientId}-${tag}`;
}

/** A listed request as {@link RequestInfo}; undefined without a request ID. */
function requestInfoOf(ad: ClassAd): RequestInfo | undefined {
  const requestId = stringOf(ad, "RequestId");
  if (!requestId) return undefined;
  const limits = stringOf(ad, "LimitAuthorization") ?? "";
  return {
    requestId,
    requestedIdentity: stringOf(ad, "RequestedIdentity") ?? "",
    authenticatedIdentity: stringOf(ad, "AuthenticatedIdentity") ?? "",
    peerLocation: stringOf(ad, "PeerLocation") ?? "",
    clientId: stringOf(ad, "ClientId") ?? "",
    authorizations: limits.split(/[\s,]+/).filter(Boolean),
    lifetime: integerOf(ad, "TokenLifetime") ?? null,
    state: "pending",
    requestedAt: 0,
    expiresAt: 0,
  };
}

/**
 * Throws the daemon's own error when the reply carries one, worded as
 * HTCondor's tools show it (`DAEMON:<code>:<text>`, also the error's
 * `reason`). `action` is "Cannot <action> at <address>". `statusOf` gives the
 * HTTP-like status that picks the exit code (403 for refusals, 404 for an
 * unknown request, 409 for one no longer pending).
 */
function failOnError(
  reply: ClassAd,
  action: string,
  statusOf: (code: number, text: string) => number | undefined = () => undefined,
): void {
  const code = integerOf(reply, "ErrorCode");
  const text = stringOf(reply, "ErrorString");
  if ((code === undefined || code === 0) && text === undefined) return;
  const shown = printable(text ?? "Unknown error.");
  const reason = `DAEMON:${code ?? -1}:${shown}`;
  throw new DaemonError(
    `HTCONDOR_ERROR_${code ?? -1}`,
    `${action}: ${reason}`,
    statusOf(code ?? -1, shown),
    {
      reason,
    },
  );
}

/** Statuses of DC_APPROVE_TOKEN_REQUEST's error codes. */
function approveStatus(code: number, text: string): number | undefined {
  if (code === 5) return /state/i.test(text) ? 409 : 404;
  if (code === 6 || code === 7 || code === 8) return 403;
  return undefined;
}

/**
 * Statuses of DC_GET_SESSION_TOKEN's error codes: 2 the session has no
 * identity, 3 the key may not be used (or the session's token expired), 4 none
 * of the authorizations asked for is the session's, 44 fetching is
 * disabled (SEC_ENABLE_TOKEN_FETCH); 1 (no signing key) is the daemon's
 * own failure.
 */
function fetchStatus(code: number): number | undefined {
  if (code === 2) return 401;
  if (code === 3 || code === 4 || code === 44) return 403;
  return undefined;
}

/** The refusal of a rule command HTCondor's daemons do not have. */
function noRuleCommands(address: string, what: string): DaemonError {
  return new DaemonError(
    "UNSUPPORTED",
    `Cannot ${what} at ${address}: HTCondor daemons keep auto-approval rules in memory and ` +
      `have no command to list or remove them (a condor_reconfig of the daemon drops them all)`,
  );
}

function unsupported(address: string, what: string): DaemonError {
  return new DaemonError(
    "UNSUPPORTED",
    `Cannot ${what} at ${address}: not available over HTCondor's protocol in this tool`,
  );
}

function commandName(command: number): string {
  for (const [name, value] of Object.entries(COMMANDS)) if (value === command) return name;
  return command < 1000 ? `collector query ${command}` : `command ${command}`;
}

function dialError(address: string, err: unknown): DaemonError {
  const reason = err instanceof Deno.errors.ConnectionRefused
    ? "connection refused (is the daemon running on that port?)"
    : err instanceof Deno.errors.NotFound
    ? "host name not found"
    : err instanceof Deno.errors.TimedOut
    ? "connection timed out"
    : err instanceof Deno.errors.ConnectionReset
    ? "connection reset"
    : err instanceof Deno.errors.NetworkUnreachable
    ? "no route to the host"
    : undefined;
  if (reason === undefined) {
    if (err instanceof DOMException) {
      // Aborted: by the caller, or by the call's deadline (the caller tells which).
      return new DaemonError(DAEMON_ERRORS.ABORTED, `Cannot connect to ${address}: interrupted`);
    }
    throw err;
  }
  return new DaemonError(
    DAEMON_ERRORS.UNREACHABLE,
    `Cannot connect to ${address}: ${reason}`,
    undefined,
    { cause: err },
  );
}
