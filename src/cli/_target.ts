/**
 * What every network tool (the requester, list, approve, deny, auto-approve,
 * fetch) shares: the target options `-pool`, `-name`, `-type`, `-trust`,
 * `-debug` and `-help`; opening a trusted (and, for all but the requester,
 * credentialed) connection to the daemon they name: trust policy from the
 * configuration, then locate, then connect, asking on a terminal before
 * trusting a self-signed daemon; and mapping failures to exit codes.
 */
import { type DaemonAd, REQUEST_ID_PATTERN } from "../api/protocol.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { CondorError, ConfigError, DaemonError, type ErrorCode, UsageError } from "../errors.ts";
import {
  cedarSettingsFromConfig,
  connectDaemon,
  TRUST_KNOB,
  trustPolicyFromConfig,
  TrustSessions,
} from "../client/connect.ts";
import { tokenDirectoriesFor, TrackedCredential } from "../client/credentials.ts";
import { DAEMON_ERRORS, isNotAuthorized, type TokenDaemonClient } from "../client/daemon_client.ts";
import {
  badPool,
  collectorAddresses,
  DAEMON_TYPES,
  DEFAULT_PORT,
  displayAddress,
  type Located,
  locateDaemon,
  parseDaemonAddress,
  parseDaemonType,
  poolEntries,
} from "../client/locate.ts";
import { failoverClient, isUnreachable } from "../client/failover_client.ts";
import { knownHostKey } from "../client/known_hosts.ts";
import {
  judgeListed,
  parseFingerprint,
  type TrustJudgement,
  type TrustPolicy,
  type TrustQuestion,
} from "../client/trust.ts";
import { type KeyLocations, keyLocationsOf } from "../token/signing_key.ts";
import { tokenDirectory, toolConfig, type ToolSetup } from "./_config.ts";
import { type ParsedOptions, single } from "./_options.ts";
import type { DocumentedOption } from "./_doc.ts";
import {
  type DebugLog,
  type DebugOption,
  debugOption,
  debugSpec,
  HELP_OPTION,
  VERSION_OPTION,
} from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

/** The heading of the target options in every network tool's usage. */
export const TARGET_OPTIONS = "Target options";

/**
 * The target options (and -debug, -help, -trust, -version), to be listed
 * after a tool's own: the first matching prefix wins, so `-n` stays `-name`
 * and `-t` stays `-type`, as in HTCondor. `defaultType` is what -help says
 * `-type` defaults to.
 */
export function targetOptions(defaultType: string): DocumentedOption[] {
  return [
    {
      name: "pool",
      min: 1,
      value: true,
      arg: "HOST[:PORT]",
      help: "Use this pool's collector instead of COLLECTOR_HOST (port COLLECTOR_PORT, 9618, by " +
        "default; HTCondor's own protocol or condor_tokend's HTTPS, whichever answers; a sinful " +
        "<IP:PORT?alias=HOST>, cedar:// or https:// URL chooses); several, separated by commas, " +
        "are tried in order",
      group: TARGET_OPTIONS,
    },
    {
      name: "name",
      min: 1,
      value: true,
      arg: "NAME",
      help: "Talk to the daemon of this name in the pool (looked up at its collector)",
      group: TARGET_OPTIONS,
    },
    {
      name: "type",
      min: 1,
      value: true,
      arg: "TYPE",
      help: `Talk to a daemon of this type (default ${defaultType}; SCHEDD, STARTD, MASTER, ` +
        `NEGOTIATOR, CREDD, ...)`,
      group: TARGET_OPTIONS,
    },
    debugSpec(),
    HELP_OPTION,
    {
      name: "trust",
      min: 2,
      value: true,
      repeat: true,
      arg: "sha256:...",
      help: `Trust a daemon whose self-signed certificate has this SHA-256 fingerprint ` +
        `(repeatable; knob ${TRUST_KNOB}); otherwise AUTH_SSL_CLIENT_CAFILE, known_hosts or, ` +
        `on a terminal, your answer decides`,
      group: TARGET_OPTIONS,
    },
    VERSION_OPTION,
  ];
}

