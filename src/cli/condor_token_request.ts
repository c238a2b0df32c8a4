/**
 * condor_token_request: ask a daemon for a token, wait for an administrator
 * to approve it, and deliver it. Reads straight down: parse options -> load
 * configuration -> locate and trust the daemon -> enqueue -> wait -> deliver.
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { hiddenCharacter, hiddenCharacterReason } from "../api/hidden_character.ts";
import { CondorError, DaemonError, TokenError, UsageError } from "../errors.ts";
import { isFirstContactFailure } from "../client/connect.ts";
import { withRetries } from "../client/retry.ts";
import type { TokenDaemonClient } from "../client/daemon_client.ts";
import { parseDaemonAddress } from "../client/locate.ts";
import { prepareEcdhKeyPair } from "../client/cedar/session_key.ts";
import type { TrustJudgement } from "../client/trust.ts";
import type { Clock } from "../clock.ts";
import {
  newRequesterSecret,
  type RequestEvent,
  type RequestOutcome,
  requestToken,
  type RetryPolicy,
} from "../client/request_flow.ts";
import {
  forgetSavedRequest,
  readSavedRequest,
  type SavedRequest,
  saveRequest,
} from "../client/saved_request.ts";
import type { Authorization } from "../token/authz.ts";
import { decodeToken } from "../token/idtoken.ts";
import { assertSecretsCanBePrivate } from "../token/private_file.ts";
import { prepareTokenDestination, storeToken } from "../token/token_file.ts";
import { tokenDirectory, toolConfig } from "./_config.ts";
import { parseOptions, parseSeconds, single } from "./_options.ts";
import { targetExitCode, withJsonFailure } from "./_exit_status.ts";
import { openSession } from "./_session.ts";
import {
  parseTarget,
  TARGET_OPTIONS,
  type TargetOptions,
  targetOptions,
} from "./_target_options.ts";
import { type DebugLog, defineTool, OTHER_OPTIONS, type Tool } from "./_tool.ts";
import { CONFIGURATION, TRUST } from "./_common_doc.ts";
import type { ToolDoc } from "./_doc.ts";
import { parseAuthzList, parseDestination, parseLifetime } from "./_token_options.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { duration, StatusLine } from "./_status_line.ts";
import { jsonText } from "./_json_text.ts";

const NAME = "condor_token_request";

/** Default `-timeout`: the manual page's one hour. */
export const DEFAULT_TIMEOUT_SECONDS = 3600;

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "request a token from a daemon and wait for approval",
  synopsis: [
    "[-identity USER@DOMAIN] [-authz AUTHZ ...] [-lifetime SECONDS] [-pool HOST[:PORT]] " +
    "[-name NAME] [-type TYPE] [-token NAME | -file PATH] [-timeout SECONDS] " +
    "[-trust sha256:...] [-state FILE] [-json] [-debug]",
    "-help | -version",
  ],
  description: [
    "Requests a token from a daemon (the pool's collector by default) and waits until an " +
    "administrator approves the request, at most an hour. It needs no identity at the " +
    "daemon: that is the point of the tool. The request ID to give the administrator is " +
    "printed on stderr; the token is printed on stdout, or stored with -token or -file.",
    "The daemon may be condor_tokend (HTTPS) or an unmodified HTCondor daemon (HTCondor's " +
    "own protocol, anonymous over SSL unless a credential is at hand); the tool finds out " +
    "which. Waiting on condor_tokend is a long poll: an approval arrives within " +
    "milliseconds. Network failures and daemon restarts while waiting are retried with " +
    "bounded backoff. With -timeout or -state, so is a daemon that cannot be reached at " +
    "first (connection refused, no route, host name not found, or a hang-up during the TLS " +
    "handshake), until the timeout: a boot script may start before the daemon does. " +
    "Without either, such a daemon fails the tool at once, as with HTCondor's. A daemon " +
    "that is not trusted is never retried. Ctrl-C or SIGTERM withdraws the request at the " +
    "daemon (before any daemon answered, nothing was asked and nothing is left behind).",
    "Daemons that share one state (condor_tokend daemons on one PostgreSQL database) can all " +
    "be named, comma separated, in -pool or COLLECTOR_HOST: the request goes to the first " +
    "that answers, and when that daemon goes away while the tool waits, it fails over to the " +
    "next and carries on with the same request there. With -state, the file keeps every " +
    "daemon of the pool, each with the certificate it was trusted with, so a resumed request " +
    "fails over too.",
  ],
  groups: ["Token options", TARGET_OPTIONS, "Output options", "Waiting and trust", OTHER_OPTIONS],
  // The first match wins: -t stays -type and -to -token, as in HTCondor, since
  // the options here that start with "t" need two letters.
  options: [
    {
      name: "authz",
      min: 1,
      value: true,
      repeat: true,
      arg: "AUTHZ",
      help: "Limit the token to this authorization level (READ, WRITE, DAEMON, " +
        "ADVERTISE_STARTD, ...); repeatable (default: no limit but the identity's own)",
      group: "Token options",
    },
    {
      name: "lifetime",
      min: 1,
      value: true,
      arg: "SECONDS",
      help: "Lifetime of the token (default: no limit but the daemon's)",
      group: "Token options",
    },
    {
      name: "identity",
      min: 1,
      value: true,
      arg: "USER@DOMAIN",
      help: `Identity to request (default condor@$(UID_DOMAIN)); "@$(UID_DOMAIN)" is added ` +
        `when it has no "@"`,
      group: "Token options",
    },
    {
      name: "token",
      min: 2,
      value: true,
      arg: "NAME",
      help: "Store the token in SEC_TOKEN_DIRECTORY/NAME (0600 in a 0700 directory; NAME a " +
        "plain file name)",
      group: "Output options",
    },
    {
      name: "file",
      min: 1,
      value: true,
      arg: "PATH",
      help: "Store the token in PATH (0600)",
      group: "Output options",
    },
    {
      name: "timeout",
      min: 2,
      value: true,
      arg: "SECONDS",
      help: `Give up after this long (default ${DEFAULT_TIMEOUT_SECONDS}; 0 = do not wait); ` +
        `given, a daemon that cannot be reached at first is retried until then`,
      group: "Waiting and trust",
    },
    {
      name: "state",
      min: 2,
      value: true,
      arg: "FILE",
      help: "Save the pending request in FILE (0600); if FILE holds one already, keep " +
        "waiting for it instead of asking again; removed once the request ends. Given, a " +
        "daemon that cannot be reached at first is retried until -timeout",
      group: "Waiting and trust",
    },
    {
      name: "json",
      min: 1,
      value: false,
      help: "Print one JSON object with the outcome on stdout (the token in it, unless " +
        "stored with -token or -file)",
      group: "Output options",
    },
    ...targetOptions("COLLECTOR").map((option) =>
      option.name === "trust"
        ? { ...option, group: "Waiting and trust" }
        : option.name === "pool"
        ? {
          ...option,
          help: `${option.help}, and a wait carries on at the next when its daemon goes away`,
        }
        : option
    ),
  ],
  exitStatus: [
    "0 token delivered, 2 bad command line, 3 denied, 4 expired, 5 cancelled at the daemon, " +
    "6 timed out, 7 daemon unreachable, 8 certificate not trusted, 9 not authorized, " +
    "130/143 interrupted (request withdrawn), 1 other.",
  ],
  sections: [
    TRUST,
    {
      title: "JSON output",
      paragraphs: [
        "With -json, one object on stdout and nothing else: outcome (approved, denied, " +
        "expired, cancelled, timed_out, interrupted or error), exitCode, requestId, daemon, " +
        "identity; then token (only when not stored in a file) or tokenFile, autoApproved " +
        "(approved); reason (denied); withdrawn and stateFile (timed_out); signal and " +
        "withdrawn (interrupted); code and message (error).",
      ],
    },
    CONFIGURATION,
  ],
  examples: [
    {
      about: "A startd's token from the pool's collector, stored in the token directory:",
      command: `${NAME} -pool cm.example.org -authz ADVERTISE_STARTD -token startd`,
    },
    {
      about: "In a boot script, with the daemon's fingerprint pinned and the request resumable:",
      command: `${NAME} -pool cm.example.org -trust sha256:AB:CD:... \\\n` +
        `    -authz ADVERTISE_STARTD -token startd \\\n` +
        `    -state /var/lib/condor/token_request.state -timeout 600 -json`,
    },
  ],
  seeAlso: [
    "condor_token_request_list(1)",
    "condor_token_request_approve(1)",
    "condor_token_request_deny(1)",
    "condor_token_request_auto_approve(1)",
    "condor_token_fetch(1)",
    "condor_token_list(1)",
    "condor_tokend(8)",
  ],
};

