/**
 * Starting and stopping condor_tokend: settings, signing key, state
 * database, TLS identity, the one `Deno.serve`, the address file, the expiry
 * sweep, and a clean shutdown. Writes nothing to the terminal: every line
 * goes through the `log` dependency.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import type { DaemonAd, DaemonInfo } from "../api/protocol.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { CondorError, KeyError } from "../errors.ts";
import { createKeyFileIfMissing, POOL_KEY_ID } from "../token/signing_key.ts";
import { mintToken } from "../token/idtoken.ts";
import { writeFileAtomically } from "./_atomic_file.ts";
import { type Advertiser, startAdvertiser } from "./advertiser.ts";
import { type AuthPolicy, cachedKeyResolver } from "./auth.ts";
import { loadTlsIdentity, type TlsIdentity } from "./certificate.ts";
import { DaemonDirectory } from "./directory.ts";
import { createHandler, type Handler } from "./handler.ts";
import { Metrics } from "./metrics.ts";
import { RateLimiter } from "./rate_limit.ts";
import { TokenRequests } from "./requests.ts";
import { parseIp } from "./rules.ts";
import { type TokendSettings, tokendSettings } from "./settings.ts";
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
  /** Wall clock in milliseconds (a fake one in tests). */
  now?: () => number;
  /** One line per event; the CLI prints them on stderr. */
  log: (line: string) => void;
  /** The environment (the PG* variables of a PostgreSQL database); none by default. */
  env?: (name: string) => string | undefined;
}

/** A running daemon. */
export interface Tokend {
  /** Base URL, e.g. `https://127.0.0.1:40123`. */
  url: string;
  /** The address Deno.serve listens on. */
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
  const now = options.now ?? (() => Date.now());
  const settings = tokendSettings(options.config, { port: options.port });

  // 1. Check everything; create nothing.
  const plan = await checkBeforeStart(settings);

  // 2. Bind the port. The real listener belongs here, before anything is
  // created, once the server layer can bind before it has a TLS identity
  // (the self-signed one is created in step 3); until then a probe makes a
  // busy port or a wrong NETWORK_INTERFACE fail now.
  probeListen(settings);

  // 3. Create what is missing, and open.
  const { state } = plan;
  if (!state.exists) await createStateDirectory(state);
  let store: Store;
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
  try {
    if (plan.createPoolKey && await createKeyFileIfMissing(settings.keys.poolKeyFile)) {
      log(
        `WARNING: created a new POOL signing key ${settings.keys.poolKeyFile} because SEC_TOKEN_POOL_SIGNING_KEY_FILE named no file; tokens this daemon issues will not be accepted by a pool that has a different POOL key (if the pool has one, stop the daemon, remove this file and point SEC_TOKEN_POOL_SIGNING_KEY_FILE at the pool's key)`,
      );
    }
    if (plan.createPoolKey && settings.issuerKey === POOL_KEY_ID) await checkIssuerKey(settings);
    return await serve(settings, store, now, log);
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Binds the listen address and port with a plain TCP listener and closes
 * it at once: a port in use or an address this host does not have fails
 * here, before anything is created, with the message listening would
 * give. Tries the addresses as listenFirst does. Needs --allow-net.
 */
function probeListen(settings: TokendSettings): void {
  const hostnames = settings.networkInterface ? [settings.networkInterface] : ["::", "0.0.0.0"];
  for (const [i, hostname] of hostnames.entries()) {
    try {
      Deno.listen({ hostname, port: settings.port }).close();
      return;
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse || i === hostnames.length - 1) {
        throw listenError(hostname, settings.port, err);
      }
    }
  }
}

async function serve(
  settings: TokendSettings,
  store: Store,
  now: () => number,
  log: (line: string) => void,
): Promise<Tokend> {
  let tls: TlsIdentity | undefined;
  if (settings.allowPlainHttp) {
    log(
      "WARNING: TOKEND_ALLOW_PLAIN_HTTP is true: serving plain HTTP without TLS; tokens and secrets cross the network unencrypted unless a TLS proxy is in front",
    );
  } else {
    tls = await loadTlsIdentity(
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
    log(
      tls.created
        ? `created self-signed certificate ${tls.certFile}`
        : `using certificate ${tls.certFile}`,
    );
  }

  const keys = cachedKeyResolver(settings.keys);
  const policy: AuthPolicy = {
    trustDomain: settings.trustDomain,
    allowAdministrator: settings.allowAdministrator,
    allowDaemon: settings.allowDaemon,
    poolUsernameEquivalent: settings.poolUsernameEquivalent,
  };
  const waiters = new Waiters();
  const metrics = new Metrics();
  const requests = new TokenRequests({ store, waiters, metrics, settings, keys, now, log });
  // Changes other daemons on the same database commit wake this daemon's polls.
  store.watch((id) => id === undefined ? waiters.notifyAll() : waiters.notify(id));
  let url = "";
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
    info: cachedInfo(settings, keys),
    enqueueLimiter: new RateLimiter(settings.enqueueRatePerMinute, now),
    collectLimiter: new RateLimiter(settings.collectRatePerMinute, now),
    plainHttp: settings.allowPlainHttp,
    now,
    log,
  });

