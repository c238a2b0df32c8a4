/**
 * Starting and stopping condor_tokend: settings, signing key, state
 * database, TLS identity, the HTTP server (src/server/http_server.ts), the
 * address file, the expiry sweep, and a clean shutdown. Writes nothing to
 * the terminal: every line goes through the `log` dependency.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import type { DaemonAd, DaemonInfo } from "../api/protocol.ts";
import { type Clock, realClock } from "../clock.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { CondorError, ConfigError, KeyError } from "../errors.ts";
import { createKeyFileIfMissing, POOL_KEY_ID } from "../token/signing_key.ts";
import { mintToken } from "../token/idtoken.ts";
import { writeFileAtomically } from "./_atomic_file.ts";
import { type AdSender, type Advertiser, startAdvertiser } from "./advertiser.ts";
import { type AuthPolicy, cachedKeyResolver } from "./auth.ts";
import { checkTlsIdentity, loadTlsIdentity, type TlsIdentity } from "./certificate.ts";
import { DaemonDirectory } from "./directory.ts";
import { createHandler, type Handler, MAX_BODY_BYTES } from "./handler.ts";
import { Notifier, type NotifyTarget, notifyTarget } from "./notifier.ts";
import { type ServerLimits, startHttpServer } from "./http_server.ts";
import { Metrics } from "./metrics.ts";
import { RateLimiter } from "./rate_limit.ts";
import { applySettings } from "./reconfigure.ts";
import { TokenRequests } from "./requests.ts";
import { canonicalPeer, parseIp, peerGroup } from "./rules.ts";
import { type ConnectionSettings, type TokendSettings, tokendSettings } from "./settings.ts";
import { checkBeforeStart, checkIssuerKey } from "./start_checks.ts";
import { createStateDirectory } from "./state_directory.ts";
import { openStore, type Store } from "./store/store.ts";
import { Waiters } from "./waiters.ts";

/** How often live requests are checked for expiry, in milliseconds. */
const SWEEP_INTERVAL_MS = 5_000;

/** What startTokend needs. */
export interface TokendOptions {
  config: CondorConfig;
  /** `-port N`; 0 takes a free port. Default: the port of COLLECTOR_HOST. */
  port?: number;
  /** The clock (src/clock.ts; a fake one in tests); the real one by default. */
  clock?: Clock;
  /** One line per event; the CLI prints them on stderr. */
  log: (line: string) => void;
  /** The environment (the PG* variables of a PostgreSQL database); none by default. */
  env?: (name: string) => string | undefined;
  /**
   * How this daemon's ad reaches the collector, built from the
   * configuration only when the daemon advertises: the tools' own trust
   * rules (src/client/ad_sender.ts), so the DAEMON credential the ad
   * carries goes only to a collector that proved itself. A daemon that
   * must advertise and has no sender refuses to start.
   */
  adSender?: (config: CondorConfig) => Promise<AdSender>;
}

/** A running daemon; disposing of it shuts it down (`await using tokend = ...`). */
export interface Tokend extends AsyncDisposable {
  /** Base URL, e.g. `https://127.0.0.1:40123`. */
  url: string;
  /** The address the daemon listens on. */
  addr: Deno.NetAddr;
  /** `sha256:AB:...` of the certificate; undefined over plain HTTP. */
  fingerprint: string | undefined;
  /** The certificate chain presented; undefined over plain HTTP. */
  certPem: string | undefined;
  settings: TokendSettings;
  /** The request handler (for tests that call it directly). */
  handler: Handler;
  /**
   * Runs the expiry sweep now (tests with a fake clock); undefined when
   * another daemon sharing the store was sweeping.
   */
  sweep(): Promise<number | undefined>;
  /** Resolves once the daemon has stopped. */
  finished: Promise<void>;
  /** Stops accepting, answers waiting polls, finishes in-flight calls, closes the store. */
  shutdown(): Promise<void>;
  /**
   * Takes a re-read configuration (SIGHUP): applies what can change live
   * (reconfigure.ts), reloads the TLS certificate and key from disk (a bad
   * new pair keeps the old one), and logs one line saying what changed, plus
   * a warning naming what waits for a restart. Never throws for a bad
   * configuration: the running one stays.
   */
  reconfigure(config: CondorConfig): Promise<void>;
}