/** Where to connect, as given on the command line. */
export interface TargetOptions {
  /** `-pool` as given (checked to be an address); its port defaults to COLLECTOR_PORT. */
  pool: string | undefined;
  name: string | undefined;
  /** Upper case; undefined when `-type` was not given. */
  type: string | undefined;
  /** Normalised `sha256:AB:...` fingerprints. */
  trust: string[];
  /** `-debug` (undefined when not given). */
  debug: DebugOption | undefined;
}

/** Reads the target options from parsed options. Throws UsageError. */
export function parseTarget(parsed: ParsedOptions): TargetOptions {
  const pool = single(parsed, "pool");
  if (pool !== undefined) {
    const entries = poolEntries(pool);
    if (entries.length === 0) throw badPool(pool);
    for (const entry of entries) if (!parseDaemonAddress(entry)) throw badPool(entry);
  }
  const typeText = single(parsed, "type");
  const type = typeText === undefined ? undefined : parseDaemonType(typeText);
  if (typeText !== undefined && !type) {
    throw new UsageError(
      `Invalid value for -type: "${typeText}" is not a daemon type (${DAEMON_TYPES.join(", ")})`,
    );
  }
  const name = single(parsed, "name");
  if (name === "") throw new UsageError("Invalid value for -name: it is empty");
  const trust = (parsed.get("trust") ?? []).map((text) => {
    const fingerprint = parseFingerprint(text);
    if (!fingerprint) {
      throw new UsageError(
        `Invalid value for -trust: "${text}" is not a SHA-256 fingerprint (sha256:AB:CD:...)`,
      );
    }
    return fingerprint;
  });
  return { pool, name, type, trust, debug: debugOption(parsed) };
}

/** How a tool wants its daemon reached. */
export interface SessionOptions {
  /** The tool's name, which starts its warnings on stderr. */
  tool: string;
  /** Daemon types tried in turn while the pool lists none, when -type is not given. */
  types?: readonly string[];
  /** Whether authenticated calls present a credential (the requester needs none). */
  credentials?: boolean;
  /** This daemon, connected to directly instead of located (a resumed request's). */
  daemon?: URL;
  /** The other daemons of the pool to fail over to from `daemon` (a resumed request's). */
  otherDaemons?: readonly URL[];
  /** Fingerprints trusted besides -trust, each for its daemon's address only (a resumed request's). */
  pins?: readonly { address: string; fingerprint: string }[];
  /** Told when the session moves to another daemon of the pool (the first could not be reached). */
  onFailover?: (event: { from: string; to: string; error: DaemonError }) => void | Promise<void>;
  /** The configuration and -debug log, when the tool loaded them already. */
  setup?: ToolSetup;
}

/** A connected (credentialed, unless asked otherwise) client and what the tool needs around it. */
export interface Session {
  client: TokenDaemonClient;
  config: CondorConfig;
  debug: DebugLog;
  /**
   * Why the daemon the client talks to is trusted; undefined until decided
   * (an HTCondor daemon's certificate is seen in the first command).
   */
  trust: () => TrustJudgement | undefined;
  /**
   * Who the tool acted as and on what credential, for refusals ("alice@x
   * (the token in FILE line 1)"); undefined before any credential was used.
   */
  caller: () => string | undefined;
  /** Every address the client may fail over to, the one it talks to first first. */
  addresses: string[];
}

/** Who `client` authenticated as, and with what (see {@link Session.caller}). */
function callerOf(
  client: TokenDaemonClient,
  credential: TrackedCredential | undefined,
): string | undefined {
  const mapped = client.authenticatedAs();
  const used = credential?.used;
  if (used && (mapped === undefined || mapped === used.identity)) {
    return `${used.identity} (${used.from})`;
  }
  return mapped === undefined ? undefined : `${mapped} (as the daemon mapped this connection)`;
}

/**
 * Loads the configuration (unless given); connects to `options.daemon`, or
 * else locates the daemon (trying each type of `options.types`, COLLECTOR by
 * default, in turn while the pool lists no such daemon; the target's `-type`
 * when given); decides trust in it; and returns a client whose authenticated
 * calls present (unless `options.credentials` is false) a token from
 * SEC_TOKEN_DIRECTORY (and SEC_TOKEN_SYSTEM_DIRECTORY for root) that the
 * daemon accepts, else one minted from a readable signing key. The caller
 * closes the client. Needs --allow-net, --allow-read, --allow-write of the
 * known-hosts file, --allow-env, --allow-sys=hostname.
 */