  await refuseUntrustworthyRuntime();
  const server = await listenFirst(
    settings.networkInterface ? [settings.networkInterface] : ["::", "0.0.0.0"],
    settings.port,
    tls,
    handler,
  );
  const addr = server.addr as Deno.NetAddr;
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
      await store.close();
      log("stopped");
    })();
    return stopping;
  };

  try {
    if (settings.addressFile) await writeAddressFile(settings.addressFile, url);
    if (settings.advertise && settings.collectorUrl && settings.daemonType !== "COLLECTOR") {
      advertiser = startAdvertiser({
        collectorUrl: settings.collectorUrl,
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
        caCerts: await readCaFiles(settings.clientCaFiles),
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
    fingerprint: tls?.fingerprint,
    certPem: tls?.certPem,
    settings,
    handler,
    sweep: () => requests.sweep(),
    finished: server.finished.then(() => stopping).then(() => {}),
    shutdown,
  };
}

/**
 * Listens on the first of `hostnames` that this host supports: "::" (both
 * IPv6 and IPv4 on a dual-stack host), else "0.0.0.0" where IPv6 is off.
 */
async function listenFirst(
  hostnames: string[],
  port: number,
  tls: TlsIdentity | undefined,
  handler: Handler,
): Promise<Deno.HttpServer<Deno.NetAddr>> {
  for (const [i, hostname] of hostnames.entries()) {
    try {
      return await listen(hostname, port, tls, handler);
    } catch (err) {
      const unsupported = err instanceof CondorError && err.code === "LISTEN_FAILED" &&
        !(err.cause instanceof Deno.errors.AddrInUse);
      if (!unsupported || i === hostnames.length - 1) throw err;
    }
  }
  throw new CondorError("LISTEN_FAILED", "Cannot listen: no address to listen on");
}

/**
 * Refuses to run when the runtime would believe a client's own claim of its
 * address: with DENO_TRUST_PROXY_HEADERS=1 in the environment, Deno.serve
 * takes the peer address from an `x-deno-client-address` request header,
 * which would let anyone match an auto-approval netblock. The variable is
 * not readable under our permissions, so a loopback probe asks the runtime
 * itself. Also catches DENO_SERVE_ADDRESS moving the listener.
 */
async function refuseUntrustworthyRuntime(): Promise<void> {
  const claimed = "192.0.2.1";
  const server = await listen(
    "127.0.0.1",
    0,
    undefined,
    (_req, info) => Promise.resolve(new Response((info.remoteAddr as Deno.NetAddr).hostname ?? "")),
  );
  try {
    // A raw request over loopback TCP: fetch would honour HTTP_PROXY.
    const answer = await rawLoopbackRequest(
      server.addr.port,
      `GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-deno-client-address: ${claimed}:9\r\n` +
        "connection: close\r\n\r\n",
    );
    if (answer.endsWith(`\r\n\r\n${claimed}`)) {
      throw new CondorError(
        "PROXY_HEADERS_TRUSTED",
        "Cannot start: DENO_TRUST_PROXY_HEADERS is set in condor_tokend's environment, which lets any client claim any address and defeat auto-approval netblocks; unset it",
      );
    }
  } finally {
    await server.shutdown();
  }
}

/** Sends `request` to 127.0.0.1:`port` and reads the answer until the server closes (5 s at most). */
async function rawLoopbackRequest(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, 5_000);
  const chunks: Uint8Array[] = [];
  try {
    const bytes = new TextEncoder().encode(request);
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    const buffer = new Uint8Array(4096);
    let total = 0;
    while (total < 65_536) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      total += n;
    }
  } catch (err) {
    // Closed by the timer: answer with what arrived.
    if (!timedOut) throw err;
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
  const decoder = new TextDecoder();
  return chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
}

/**
 * The one Deno.serve. The port is chosen before listening (a free one for
 * port 0) and the bound address checked afterwards, because Deno.serve
 * obeys a DENO_SERVE_ADDRESS in the environment, which must never move the
 * daemon silently.
 */
async function listen(
  hostname: string,
  port: number,
  tls: TlsIdentity | undefined,
  handler: Handler,
): Promise<Deno.HttpServer<Deno.NetAddr>> {
  for (let attempt = 0;; attempt++) {
    let chosen = port;
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      // Inside the try: probing for a free port fails as listening would
      // (a NETWORK_INTERFACE that is no address of this host, say).
      if (port === 0) chosen = freePort(hostname);
      server = Deno.serve({
        hostname,
        port: chosen,
        onListen: () => {},
        ...(tls ? { cert: tls.certPem, key: tls.keyPem } : {}),
      }, handler);
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse && port === 0 && attempt < 5) continue;
      throw listenError(hostname, chosen, err);
    }
    const addr = server.addr;
    if (addr.port !== chosen || !sameHost(addr.hostname, hostname)) {
      await server.shutdown();
      throw new CondorError(
        "LISTEN_OVERRIDDEN",
        `Cannot listen on ${hostname}:${chosen}: the runtime bound ${addr.hostname}:${addr.port} instead; unset DENO_SERVE_ADDRESS in condor_tokend's environment`,
      );
    }
    return server;
  }
}