/** Options of condor_token_request. */
export interface RequestOptions {
  /** As given; defaults are applied from the configuration at run time. */
  identity: string | undefined;
  authz: Authorization[];
  lifetime: number | undefined;
  /** Where to ask; without -type, the pool's collector. */
  target: TargetOptions;
  token: string | undefined;
  file: string | undefined;
  /** Seconds. */
  timeout: number;
  state: string | undefined;
  json: boolean;
  /**
   * Whether a daemon that cannot be reached at first is waited for, within
   * the timeout: with -timeout or -state. Without either, the tool fails at
   * once, as HTCondor's does.
   */
  retryFirstContact: boolean;
}

/** Parses and validates the command line. Throws UsageError. */
export function parseRequestOptions(args: readonly string[]): RequestOptions {
  const parsed = parseOptions(args, DOC.options);
  const timeoutText = single(parsed, "timeout");
  const options: RequestOptions = {
    identity: single(parsed, "identity"),
    authz: parseAuthzList(parsed.get("authz") ?? []),
    lifetime: parseLifetime(parsed),
    target: parseTarget(parsed),
    ...parseDestination(parsed),
    timeout: timeoutText === undefined
      ? DEFAULT_TIMEOUT_SECONDS
      : parseSeconds(timeoutText, "timeout"),
    state: single(parsed, "state"),
    json: parsed.has("json"),
    retryFirstContact: timeoutText !== undefined || parsed.has("state"),
  };
  const hidden = hiddenCharacter(options.identity ?? "");
  if (hidden) {
    throw new UsageError(`Invalid value for -identity: it ${hiddenCharacterReason(hidden)}`);
  }
  if (options.identity !== undefined && (options.identity === "" || /\s/.test(options.identity))) {
    throw new UsageError(`Invalid value for -identity: "${options.identity}" is not USER@DOMAIN`);
  }
  if (options.state === "") throw new UsageError("Invalid value for -state: it is empty");
  return options;
}