export async function openSession(
  target: TargetOptions,
  io: Io,
  options: SessionOptions,
): Promise<Session> {
  const { config, debug } = options.setup ?? await toolConfig(io, target.debug);
  const credential = options.credentials === false ? undefined : new TrackedCredential({
    tokenDirectories: tokenDirectoriesFor(
      optionalTokenDirectory(config),
      config.get("SEC_TOKEN_SYSTEM_DIRECTORY")?.trim() || undefined,
    ),
    exclude: config.excludedFileNames(),
    keys: optionalKeyLocations(config),
    now: () => io.now(),
    trace: (message) => debug(message, "D_SECURITY"),
    warn: (message) => io.err(`${options.tool}: ${message}\n`),
  });
  const policy: TrustPolicy = await trustPolicyFromConfig(config, {
    now: () => io.now(),
    pins: target.trust,
    pinsFor: (key) =>
      (options.pins ?? []).filter((p) => hostKeyOf(p.address) === key).map((p) => p.fingerprint),
    ask: io.stdinIsTerminal && io.stderrIsTerminal ? (q) => askTrust(io, q) : undefined,
  });
  const cedar = cedarSettingsFromConfig(config);
  if (cedar.ignored.length > 0) {
    await debug(
      `${cedar.source} lists ${
        cedar.ignored.join(", ")
      }, which this tool does not speak; offering ${cedar.methods.join(", ")} to HTCondor daemons`,
      "D_SECURITY",
    );
  }
  const trust = new TrustSessions(policy, async (judgement, key) => {
    await describeTrust(key, judgement, options.tool, io, debug);
  });
  const connect = async (url: URL, listed?: DaemonAd) => {
    const source = credential?.source;
    const { client } = await connectDaemon(url, trust, {
      // A daemon found in the directory gets a bearer credential only once it is proven to be
      // the daemon asked for (HTCondor's TOKEN method never sends the token's signature).
      credential: source && listed
        ? (c) => {
          if (c.address.startsWith("https:")) {
            judgeListed(c.trusted(), c.address, listed.name, target.name);
          }
          return source(c);
        }
        : source,
      signal: io.signal,
      cedar,
      trace: (message) => debug(message),
    });
    return client;
  };
  const session = async (client: TokenDaemonClient, addresses: readonly URL[] = []) => {
    await debug(`talking to the daemon at ${client.address}`);
    if (addresses.length > 1) {
      await debug(
        `failing over to ${addresses.map((u) => displayAddress(u)).join(", ")} if it goes away`,
        "D_NETWORK",
      );
    }
    return {
      client,
      config,
      debug,
      trust: () => client.trusted(),
      caller: () => callerOf(client, credential),
      addresses: addresses.length > 1 ? addresses.map((u) => displayAddress(u)) : [client.address],
    } satisfies Session;
  };
  // Daemons listed together (COLLECTOR_HOST, -pool, a resumed request's)
  // serve one state: when one cannot be reached, the next carries on.
  const withFailover = (addresses: readonly URL[], first: Located): TokenDaemonClient =>
    addresses.length < 2 ? first.client : failoverClient({
      addresses,
      first,
      connect,
      onFailover: async (event) => {
        await debug(`${event.error.message}; continuing at ${event.to}`, "D_NETWORK");
        await options.onFailover?.(event);
      },
    });
  if (options.daemon !== undefined) {
    const addresses = [options.daemon, ...(options.otherDaemons ?? [])];
    const first = await connectFirst(addresses, connect);
    return await session(withFailover(addresses, first), addresses);
  }
  const collectors = collectorAddresses(
    target.pool,
    config.get("COLLECTOR_HOST"),
    config.int("COLLECTOR_PORT", DEFAULT_PORT),
  );
  const tried = target.type !== undefined ? [target.type] : options.types ?? ["COLLECTOR"];
  let firstMiss: DaemonError | undefined;
  for (const [i, type] of tried.entries()) {
    try {
      const located = await locateDaemon({
        collectors,
        name: target.name,
        type,
        connect,
        trace: debug,
        signal: io.signal,
      });
      // A daemon found through a collector's directory has one address.
      const isCollector = collectors.some((c) => c.url.href === located.url.href);
      const pool = collectors.map((c) => c.url);
      return isCollector
        ? await session(withFailover(pool, located), pool)
        : await session(located.client);
    } catch (err) {
      if (!(err instanceof DaemonError) || err.code !== DAEMON_ERRORS.NOT_FOUND) throw err;
      firstMiss ??= err;
      if (i < tried.length - 1) await debug(`${err.message}; trying the next daemon type`);
    }
  }
  throw firstMiss!;
}