/**
 * Starts the daemon, in this order: reads the settings; checks every file
 * it is configured to use (signing keys, state directory and database,
 * TLS files, address file; see start_checks.ts) and that the port can be
 * bound, creating nothing; only then creates what is missing (the state
 * directory, a new database, a POOL key with a WARNING line, a
 * self-signed certificate), opens the database, listens and writes the
 * address file. Throws a CondorError with a clear message on any of these.
 * Needs --allow-net, --allow-read, --allow-write, --allow-sys=uid.
 */
export async function startTokend(options: TokendOptions): Promise<Tokend> {
  const log = options.log;
  const clock = options.clock ?? realClock;
  const now = () => clock.now();
  const settings = tokendSettings(options.config, { port: options.port });

  // 1. Check everything; create nothing.
  const plan = await checkBeforeStart(settings);
  // TOKEND_NOTIFY_SECRET_FILE and TOKEND_NOTIFY_CA_FILE: read now, so a bad one stops the start.
  const target = await notifyTarget(settings.notify);

  // 2. Bind the port: a busy port or a wrong NETWORK_INTERFACE fails here,
  // before anything is created. The server serves on this listener once
  // there is a TLS identity (a self-signed one is made in step 3).
  const listener = bind(settings);

  // 3. Create what is missing, and open.
  const { state } = plan;
  let store: Store;
  try {
    if (!state.exists) await createStateDirectory(state);
    if (settings.database !== undefined) {
      store = await openStore(settings.database, {
        env: options.env,
        passwordFile: settings.databasePasswordFile,
        log,
      });
      log(`using state database ${store.location}`);
    } else {
      if (!state.databaseExists) log(`creating new state database ${state.databasePath}`);
      store = await openStore(state.databasePath);
    }
  } catch (err) {
    listener.close();
    throw err;
  }
  try {
    if (plan.createPoolKey && await createKeyFileIfMissing(settings.keys.poolKeyFile)) {
      log(
        `WARNING: created a new POOL signing key ${settings.keys.poolKeyFile} because SEC_TOKEN_POOL_SIGNING_KEY_FILE named no file; tokens this daemon issues will not be accepted by a pool that has a different POOL key (if the pool has one, stop the daemon, remove this file and point SEC_TOKEN_POOL_SIGNING_KEY_FILE at the pool's key)`,
      );
    }
    if (plan.createPoolKey && settings.issuerKey === POOL_KEY_ID) await checkIssuerKey(settings);
    const reread = (config: CondorConfig) => tokendSettings(config, { port: options.port });
    // Built once the daemon's own certificate exists: AUTH_SSL_CLIENT_CAFILE may name it.
    const sendAd = () => adSenderFor(options, settings.collectorUrl!);
    return await serve(settings, reread, listener, store, target, now, log, sendAd);
  } catch (err) {
    closeQuietly(listener);
    await store.close();
    throw err;
  }
}

function closeQuietly(listener: Deno.Listener): void {
  try {
    listener.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.BadResource)) throw err; // the server closed it already
  }
}

/**
 * Binds NETWORK_INTERFACE (or "::", both families on a dual-stack host,
 * else "0.0.0.0") at the port. Throws a CondorError LISTEN_FAILED naming
 * the address and the reason. Needs --allow-net.
 */
function bind(settings: TokendSettings): Deno.TcpListener {
  const hostnames = settings.networkInterface ? [settings.networkInterface] : ["::", "0.0.0.0"];
  for (const [i, hostname] of hostnames.entries()) {
    try {
      return Deno.listen({ hostname, port: settings.port });
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse || i === hostnames.length - 1) {
        throw listenError(hostname, settings.port, err);
      }
    }
  }
  throw new CondorError("LISTEN_FAILED", "Cannot listen: no address to listen on");
}