/** What tests may change of the requester: the clock, retry timing, poll length, progress interval. */
export interface RequesterDeps {
  clock?: Clock;
  retry?: RetryPolicy;
  random?: () => number;
  /** Long-poll length in seconds. */
  pollSeconds?: number;
  /** How often a non-terminal run prints "Still waiting ..." (default 60 s). */
  statusIntervalMs?: number;
}

/**
 * Requests the token and delivers it; resolves to the exit code. Needs
 * --allow-net, --allow-read, --allow-write (token, known hosts, -state file),
 * --allow-env and --allow-sys=hostname.
 */
export async function runRequest(
  options: RequestOptions,
  io: Io,
  deps: RequesterDeps = {},
): Promise<number> {
  // Talking HTCondor's protocol starts with a key pair, and either protocol
  // with the crypto library's first (slow) random numbers: begin on another
  // thread now, while the configuration is read.
  prepareEcdhKeyPair();
  const clock: Clock = deps.clock ?? io.clock;
  const started = clock.now();
  const status = new StatusLine(io, clock, deps.statusIntervalMs ?? 60_000);
  // Debug lines go through the status line, so they never collide with it.
  const setup = await toolConfig(io, options.target.debug, { err: (text) => status.say(text) });
  const { config, debug } = setup;

  // The request's secret goes into -state: refused at once where it cannot be kept private.
  if (options.state !== undefined) assertSecretsCanBePrivate(options.state, "write request file");
  const saved = options.state === undefined ? undefined : await readSavedRequest(options.state);
  if (saved && options.state) checkSavedMatches(saved, options, options.state);
  const request = {
    identity: saved?.identity ?? fullIdentity(options.identity, config.require("UID_DOMAIN")),
    authz: saved?.authz ?? options.authz,
    lifetime: saved !== undefined ? saved.lifetime : options.lifetime ?? null,
    clientId: saved?.clientId ?? `${io.hostname()}-${randomBelow(1000)}`,
  };
  const tokenDir = options.token === undefined ? undefined : tokenDirectory(config);
  // A token is handed over once: make sure there is somewhere to put it before asking.
  await prepareTokenDestination({ file: options.file, name: options.token, directory: tokenDir });

  if (saved) await debug(`continuing with the daemon saved in ${options.state}: ${saved.daemon}`);
  const deadline = started + options.timeout * 1000;
  // Where a saved request continues (its daemon, then the rest of its pool).
  const resume = saved ? savedDaemons(saved) : {};
  // Set once the request exists: what to do when the daemon goes away and
  // another of the pool carries on with the same request.
  let failedOver: (event: { from: string; to: string }) => Promise<void> = async () => {};
  // Requests need no identity at the daemon: that is the point of this tool.
  const open = () =>
    openSession(options.target, io, {
      tool: NAME,
      credentials: false,
      setup,
      ...resume,
      onFailover: (event) => failedOver(event),
    });
  const session = options.retryFirstContact
    ? await withRetries((attempt) => {
      // A live line would write over the question asked to trust a new daemon.
      if (attempt > 0 && io.stderrIsTerminal) status.stop();
      return open();
    }, {
      deadline,
      signal: io.signal,
      clock,
      retry: deps.retry,
      random: deps.random,
      retryable: isFirstContactFailure,
      onRetry: (error, attempt, delayMs) =>
        onFirstContactRetry(error, attempt, delayMs, {
          io,
          status,
          debug,
          where: saved?.daemon ?? targetShown(options.target, config),
          since: started,
        }),
      onRecovered: (downMs) => onFirstContactRecovered(downMs, io, status),
    })
    : await open();
  if (session === undefined) {
    // Interrupted before any daemon answered: nothing was asked, nothing saved.
    status.stop();
    return await new Reporter(io, options, status, {
      daemon: saved?.daemon ?? targetShown(options.target, config),
      identity: request.identity,
    }).interruptedBeforeContact();
  }
  const { client, trust, addresses } = session;
  let daemon = client.address;
  // With -state, the request is saved before it is made, so a crash at any
  // point leaves the secret behind: re-sending it yields the same request.
  const record: SavedRequest | undefined = saved ??
    (options.state === undefined ? undefined : {
      daemon,
      ...pinnable(trust()),
      ...(addresses.length > 1 ? { daemons: addresses.map((address) => ({ address })) } : {}),
      secret: newRequesterSecret(),
      ...request,
      createdAt: Math.floor(started / 1000),
    });
  if (record?.daemons) rememberFingerprint(record, daemon, trust());
  const secret = record?.secret ?? newRequesterSecret();
  const report = new Reporter(io, options, status, { daemon, identity: request.identity });
  let requestId = saved?.requestId;
  failedOver = async ({ from, to }) => {
    daemon = to;
    report.base.daemon = to;
    await status.say(
      `Lost contact with the daemon at ${from}; continuing${
        requestId === undefined ? "" : ` with request ${requestId}`
      } at ${to}, which shares its state.\n`,
    );
    if (options.state !== undefined && record !== undefined) {
      record.daemon = to;
      delete record.fingerprint;
      Object.assign(record, pinnable(trust()));
      rememberFingerprint(record, to, trust());
      await saveRequest(options.state, record);
    }
  };
  try {
    if (options.state !== undefined && record !== undefined && saved === undefined) {
      await saveRequest(options.state, record);
      await debug(`saved the request's state in ${options.state}`);
    }
    await debug(
      saved?.requestId
        ? `resuming request ${saved.requestId} at ${daemon}`
        : `requesting a token for ${request.identity} from ${daemon} as client ${request.clientId}`,
    );
    const outcome = await requestToken({
      client,
      request,
      secret,
      requestId: saved?.requestId,
      deadline,
      // Without a state file nobody could ever collect the token: withdraw it.
      cancelOnTimeout: options.state === undefined,
      signal: io.signal,
      clock,
      retry: deps.retry,
      random: deps.random,
      pollSeconds: deps.pollSeconds,
      trustDomain: () => poolTrustDomain(config, client, debug),
      onEvent: async (event) => {
        if (event.type === "enqueued") requestId = event.requestId;
        if (event.type === "enqueued" && options.state !== undefined && record) {
          record.requestId = event.requestId;
          // An HTCondor daemon's certificate is only seen during the request.
          if (record.fingerprint === undefined) Object.assign(record, pinnable(trust()));
          await saveRequest(options.state, record);
        }
        await onRequestEvent(event, io, status, debug, daemon, saved?.createdAt ?? started / 1000);
      },
    });
    return await report.outcome(
      outcome,
      (token) =>
        storeToken({ file: options.file, name: options.token, directory: tokenDir }, token),
    );
  } finally {
    status.stop();
    client.close();
  }
}