/** The first of `addresses` that can be reached, connected; the first failure when none can. */
async function connectFirst(
  addresses: readonly URL[],
  connect: (url: URL) => Promise<TokenDaemonClient>,
): Promise<Located> {
  let first: DaemonError | undefined;
  for (const url of addresses) {
    try {
      return { client: await connect(url), url };
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      first ??= err;
    }
  }
  throw first!;
}

/** The known-hosts key (`host:port`) of a daemon address, or "" when it is none. */
function hostKeyOf(address: string): string {
  const url = parseDaemonAddress(address);
  return url === undefined ? "" : knownHostKey(new URL(`https://${url.host}`));
}

/** Says why a daemon is trusted (-debug), and warns on stderr when its certificate changed. */
async function describeTrust(
  address: string,
  trust: TrustJudgement,
  tool: string,
  io: Io,
  debug: DebugLog,
): Promise<void> {
  const how = {
    ca: "its certificate is signed by a trusted authority",
    pinned: "its certificate matches the fingerprint given",
    known_host: "its certificate matches the known-hosts entry",
    accepted: "you accepted its certificate",
    token_proof: "it proved with HTCondor's TOKEN method that it holds the signing key",
    local_fs: "it runs on this host (loopback address) and authenticated us with FS",
    local_cert:
      `its certificate is the one in ${trust.localFile}, the daemon's own file on this host`,
  }[trust.basis];
  await debug(`trusting ${address} (${trust.fingerprint}): ${how}`, "D_SECURITY");
  if (trust.replaced) {
    await io.err(
      `${tool}: WARNING: the certificate of ${address} changed (was ${trust.replaced}, now ` +
        `${trust.fingerprint}); trusting the new one because it was given with -trust or ` +
        `${TRUST_KNOB}, and updating ${trust.remembered}\n`,
    );
  } else if (trust.remembered) {
    await debug(`remembered ${trust.fingerprint} in ${trust.remembered}`, "D_SECURITY");
  }
}

/** SEC_TOKEN_DIRECTORY, or undefined when it cannot be worked out (no HOME). */
function optionalTokenDirectory(config: CondorConfig): string | undefined {
  return unlessMissing(() => tokenDirectory(config));
}

/** The signing key files, or undefined when the configuration names none. */
function optionalKeyLocations(config: CondorConfig): KeyLocations | undefined {
  return unlessMissing(() => keyLocationsOf(config));
}

/**
 * `read()`, or undefined when the knobs it needs are unset: having no
 * credential is a case the tool explains; a knob with a bad value is not,
 * and is reported as such.
 */
function unlessMissing<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof ConfigError && err.code === "CONFIG_MISSING") return undefined;
    throw err;
  }
}

/** Asks on the terminal whether to trust a self-signed daemon; true only for "yes". */
async function askTrust(io: Io, q: TrustQuestion): Promise<boolean> {
  await io.err(
    `The daemon at ${q.address} presents a self-signed certificate that is not yet trusted.\n` +
      `    Valid for:           ${q.names.join(", ") || "(no names)"}\n` +
      `    SHA-256 fingerprint: ${q.fingerprint}\n` +
      `Compare the fingerprint with the one the daemon logs at every start (ask the pool ` +
      `administrator).\n` +
      `Trust this daemon${
        q.knownHostsFile ? ` and remember it in ${q.knownHostsFile}` : ""
      }? Type 'yes' to continue: `,
  );
  return (await readAnswer(io))?.trim() === "yes";
}

/**
 * Reads one line of standard input, or null at end of input or when the
 * user interrupts (the tool then ends with the signal's exit code).
 */
export async function readAnswer(io: Io): Promise<string | null> {
  if (io.signal.aborted) return null;
  let onAbort = () => {};
  const aborted = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    io.signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([io.readLine(), aborted]);
  } finally {
    io.signal.removeEventListener("abort", onAbort);
  }
}