async function serve(
  settings: TokendSettings,
  reread: (config: CondorConfig) => TokendSettings,
  listener: Deno.TcpListener,
  store: Store,
  target: NotifyTarget | undefined,
  now: () => number,
  log: (line: string) => void,
  sendAd: () => Promise<AdSender>,
): Promise<Tokend> {
  let tls: TlsIdentity | undefined;
  if (settings.allowPlainHttp) {
    log(
      "WARNING: TOKEND_ALLOW_PLAIN_HTTP is true: serving plain HTTP without TLS; tokens and secrets cross the network unencrypted unless a TLS proxy is in front",
    );
  } else {
    tls = await tlsIdentityOf(settings);
    log(
      tls.created
        ? `created self-signed certificate ${tls.certFile}`
        : `using certificate ${tls.certFile}`,
    );
  }

  const keys = cachedKeyResolver(settings.keys);
  const enqueueLimiter = new RateLimiter(settings.enqueueRatePerMinute, now);
  const collectLimiter = new RateLimiter(settings.collectRatePerMinute, now);
  const policy: AuthPolicy = {
    trustDomain: settings.trustDomain,
    allowAdministrator: settings.allowAdministrator,
    allowDaemon: settings.allowDaemon,
    poolUsernameEquivalent: settings.poolUsernameEquivalent,
  };
  const waiters = new Waiters();
  const metrics = new Metrics();
  let url = "";
  const notifier = new Notifier({
    metrics,
    log,
    daemon: () => ({ name: settings.daemonName, approveTarget: approveTarget(settings, url) }),
  }, target);
  if (target) log(`sending notifications to ${target.url.origin}`);
  const requests = new TokenRequests({
    store,
    waiters,
    metrics,
    settings,
    keys,
    now,
    log,
    notify: (note) => notifier.send(note),
  });
  // Changes other daemons on the same database commit wake this daemon's polls.
  store.watch((id) => id === undefined ? waiters.notifyAll() : waiters.notify(id));
  const selfAd = (): DaemonAd => ({
    name: settings.daemonName,
    type: settings.daemonType,
    address: url,
  });
  const directory = new DaemonDirectory({
    store,
    self: selfAd,
    policy,
    defaultLifetime: settings.daemonAdLifetime,
    now: () => Math.floor(now() / 1000),
  });
  const handler = createHandler({
    requests,
    directory,
    store,
    waiters,
    metrics,
    keys,
    policy,
    info: cachedInfo(settings, keys, now),
    notifyQueue: () => notifier.size,
    enqueueLimiter,
    collectLimiter,
    plainHttp: settings.allowPlainHttp,
    now,
    log,
  });

  // One object the server reads at every connection, so SIGHUP can change it.
  const limits = serverLimits(settings.connections);
  const server = startHttpServer({
    listener,
    tls: tls && { certPem: tls.certPem, keyPem: tls.keyPem },
    handler,
    limits,
    // Counted as rate limits are: by address, an IPv6 host by its /64.
    peerKey: (addr) => peerGroup(canonicalPeer(addr.hostname)),
    counters: metrics,
    log,
  });
  const addr = server.addr;
  url = `${tls ? "https" : "http"}://${urlHost(settings)}:${addr.port}`;

  let sweeping: Promise<void> = Promise.resolve();
  const sweep = () =>
    sweeping = sweeping.then(async () => {
      try {
        const expired = await requests.sweep();
        if (expired !== undefined && expired > 0) log(`expired ${expired} token request(s)`);
      } catch (err) {
        log(`error during expiry sweep: ${err instanceof Error ? err.message : err}`);
      }
    });
  const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
  await requests.sweep();

  let stopping: Promise<void> | undefined;
  let advertiser: Advertiser | undefined;
  const issuerKey = async () => {
    const key = await keys(settings.issuerKey);
    if (!key) {
      throw new KeyError("KEY_MISSING", `Cannot sign: key "${settings.issuerKey}" is not readable`);
    }
    return key;
  };
  const shutdown = () => {
    stopping ??= (async () => {
      clearInterval(sweeper);
      await advertiser?.stop();
      waiters.close();
      await server.shutdown();
      await sweeping;
      await notifier.close();
      await store.close();
      log("stopped");
    })();
    return stopping;
  };

  try {
    if (settings.addressFile) await writeAddressFile(settings.addressFile, url);
    if (advertises(settings)) {
      advertiser = startAdvertiser({
        collectorUrl: settings.collectorUrl!,
        ad: selfAd,
        lifetime: settings.daemonAdLifetime,
        credential: async () =>
          (await mintToken(await issuerKey(), {
            identity: `condor@${settings.trustDomain}`,
            issuer: settings.trustDomain,
            now: Math.floor(now() / 1000),
            lifetime: 300,
            authz: ["DAEMON"],
          })).token,
        send: await sendAd(),
        log,
      });
    }
  } catch (err) {
    await shutdown();
    throw err;
  }
  log(`listening on ${url}`);
  if (tls) log(`SHA-256 fingerprint: ${tls.fingerprint}`);
  return {
    url,
    addr,
    get fingerprint() {
      return tls?.fingerprint;
    },
    get certPem() {
      return tls?.certPem;
    },
    settings,
    handler,
    sweep: () => requests.sweep(),
    [Symbol.asyncDispose]: shutdown,
    reconfigure: async (config) => {
      let next: TokendSettings;
      try {
        next = reread(config);
      } catch (err) {
        log(
          `SIGHUP: keeping the running configuration: ${err instanceof Error ? err.message : err}`,
        );
        return;
      }
      if (next.notify.url !== undefined || settings.notify.url !== undefined) {
        // Secret and CA files are read again even when the knobs did not change.
        try {
          notifier.configure(await notifyTarget(next.notify));
          if (JSON.stringify(next.notify) === JSON.stringify(settings.notify)) {
            next.notify = settings.notify;
          }
        } catch (err) {
          log(
            `SIGHUP: keeping the running notification settings: ${
              err instanceof Error ? err.message : err
            }`,
          );
          next.notify = settings.notify;
        }
      }
      const { applied, needRestart } = applySettings(settings, next);
      policy.allowAdministrator = settings.allowAdministrator;
      policy.allowDaemon = settings.allowDaemon;
      policy.poolUsernameEquivalent = settings.poolUsernameEquivalent;
      enqueueLimiter.setRate(settings.enqueueRatePerMinute);
      collectLimiter.setRate(settings.collectRatePerMinute);
      Object.assign(limits, serverLimits(settings.connections));
      if (tls) {
        try {
          // The same checks as at start: a key others could read is not taken.
          await checkTlsIdentity(
            { certFiles: settings.certFiles, keyFiles: settings.keyFiles },
            settings.stateDirectory,
          );
          const fresh = await tlsIdentityOf(settings);
          if (fresh.fingerprint !== tls.fingerprint) {
            server.setTlsIdentity(fresh);
            tls = fresh;
            applied.push(`the TLS certificate ${fresh.certFile} (${fresh.fingerprint})`);
          }
        } catch (err) {
          log(
            `SIGHUP: keeping the TLS certificate ${tls.fingerprint}: ${
              err instanceof Error ? err.message : err
            }`,
          );
        }
      }
      log(
        `reconfigured on SIGHUP: ${
          applied.length > 0 ? `applied ${applied.join(", ")}` : "nothing changed"
        }`,
      );
      if (needRestart.length > 0) {
        log(
          `WARNING: ${
            needRestart.join(", ")
          } changed in the configuration but take effect only when condor_tokend restarts`,
        );
      }
    },
    finished: server.finished.then(() => stopping).then(() => {}),
    shutdown,
  };
}