/**
 * The trust domain an issued token must name as its issuer: TRUST_DOMAIN when
 * the configuration sets it, else what the daemon says of itself. Asked once
 * the token has arrived: when the daemon cannot say (it went away), the
 * issuer is not checked rather than the token lost.
 */
async function poolTrustDomain(
  config: CondorConfig,
  client: TokenDaemonClient,
  debug: DebugLog,
): Promise<string | undefined> {
  if (config.isSet("TRUST_DOMAIN")) return config.get("TRUST_DOMAIN")?.trim() || undefined;
  try {
    return (await client.info(AbortSignal.timeout(5_000))).trustDomain || undefined;
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    await debug(
      `cannot ask the daemon for its trust domain (${err.message}); not checking the token's issuer`,
    );
    return undefined;
  }
}

/**
 * Where a saved request continues: its daemon first, then the rest of its
 * pool; each trusted only with the fingerprint saved for it.
 */
function savedDaemons(saved: SavedRequest) {
  const daemon = parseDaemonAddress(saved.daemon);
  if (daemon === undefined) {
    throw new CondorError(
      "REQUEST_FILE_BAD",
      `Cannot resume: the saved daemon "${saved.daemon}" is not a daemon address; remove the file to make a new request`,
    );
  }
  const others = (saved.daemons ?? []).map((d) => parseDaemonAddress(d.address))
    .filter((url): url is URL => url !== undefined && url.host !== daemon.host);
  const pins = [
    ...(saved.fingerprint ? [{ address: saved.daemon, fingerprint: saved.fingerprint }] : []),
    ...(saved.daemons ?? []).flatMap((d) =>
      d.fingerprint ? [{ address: d.address, fingerprint: d.fingerprint }] : []
    ),
  ];
  return { daemon, otherDaemons: others, pins };
}