/** The exit code of an interrupted tool (130 for SIGINT, 143 for SIGTERM), if it was. */
export function interruptedExitCode(io: Io): number | undefined {
  if (!io.signal.aborted) return undefined;
  return io.signal.reason === "SIGTERM" ? EXIT.SIGTERM : EXIT.SIGINT;
}

/**
 * Exit codes of the network tools' failures (the requester's outcomes have
 * their own): 7 daemon unreachable, 8 not trusted (its certificate or
 * session, or the token it issued), 9 no usable credential or
 * refused (401/403), 130/143 interrupted (also when a failure follows the
 * interrupt, e.g. at the trust prompt), 1 anything else (unknown request,
 * request no longer pending).
 */
export function targetExitCode(err: CondorError, io: Io): number {
  const interrupted = interruptedExitCode(io);
  if (interrupted !== undefined) return interrupted;
  // What the daemon answered is read by its status: the code may be another version's.
  if (err instanceof DaemonError && err.status !== undefined) {
    return isNotAuthorized(err) ? EXIT.NOT_AUTHORIZED : EXIT.FAILURE;
  }
  return exitStatusOf(err.code);
}

/** `DAEMON_HTTP_<status>` and `HTCONDOR_ERROR_<n>`: codes that carry a number. */
type NumberedCode = `DAEMON_HTTP_${number}` | `HTCONDOR_ERROR_${number}`;

function isNumberedCode(code: ErrorCode): code is NumberedCode {
  return code.startsWith("DAEMON_HTTP_") || code.startsWith("HTCONDOR_ERROR_");
}

/**
 * The exit status of a failure with `code` that is not a daemon's answer
 * (those go by their HTTP status, see {@link targetExitCode}). Every code has
 * its case: a new code in src/errors.ts does not compile until it has one.
 */
