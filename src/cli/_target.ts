/**
 * What the authenticated network tools (list, approve, deny, auto-approve,
 * fetch) share: the target options `-pool`, `-name`, `-type`, `-trust`,
 * `-debug` and `-help`, and opening a trusted, credentialed connection to
 * the daemon they name, through the same client path as the requester
 * (trust policy from the configuration, then locate, then connect).
 */
import { REQUEST_ID_PATTERN } from "../api/protocol.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { type CondorError, ConfigError, DaemonError, TrustError, UsageError } from "../errors.ts";
import { connectDaemon, TRUST_KNOB, trustPolicyFromConfig } from "../client/connect.ts";
import { credentialSource, tokenDirectoriesFor } from "../client/credentials.ts";
import { DAEMON_ERRORS, isNotAuthorized, type TokenDaemonClient } from "../client/daemon_client.ts";
import {
  collectorAddresses,
  DAEMON_TYPES,
  locateDaemon,
  parseDaemonAddress,
  parseDaemonType,
} from "../client/locate.ts";
import { parseFingerprint, type TrustPolicy, type TrustQuestion } from "../client/trust.ts";
import type { KeyLocations } from "../token/signing_key.ts";
import { keyLocations, tokenDirectory, toolConfig } from "./_config.ts";
import { type OptionSpec, type ParsedOptions, single } from "./_options.ts";
import type { DebugLog } from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

/**
 * The target options, to be listed after a tool's own (the first matching
 * prefix wins, so `-n` stays `-name` and `-t` stays `-type`, as in HTCondor).
 */
export const TARGET_SPECS: readonly OptionSpec[] = [
  { name: "pool", min: 1, value: true },
  { name: "name", min: 1, value: true },
  { name: "type", min: 1, value: true },
  { name: "debug", min: 5, value: false, exact: true },
  { name: "help", min: 1, value: false },
  { name: "trust", min: 2, value: true, repeat: true },
];

/** Usage lines for the target options, shared by every tool's usage text. */
export function targetUsage(defaultType: string): string {
  return `Target options:
    -pool  <HOST[:PORT]>  Use this pool's collector instead of COLLECTOR_HOST
                          (also an https:// URL; the port defaults to 9618)
    -name  <NAME>         Talk to the daemon of this name in the pool
    -type  <TYPE>         Talk to a daemon of this type (default ${defaultType})
    -trust <sha256:...>   Trust a daemon whose self-signed certificate has this
                          SHA-256 fingerprint (repeatable; knob ${TRUST_KNOB})
Other options:
    -debug                Print debugging information (TOOL_DEBUG) on stderr
    -help                 Print this message
`;
}

/** Where to connect, as given on the command line. */
export interface TargetOptions {
  pool: URL | undefined;
  name: string | undefined;
  /** Upper case; undefined when `-type` was not given. */
  type: string | undefined;
  /** Normalised `sha256:AB:...` fingerprints. */
  trust: string[];
  debug: boolean;
}

