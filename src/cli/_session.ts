/**
 * A network tool's session with its daemon: the configuration's client
 * settings, then locate (or go straight to a resumed request's daemon),
 * connect, and decide trust, asking on a terminal before trusting a
 * self-signed daemon; the client it returns presents a credential unless
 * the tool needs none (the requester).
 *
 * @module
 */
import type { DaemonAd } from "../api/protocol.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { DaemonError } from "../errors.ts";
import { connectDaemon, trustPolicyFrom, TrustSessions } from "../client/connect.ts";
import { tokenDirectoriesFor, TrackedCredential } from "../client/credentials.ts";
import { DAEMON_ERRORS, type TokenDaemonClient } from "../client/daemon_client.ts";
import {
  collectorAddresses,
  displayAddress,
  type Located,
  locateDaemon,
  parseDaemonAddress,
} from "../client/locate.ts";
import { failoverClient, isUnreachable } from "../client/failover_client.ts";
import { knownHostKey } from "../client/known_hosts.ts";
import { clientSettingsFromConfig, TRUST_KNOB } from "../client/settings.ts";
import {
  judgeListed,
  type TrustJudgement,
  type TrustPolicy,
  type TrustQuestion,
} from "../client/trust.ts";
import { toolConfig, type ToolSetup } from "./_config.ts";
import type { TargetOptions } from "./_target_options.ts";
import type { DebugLog } from "./_tool.ts";
import type { Io } from "./io.ts";

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
  /**
   * The identity the daemon knows the tool as: what an HTCondor daemon said
   * the session authenticated as, else the identity of the credential
   * presented; undefined before either is known. A token the daemon signs
   * "for ourselves" (condor_token_fetch) must be for exactly this identity.
   */
  identity: () => string | undefined;
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
  const settings = clientSettingsFromConfig(config, { credentials: options.credentials });
  const credentials = settings.credentials;
  const credential = credentials === undefined ? undefined : new TrackedCredential({
    tokenDirectories: tokenDirectoriesFor(
      credentials.tokenDirectory,
      credentials.systemTokenDirectory,
    ),
    exclude: credentials.excludedFileNames,
    keys: credentials.keys,
    now: () => io.clock.now(),
    trace: (message) => debug(message, "D_SECURITY"),
    warn: (message) => io.err(`${options.tool}: ${message}\n`),
  });
  const policy: TrustPolicy = await trustPolicyFrom(settings.trust, {
    now: () => io.clock.now(),
    pins: target.trust,
    pinsFor: (key) =>
      (options.pins ?? []).filter((p) => hostKeyOf(p.address) === key).map((p) => p.fingerprint),
    ask: io.stdinIsTerminal && io.stderrIsTerminal ? (q) => askTrust(io, q) : undefined,
  });
  const cedar = settings.cedar;
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
      identity: () => client.authenticatedAs() ?? credential?.used?.identity,
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
  if (settings.collectorPort instanceof Error) throw settings.collectorPort;
  const collectors = collectorAddresses(
    target.pool,
    settings.collectorHost,
    settings.collectorPort,
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