export function exitStatusOf(code: ErrorCode): number {
  // A daemon's answer without a code of ours: nothing more to tell apart.
  if (isNumberedCode(code)) return EXIT.FAILURE;
  switch (code) {
    case "DAEMON_UNREACHABLE":
    case "DAEMON_TIMEOUT":
    case "DAEMON_NOT_TLS":
    case "DAEMON_NOT_CEDAR":
    case "DAEMON_NOT_A_DAEMON":
      return EXIT.UNREACHABLE;
    // A certificate or session not trusted, and a daemon that hands over a
    // token other than the one asked for (TokenError), is not to be trusted.
    case "DAEMON_TLS":
    case "TRUST_CERT_EXPIRED":
    case "TRUST_CHANGED":
    case "TRUST_KNOWN_HOSTS_IO":
    case "TRUST_KNOWN_HOSTS_UNSAFE":
    case "TRUST_LISTED_UNPROVEN":
    case "TRUST_NAME_MISMATCH":
    case "TRUST_PIN_MISMATCH":
    case "TRUST_REFUSED":
    case "TRUST_UNKNOWN":
    case "TRUST_UNPROVEN":
    case "TOKEN_MALFORMED":
    case "TOKEN_BAD_ALG":
    case "TOKEN_NO_KID":
    case "TOKEN_UNKNOWN_KEY":
    case "TOKEN_BAD_SIGNATURE":
    case "TOKEN_WRONG_ISSUER":
    case "TOKEN_EXPIRED":
    case "TOKEN_BAD_IDENTITY":
    case "TOKEN_BAD_ISSUER":
    case "TOKEN_BAD_LIFETIME":
    case "TOKEN_NOT_AS_REQUESTED":
      return EXIT.UNTRUSTED;
    case "DAEMON_NO_CREDENTIALS":
    // condor_tokend's own refusals of the caller (401, 403).
    case "NOT_AUTHENTICATED":
    case "AUTH_SCHEME":
    case "TOKEN_BAD_SUBJECT":
    case "TOKEN_REQUEST_DISABLED":
    case "AUTHZ_ELIMINATED":
    case "SECRET_INCORRECT":
    case "NOT_AUTHORIZED":
    case "SCOPE_RESTRICTED":
    case "LIFETIME_EXCEEDED":
    case "TOKEN_FETCH_DISABLED":
    case "AUTHZ_NOT_ALLOWED":
    case "KEY_NOT_ALLOWED":
    case "KEY_UNAVAILABLE":
      return EXIT.NOT_AUTHORIZED;
    case "USAGE":
    case "UNSUPPORTED_OPTION":
      return EXIT.USAGE;
    case "DAEMON_BAD_RESPONSE":
    case "DAEMON_ABORTED":
    case "DAEMON_NOT_FOUND":
    case "HTCONDOR_QUEUE_FULL":
    // An HTCondor daemon refusing us: with a status (401, 403) read by it
    // above; without one it hung up, which says nothing about the caller.
    case "DAEMON_AUTH_FAILED":
    case "DAEMON_REFUSED":
    case "SESSION_UNKNOWN":
    case "UNSUPPORTED":
    case "REQUEST_ALREADY_COLLECTED":
    // condor_tokend's other refusals: malformed, unknown, too late, too many, its fault.
    case "BAD_HTTP":
    case "METHOD_NOT_ALLOWED":
    case "LENGTH_REQUIRED":
    case "BODY_TOO_LARGE":
    case "URI_TOO_LONG":
    case "EXPECTATION_FAILED":
    case "HEADERS_TOO_LARGE":
    case "WRONG_SCHEME":
    case "NOT_FOUND":
    case "BAD_JSON":
    case "NO_IDENTITY":
    case "BAD_IDENTITY":
    case "NO_CLIENT_ID":
    case "BAD_CLIENT_ID":
    case "BAD_SECRET":
    case "BAD_AUTHZ":
    case "BAD_LIFETIME":
    case "BAD_WAIT":
    case "BAD_REQUEST_ID":
    case "BAD_REASON":
    case "RULE_BAD_LIFETIME":
    case "RULE_BAD_NETBLOCK":
    case "BAD_RULE_ID":
    case "BAD_KEY":
    case "BAD_DAEMON_AD":
    case "REQUEST_UNKNOWN":
    case "RULE_UNKNOWN":
    case "WRONG_STATE":
    case "RATE_LIMITED":
    case "TOO_MANY_PENDING_FROM_PEER":
    case "TOO_MANY_REQUESTS":
    case "NO_REQUEST_ID":
    case "NO_SIGNING_KEY":
    case "STORE_UNWRITABLE":
    case "INTERNAL":
    // This host's files and configuration.
    case "CONFIG_BAD_VALUE":
    case "CONFIG_DIRECTIVE":
    case "CONFIG_LOOP":
    case "CONFIG_MISSING":
    case "CONFIG_MISSING_FILE":
    case "CONFIG_SYNTAX":
    case "CONFIG_UNREADABLE":
    case "CONFIG_UNSUPPORTED":
    case "CONFIG_VALUE":
    case "KEY_BAD_KID":
    case "KEY_DIRECTORY_MISSING":
    case "KEY_EMPTY":
    case "KEY_INSECURE":
    case "KEY_MISSING":
    case "KEY_NOT_FILE":
    case "KEY_UNREADABLE":
    case "TOKEN_FILE_BAD_NAME":
    case "TOKEN_FILE_DENIED":
    case "TOKEN_FILE_IO":
    case "TOKEN_FILE_MISSING":
    case "TOKEN_FILE_NOT_FILE":
    case "TOKEN_FILE_SYMLINK":
    case "TOKEN_FILE_UNPROTECTED":
    case "TOKEN_FILE_UNSAFE_DIR":
    case "REQUEST_FILE_BAD":
    case "REQUEST_FILE_IO":
    case "REQUEST_FILE_MISMATCH":
    // The daemon's own (condor_tokend has its own exit statuses; see condor_tokend.ts).
    case "STORE_CLOSED":
    case "STORE_CONFIG":
    case "STORE_EMPTY":
    case "STORE_FOREIGN":
    case "STORE_LEFTOVER":
    case "STORE_LOCK":
    case "STORE_OPEN":
    case "STORE_SCHEMA":
    case "STORE_TEXT":
    case "STORE_TOO_NEW":
    case "STORE_TX_ENDED":
    case "STORE_UNAVAILABLE":
    case "ADDRESS_FILE":
    case "LISTEN_FAILED":
    case "LOG_FILE":
    case "STATE_DIRECTORY":
    case "STATE_INSECURE":
    case "TLS_BAD_PEM":
    case "TLS_CERT_INSECURE":
    case "TLS_IDENTITY":
    case "TLS_IO":
    case "TLS_KEY_INSECURE":
    case "TLS_MISSING":
    case "TLS_NO_KEY":
    case "TLS_UNREADABLE":
      return EXIT.FAILURE;
    default: {
      const unhandled: never = code;
      return unhandled;
    }
  }
}