/** Records in `record.daemons` the fingerprint `address` was trusted with on first use. */
function rememberFingerprint(
  record: SavedRequest,
  address: string,
  trust: TrustJudgement | undefined,
): void {
  const { fingerprint } = pinnable(trust);
  if (fingerprint === undefined || record.daemons === undefined) return;
  const host = parseDaemonAddress(address)?.host;
  const entry = record.daemons.find((d) => parseDaemonAddress(d.address)?.host === host);
  if (entry) entry.fingerprint = fingerprint;
}

/** How far the local clock may be from the daemon's before the requester says so. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/**
 * Seconds the daemon's clock is ahead of this host's (`nowMs`), as the
 * token's `iat` tells; undefined when the token has no issue time.
 */
export function clockSkewSeconds(token: string, nowMs: number): number | undefined {
  try {
    const { payload } = decodeToken(token);
    const iat = (payload as { iat?: unknown } | null)?.iat;
    return typeof iat === "number" ? iat - Math.floor(nowMs / 1000) : undefined;
  } catch (err) {
    if (err instanceof TokenError) return undefined;
    throw err;
  }
}

/** The fingerprint to save with a request: the certificate's, unless an authority vouched for it. */
function pinnable(trust: TrustJudgement | undefined): { fingerprint?: string } {
  return trust === undefined || trust.basis === "ca" ? {} : { fingerprint: trust.fingerprint };
}