/** The daemon's TLS identity: the configured pair, or its self-signed one in the state directory. */
async function tlsIdentityOf(settings: TokendSettings): Promise<TlsIdentity> {
  return await loadTlsIdentity(
    { certFiles: settings.certFiles, keyFiles: settings.keyFiles },
    {
      stateDirectory: settings.stateDirectory,
      dnsNames: [settings.fullHostname, settings.hostname, "localhost"],
      ipAddresses: [
        "127.0.0.1",
        "::1",
        ...(settings.networkInterface && parseIp(settings.networkInterface)
          ? [settings.networkInterface]
          : []),
      ],
      // TLS clients check validity against the real clock, never a test's fake one.
      now: Date.now(),
    },
  );
}

/** The server's limits from the knobs: deadlines in milliseconds, the handler's body limit. */
function serverLimits(connections: ConnectionSettings): ServerLimits {
  return {
    maxConnections: connections.maxConnections,
    maxConnectionsPerPeer: connections.maxConnectionsPerPeer,
    handshakeMs: connections.handshakeTimeout * 1000,
    headerMs: connections.headerTimeout * 1000,
    bodyMs: connections.bodyTimeout * 1000,
    idleMs: connections.idleTimeout * 1000,
    writeMs: connections.writeTimeout * 1000,
    maxHeadBytes: connections.maxHeaderBytes,
    maxBodyBytes: MAX_BODY_BYTES,
  };
}