/** The `-json` option of the tools that act: one JSON object of the outcome on stdout. */
export function jsonOption(help: string, group: string): DocumentedOption {
  return { name: "json", min: 1, value: false, help, group };
}

/**
 * Runs a tool's work; with `json`, a failure is also said on stdout as one
 * JSON object, `{"outcome": "error", "exitCode", "code", "message"}` (the
 * line on stderr stays), so a script reading stdout always gets an object.
 */
export async function withJsonFailure(
  json: boolean,
  io: Io,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (json && err instanceof CondorError && !(err instanceof UsageError)) {
      const exitCode = targetExitCode(err, io);
      await io.out(
        JSON.stringify({ outcome: "error", exitCode, code: err.code, message: err.message }) +
          "\n",
      );
    }
    throw err;
  }
}

/**
 * Rewrites a daemon's refusal of a decision on request `id` into one clear
 * line: unknown request, no longer pending, or not allowed. Keeps the code
 * and status (so the exit code stays right); other errors pass unchanged.
 */
export function decisionError(
  err: unknown,
  verb: "approve" | "deny",
  id: string,
  address: string,
  caller?: string,
): unknown {
  if (!(err instanceof DaemonError) || err.status === undefined) return err;
  const reason = err.reason;
  let message: string | undefined;
  if (err.status === 404) {
    message = `the daemon at ${address} knows no request with that ID`;
  } else if (err.status === 409) {
    message =
      `it is no longer pending (already approved or denied, expired, or withdrawn by the requester)`;
  } else if (err.status === 403 && err.code === "NOT_AUTHORIZED") {
    message = `insufficient privilege${asCaller(caller)}: only an administrator ` +
      `(ALLOW_ADMINISTRATOR) may ${verb} a request for an identity other than the caller's ` +
      `(daemon said: ${reason})`;
  } else if (err.status === 401 || err.status === 403) {
    message = `not authorized${asCaller(caller)} (daemon said: ${reason})`;
  }
  if (message === undefined) return tidyRefusal(err, caller);
  return new DaemonError(err.code, `Cannot ${verb} request ${id}: ${message}`, err.status, {
    cause: err,
  });
}

/**
 * Drops the daemon's own "Cannot <action>: " from a refusal's reason when the
 * client's message already says what could not be done, so the line reads
 * `Cannot install auto-approval rule at ADDRESS: "x" does not have ...`.
 * Anything else passes unchanged.
 */
export function tidyRefusal(err: unknown, caller?: string): unknown {
  if (!(err instanceof DaemonError) || err.status === undefined) return err;
  const reason = err.reason;
  const repeated = /^Cannot [^:]+: /.exec(reason);
  const refused = err.status === 401 || err.status === 403;
  if ((!repeated || reason === err.message) && !(refused && caller)) return err;
  const tidied = repeated && reason !== err.message ? reason.slice(repeated[0].length) : reason;
  const actingAs = refused && caller ? ` (acting as ${caller})` : "";
  return new DaemonError(
    err.code,
    err.message.slice(0, err.message.length - reason.length) + tidied + actingAs,
    err.status,
    { cause: err, reason: tidied + actingAs },
  );
}

/**
 * " (asked as WHO)" after a daemon's "nothing pending": an administrator
 * sees every request, anyone else only those for their own identity, so
 * the answer depends on who asked. Nothing when no credential was used.
 */
export function askedAs(caller: string | undefined): string {
  return caller === undefined ? "" : ` (asked as ${caller})`;
}

/** " for WHO" for a refusal, or nothing when the caller is unknown. */
function asCaller(caller: string | undefined): string {
  return caller === undefined ? "" : ` for ${caller}`;
}

/** Parses `-reqid`: exactly 7 digits, as the daemon prints request IDs. Throws UsageError. */
export function parseRequestId(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!REQUEST_ID_PATTERN.test(text)) {
    throw new UsageError(`Invalid value for -reqid: "${text}" is not a request ID (7 digits)`);
  }
  return text;
}