/** Checks a saved request against the options given explicitly now. */
function checkSavedMatches(saved: SavedRequest, options: RequestOptions, path: string): void {
  const differs = (what: string, was: unknown, now: unknown) => {
    throw new CondorError(
      "REQUEST_FILE_MISMATCH",
      `Cannot resume from ${path}: it holds a request with ${what} ${JSON.stringify(was)}, not ${
        JSON.stringify(now)
      }; remove the file to make a new request`,
    );
  };
  if (
    options.identity !== undefined &&
    options.identity !== saved.identity && !saved.identity.startsWith(`${options.identity}@`)
  ) differs("identity", saved.identity, options.identity);
  if (
    options.authz.length > 0 &&
    [...options.authz].sort().join(",") !== [...saved.authz].sort().join(",")
  ) differs("authorizations", saved.authz, options.authz);
  if (options.lifetime !== undefined && options.lifetime !== saved.lifetime) {
    differs("lifetime", saved.lifetime, options.lifetime);
  }
}

/** Where the tool is looking for a daemon, for messages: -pool, else COLLECTOR_HOST. */
function targetShown(target: TargetOptions, config: CondorConfig): string {
  const pool = target.pool ?? config.get("COLLECTOR_HOST")?.trim() ?? "";
  const where = pool === "" ? "the pool's collector" : pool;
  return target.name === undefined ? where : `${where} (daemon "${target.name}")`;
}

/** Says (once) that the daemon does not answer yet and is waited for; -debug says every retry. */
async function onFirstContactRetry(
  error: DaemonError,
  attempt: number,
  delayMs: number,
  context: { io: Io; status: StatusLine; debug: DebugLog; where: string; since: number },
): Promise<void> {
  const { io, status, debug } = context;
  await debug(`${error.message}; retry ${attempt + 1} in ${delayMs} ms`, "D_NETWORK");
  if (io.stderrIsTerminal) {
    // The live line shows while waiting between attempts (it is stopped during one).
    status.startContact(context.where, context.since, "not answering, retrying");
    return;
  }
  if (attempt > 0) return;
  await status.say(
    `${NAME}: ${error.message}; retrying until it answers, within -timeout (Ctrl-C stops)\n`,
  );
  status.startContact(context.where, context.since, "not answering, retrying");
}

/** Ends the wait for a first answer. */
async function onFirstContactRecovered(downMs: number, io: Io, status: StatusLine): Promise<void> {
  status.stop();
  if (!io.stderrIsTerminal) {
    await status.say(`The daemon answered after ${Math.round(downMs / 1000)} s.\n`);
  }
}

/** HTCondor's identity defaults: `condor@UID_DOMAIN`, and `@UID_DOMAIN` added when missing. */
export function fullIdentity(identity: string | undefined, uidDomain: string): string {
  if (identity === undefined) return `condor@${uidDomain}`;
  return identity.includes("@") ? identity : `${identity}@${uidDomain}`;
}