function freePort(hostname: string): number {
  const probe = Deno.listen({ hostname, port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

function sameHost(bound: string, asked: string): boolean {
  const strip = (h: string) => h.replace(/^\[|\]$/g, "").toLowerCase();
  return strip(bound) === strip(asked) || parseIp(strip(asked)) === undefined;
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

/** Reads the PEM certificates of AUTH_SSL_CLIENT_CAFILE; undefined (system roots) when none is set. */
async function readCaFiles(files: readonly string[]): Promise<string[] | undefined> {
  if (files.length === 0) return undefined;
  const pems: string[] = [];
  for (const file of files) {
    try {
      pems.push(await Deno.readTextFile(file));
    } catch (err) {
      throw new CondorError(
        "TLS_CA_UNREADABLE",
        `Cannot read AUTH_SSL_CLIENT_CAFILE ${file}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
  }
  return pems;
}

/** Writes the listen URL atomically and durably. Needs --allow-read and --allow-write. */
async function writeAddressFile(path: string, url: string): Promise<void> {
  await writeFileAtomically(path, url + "\n", {
    mode: 0o644,
    code: "ADDRESS_FILE",
    label: "TOKEND_ADDRESS_FILE",
  });
}

/** GET /v1/info, with the list of held keys refreshed at most once a minute. */
function cachedInfo(
  settings: TokendSettings,
  keys: ReturnType<typeof cachedKeyResolver>,
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