function listenError(hostname: string, port: number, err: unknown): CondorError {
  const reason = err instanceof Deno.errors.AddrInUse
    ? "the address is already in use"
    : err instanceof Deno.errors.AddrNotAvailable
    ? "no such local address (check NETWORK_INTERFACE)"
    : err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable
    ? "permission denied"
    : err instanceof Error
    ? err.message
    : String(err);
  return new CondorError("LISTEN_FAILED", `Cannot listen on ${hostname}:${port}: ${reason}`, {
    cause: err,
  });
}

/** The host part of the daemon's URL: the configured address, or FULL_HOSTNAME for all interfaces. */
function urlHost(settings: TokendSettings): string {
  const host = settings.networkInterface ?? settings.fullHostname;
  return parseIp(host)?.length === 16 ? `[${host}]` : host;
}

/** Whether this daemon keeps itself listed at a collector. */
function advertises(settings: TokendSettings): boolean {
  return settings.advertise && Boolean(settings.collectorUrl) &&
    settings.daemonType !== "COLLECTOR";
}

/** The sender of this daemon's ads; there is no default that would skip the trust rules. */
async function adSenderFor(options: TokendOptions, collectorUrl: string): Promise<AdSender> {
  if (options.adSender === undefined) {
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot advertise to the collector at ${collectorUrl}: no trusted way to reach it was configured; set TOKEND_ADVERTISE = false or start the daemon as condor_tokend`,
    );
  }
  return await options.adSender(options.config);
}

/** Writes the listen URL atomically and durably. Needs --allow-read and --allow-write. */
async function writeAddressFile(path: string, url: string): Promise<void> {
  await writeFileAtomically(path, url + "\n", {
    mode: 0o644,
    code: "ADDRESS_FILE",
    label: "TOKEND_ADDRESS_FILE",
  });
}

/**
 * The target options of `condor_token_request_approve` that reach this
 * daemon, for notifications: `-pool HOST:PORT` of a collector-role daemon;
 * for another type, its name and type at the pool's collector.
 */
function approveTarget(settings: TokendSettings, url: string): string {
  const self = new URL(url);
  if (settings.daemonType === "COLLECTOR") {
    return `-pool ${self.hostname}:${self.port || (self.protocol === "https:" ? 443 : 80)}`;
  }
  const collector = settings.collectorUrl ? new URL(settings.collectorUrl) : undefined;
  return `${collector ? `-pool ${collector.host} ` : ""}-name ${
    JSON.stringify(settings.daemonName)
  } -type ${settings.daemonType}`;
}

/** GET /v1/info, with the list of held keys refreshed at most once a minute. */
function cachedInfo(
  settings: TokendSettings,
  keys: ReturnType<typeof cachedKeyResolver>,
  now: () => number,
): () => Promise<DaemonInfo> {
  let cached: { at: number; names: string[] } | undefined;
  return async () => {
    if (!cached || performance.now() - cached.at > 60_000) {
      cached = { at: performance.now(), names: await heldKeyNames(settings, keys) };
    }
    return {
      version: denoJson.version,
      trustDomain: settings.trustDomain,
      issuerKeys: cached.names,
      name: settings.daemonName,
      type: settings.daemonType,
      time: Math.floor(now() / 1000),
    };
  };
}

async function heldKeyNames(
  settings: TokendSettings,
  keys: ReturnType<typeof cachedKeyResolver>,
): Promise<string[]> {
  const names = new Set<string>();
  if (await keys(POOL_KEY_ID)) names.add(POOL_KEY_ID);
  try {
    for await (const entry of Deno.readDir(settings.keys.passwordDirectory)) {
      if (!entry.isFile || entry.name === POOL_KEY_ID || entry.name.startsWith(".")) continue;
      if (await keys(entry.name)) names.add(entry.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied)) {
      throw err;
    }
  }
  return [...names].sort();
}