function randomBelow(n: number): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] % n;
}

async function onRequestEvent(
  event: RequestEvent,
  io: Io,
  status: StatusLine,
  debug: DebugLog,
  daemon: string,
  waitingSinceSeconds: number,
): Promise<void> {
  switch (event.type) {
    case "enqueued":
      if (event.autoApproved) {
        await status.say(`Token request ${event.requestId} was approved automatically.\n`);
        return;
      }
      await status.say(
        `Token request enqueued.  Ask an administrator to please approve request ${event.requestId}.\n`,
      );
      status.start(event.requestId, waitingSinceSeconds * 1000, event.expiresAt);
      return;
    case "resumed":
      await status.say(`Continuing to wait for approval of request ${event.requestId}.\n`);
      status.start(event.requestId, waitingSinceSeconds * 1000, undefined);
      return;
    case "waiting":
      status.update({ expiresAt: event.expiresAt });
      await debug(`request ${event.requestId} is still pending`, "D_FULLDEBUG");
      return;
    case "retrying":
      await debug(
        `${event.error.message}; retry ${event.attempt + 1} in ${event.delayMs} ms`,
        "D_NETWORK",
      );
      if (event.attempt === 0) {
        if (!io.stderrIsTerminal) {
          await status.say(
            `Lost contact with the daemon at ${daemon} (${event.error.code}); retrying until it answers.\n`,
          );
        }
        status.update({ trouble: "daemon not answering, retrying" });
      }
      return;
    case "reconnected":
      status.update({ trouble: undefined });
      if (!io.stderrIsTerminal) {
        await status.say(
          `Reconnected to the daemon at ${daemon} after ${Math.round(event.downMs / 1000)} s.\n`,
        );
      }
      return;
    case "cancelling":
      await debug(`withdrawing request ${event.requestId} (${event.why})`);
      return;
  }
}

/** Turns an outcome into the messages, the -json object, the saved state and the exit code. */
class Reporter {
  constructor(
    readonly io: Io,
    readonly options: RequestOptions,
    readonly status: StatusLine,
    readonly base: { daemon: string; identity: string },
  ) {}