/** Reads the target options from parsed options. Throws UsageError. */
export function parseTarget(parsed: ParsedOptions): TargetOptions {
  const poolText = single(parsed, "pool");
  const pool = poolText === undefined ? undefined : parseDaemonAddress(poolText);
  if (poolText !== undefined && !pool) {
    throw new UsageError(
      `Invalid value for -pool: "${poolText}" is not a host, host:port or https:// address`,
    );
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
  return { pool, name, type, trust, debug: parsed.has("debug") };
}

/** A connected, credentialed client and what the tool needs around it. */
export interface Session {
  client: TokenDaemonClient;
  config: CondorConfig;
  debug: DebugLog;
}

/**
 * Loads the configuration, locates the daemon (trying each type of `types`
 * in turn while the pool lists no such daemon; the target's `-type` when
 * given), decides trust in it, and returns a client whose authenticated calls
 * present a token from SEC_TOKEN_DIRECTORY (and SEC_TOKEN_SYSTEM_DIRECTORY for
 * root) that the daemon accepts, else one minted from a readable signing key.
 * The caller closes the client. Needs --allow-net, --allow-read,
 * --allow-write of the known-hosts file, --allow-env, --allow-sys=hostname.
 */
export async function openSession(
  target: TargetOptions,
  io: Io,
  types: readonly string[],
): Promise<Session> {
  const { config, debug } = await toolConfig(io, target.debug);
  const keys = optionalKeyLocations(config);
  const credential = credentialSource({
    tokenDirectories: tokenDirectoriesFor(
      optionalTokenDirectory(config),
      config.get("SEC_TOKEN_SYSTEM_DIRECTORY")?.trim() || undefined,
    ),
    keys,
    now: () => io.now(),
    trace: (message) => debug(message, "D_SECURITY"),
  });
  let policy: TrustPolicy = await trustPolicyFromConfig(config, {
    now: () => io.now(),
    pins: target.trust,
    ask: io.stdinIsTerminal && io.stderrIsTerminal ? (q) => askTrust(io, q) : undefined,
  });
  const connect = async (url: URL) => {
    const { client, trust } = await connectDaemon(url, policy, { credential, signal: io.signal });
    await debug(
      `trusting ${client.address} (${trust.fingerprint}): basis ${trust.basis}`,
      "D_SECURITY",
    );
    // Accepted once at the prompt is enough for this run, even without a known-hosts file.
    if (trust.basis === "accepted") {
      policy = { ...policy, pins: [...policy.pins, trust.fingerprint] };
    }
    return client;
  };
  const collectors = collectorAddresses(target.pool, config.get("COLLECTOR_HOST"));
  const tried = target.type !== undefined ? [target.type] : types;
  let firstMiss: DaemonError | undefined;
  for (const type of tried) {
    try {
      const { client } = await locateDaemon({
        collectors,
        name: target.name,
        type,
        connect,
        trace: debug,
        signal: io.signal,
      });
      await debug(`talking to the daemon at ${client.address}`);
      return { client, config, debug };
    } catch (err) {
      if (!(err instanceof DaemonError) || err.code !== DAEMON_ERRORS.NOT_FOUND) throw err;
      firstMiss ??= err;
      await debug(`${err.message}; trying the next daemon type`);
    }
  }
  throw firstMiss!;
}

/** SEC_TOKEN_DIRECTORY, or undefined when it cannot be worked out (no HOME). */
function optionalTokenDirectory(config: CondorConfig): string | undefined {
  try {
    return tokenDirectory(config);
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
}

/** The signing key files, or undefined when the configuration names none. */
function optionalKeyLocations(config: CondorConfig): KeyLocations | undefined {
  try {
    return keyLocations(config);
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
}

/** Asks on the terminal whether to trust a self-signed daemon; true only for "yes". */
async function askTrust(io: Io, q: TrustQuestion): Promise<boolean> {
  await io.err(
    `The daemon at ${q.address} has a self-signed certificate not yet trusted here.\n` +
      `    Certificate names:   ${q.names.join(", ") || "(none)"}\n` +
      `    SHA-256 fingerprint: ${q.fingerprint}\n` +
      `Check the fingerprint against the one in the daemon's log before you trust it.\n` +
      `Trust it${q.knownHostsFile ? ` (remembered in ${q.knownHostsFile})` : ""}? Type 'yes': `,
  );
  return (await readAnswer(io)) === "yes";
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
 * Exit codes of the administrator's tools: 7 daemon unreachable, 8 not
 * trusted, 9 no usable credential or refused (401/403), 130/143
 * interrupted, 1 anything else (unknown request, request no longer pending).
 */
export function targetExitCode(err: CondorError, io: Io): number {
  const interrupted = interruptedExitCode(io);
  if (interrupted !== undefined) return interrupted;
  if (err instanceof TrustError) return EXIT.UNTRUSTED;
  if (err instanceof DaemonError) {
    if (err.code === DAEMON_ERRORS.UNREACHABLE || err.code === DAEMON_ERRORS.TIMEOUT) {
      return EXIT.UNREACHABLE;
    }
    if (err.code === DAEMON_ERRORS.TLS) return EXIT.UNTRUSTED;
    if (err.code === DAEMON_ERRORS.NO_CREDENTIALS || isNotAuthorized(err)) {
      return EXIT.NOT_AUTHORIZED;
    }
  }
  return EXIT.FAILURE;
}

/** The daemon's own reason inside a DaemonError message (`Cannot ... at ADDRESS: reason`). */
function daemonReason(err: DaemonError, address: string): string {
  const marker = ` at ${address}: `;
  const at = err.message.indexOf(marker);
  return at < 0 ? err.message : err.message.slice(at + marker.length);
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
): unknown {
  if (!(err instanceof DaemonError) || err.status === undefined) return err;
  const reason = daemonReason(err, address);
  let message: string | undefined;
  if (err.status === 404) {
    message = `the daemon at ${address} knows no request with that ID`;
  } else if (err.status === 409) {
    message =
      `it is no longer pending (already approved or denied, expired, or withdrawn by the requester)`;
  } else if (err.status === 403 && err.code === "NOT_AUTHORIZED") {
    message = `insufficient privilege: only an administrator (ALLOW_ADMINISTRATOR) may ${verb} ` +
      `a request for an identity other than the caller's (daemon said: ${reason})`;
  } else if (err.status === 401 || err.status === 403) {
    message = `not authorized (daemon said: ${reason})`;
  }
  if (message === undefined) return tidyRefusal(err, address);
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
export function tidyRefusal(err: unknown, address: string): unknown {
  if (!(err instanceof DaemonError) || err.status === undefined) return err;
  const reason = daemonReason(err, address);
  const repeated = /^Cannot [^:]+: /.exec(reason);
  if (!repeated || reason === err.message) return err;
  const message = err.message.slice(0, err.message.length - reason.length) +
    reason.slice(repeated[0].length);
  return new DaemonError(err.code, message, err.status, { cause: err });
}

/** Parses `-reqid`: exactly 7 digits, as the daemon prints request IDs. Throws UsageError. */
export function parseRequestId(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!REQUEST_ID_PATTERN.test(text)) {
    throw new UsageError(`Invalid value for -reqid: "${text}" is not a request ID (7 digits)`);
  }
  return text;
}