  async outcome(
    outcome: RequestOutcome,
    store: (token: string) => Promise<string | undefined>,
  ): Promise<number> {
    this.status.stop();
    const id = outcome.requestId;
    switch (outcome.outcome) {
      case "approved": {
        const tokenFile = await store(outcome.token);
        await this.#forget();
        await this.#warnOfClockSkew(outcome.token);
        if (this.options.json) {
          await this.#json(EXIT.OK, outcome, {
            autoApproved: outcome.autoApproved,
            ...(tokenFile === undefined ? { token: outcome.token } : { tokenFile }),
          });
        } else if (tokenFile === undefined) {
          await this.io.out(outcome.token + "\n");
        }
        if (tokenFile !== undefined) await this.status.say(`Token stored in ${tokenFile}.\n`);
        return EXIT.OK;
      }
      case "denied":
        await this.#forget();
        return await this.#end(
          EXIT.DENIED,
          outcome,
          {
            reason: outcome.reason ?? null,
          },
          `Request ${id} was denied by the administrator${
            outcome.reason ? `: ${JSON.stringify(outcome.reason)}` : " (no reason given)"
          }`,
        );
      case "expired":
        await this.#forget();
        return await this.#end(
          EXIT.EXPIRED,
          outcome,
          {},
          `Request ${id} expired at the daemon before an administrator approved it`,
        );
      case "cancelled":
        await this.#forget();
        return await this.#end(
          EXIT.CANCELLED,
          outcome,
          {},
          `Request ${id} was cancelled at the daemon`,
        );
      case "timed_out": {
        const seconds = this.options.timeout;
        if (outcome.withdrawn) await this.#forget();
        const what = outcome.withdrawn
          ? "it was withdrawn"
          : this.options.state !== undefined
          ? `it is still pending; run again with -state ${this.options.state} to keep waiting`
          : "it could not be withdrawn and stays pending until it expires";
        return await this.#end(
          EXIT.TIMED_OUT,
          outcome,
          { withdrawn: outcome.withdrawn, ...this.#stateField(!outcome.withdrawn) },
          `Gave up waiting for approval of request ${id} after ${seconds} s (-timeout); ${what}`,
        );
      }
      case "interrupted": {
        // Without an id the enqueue never completed; a saved secret still
        // finds the request, should the daemon have made it after all.
        if (outcome.withdrawn) await this.#forget();
        const code = outcome.signal === "SIGTERM" ? EXIT.SIGTERM : EXIT.SIGINT;
        const what = id === undefined
          ? "the daemon never confirmed the request"
          : outcome.withdrawn
          ? `request ${id} was cancelled at the daemon`
          : `request ${id} could not be cancelled at the daemon`;
        return await this.#end(
          code,
          outcome,
          { signal: outcome.signal, withdrawn: outcome.withdrawn },
          `Interrupted by ${outcome.signal}; ${what}`,
        );
      }
    }
  }

  /** Interrupted while no daemon had answered yet: no request was made. */
  async interruptedBeforeContact(): Promise<number> {
    const signal = String(this.io.signal.reason ?? "SIGINT");
    return await this.#end(
      signal === "SIGTERM" ? EXIT.SIGTERM : EXIT.SIGINT,
      { outcome: "interrupted", requestId: undefined, signal, withdrawn: false },
      { signal, withdrawn: false },
      `Interrupted by ${signal} before the daemon answered; no request was made`,
    );
  }

  async #end(
    exitCode: number,
    outcome: RequestOutcome,
    extra: Record<string, unknown>,
    message: string,
  ): Promise<number> {
    await this.status.say(`${NAME}: ${message}\n`);
    if (this.options.json) await this.#json(exitCode, outcome, extra);
    return exitCode;
  }

  async #json(exitCode: number, outcome: RequestOutcome, extra: Record<string, unknown>) {
    await this.io.out(
      jsonText({
        outcome: outcome.outcome,
        exitCode,
        requestId: outcome.requestId ?? null,
        ...this.base,
        ...extra,
      }) + "\n",
    );
  }

  #stateField(kept: boolean): Record<string, string> {
    return kept && this.options.state !== undefined ? { stateFile: this.options.state } : {};
  }

  /**
   * Says on stderr when this host's clock and the daemon's differ by more
   * than a minute, measured by the token's issue time: the token is kept,
   * but it will look not yet valid, or expire early, to this host.
   */
  async #warnOfClockSkew(token: string): Promise<void> {
    const skew = clockSkewSeconds(token, this.io.clock.now());
    if (skew === undefined || Math.abs(skew) <= MAX_CLOCK_SKEW_SECONDS) return;
    const behind = skew > 0;
    await this.status.say(
      `${NAME}: WARNING: this host's clock is ${duration(Math.abs(skew) * 1000)} ${
        behind ? "behind" : "ahead of"
      } the daemon's (the token says it was issued at ${
        new Date((Math.floor(this.io.clock.now() / 1000) + skew) * 1000).toISOString()
      }); ${
        behind
          ? "daemons on this host may take tokens as not yet valid"
          : "tokens will look expired here before they are"
      }, and TLS certificates may be judged wrongly; fix the clock (NTP)\n`,
    );
  }

  async #forget(): Promise<void> {
    if (this.options.state !== undefined) await forgetSavedRequest(this.options.state);
  }
}

/** The condor_token_request tool. */
export const condorTokenRequest: Tool = defineTool({
  doc: DOC,
  parse: parseRequestOptions,
  // With -json a failure is an object on stdout too (the line on stderr stays).
  run: (options, io) => withJsonFailure(options.json, io, () => runRequest(options, io)),
  exitCodeOf: targetExitCode,
});
