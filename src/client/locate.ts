/**
 * Finding the daemon to talk to, as HTCondor's tools do: the pool's collector
 * (COLLECTOR_HOST, or `-pool`), or a daemon of a given name and type listed
 * in the collector-role daemon's directory.
 *
 * @module
 */
import { type DaemonAd, daemonNameMatches } from "../api/protocol.ts";
import { CEDAR_PROTOCOL, parseSinful } from "./cedar/cedar_address.ts";
import { ConfigError, DaemonError, UsageError } from "../errors.ts";
import { DAEMON_ERRORS, type TokenDaemonClient } from "./daemon_client.ts";

/** HTCondor's collector port, used when an address names none. */
export const DEFAULT_PORT = 9618;

/** The daemon types HTCondor's tools accept for `-type` (its daemon_t names). */
export const DAEMON_TYPES = [
  "COLLECTOR",
  "SCHEDD",
  "STARTD",
  "MASTER",
  "NEGOTIATOR",
  "CREDD",
  "KBDD",
  "DAGMAN",
  "VIEW_COLLECTOR",
  "CLUSTER_SERVER",
  "SHADOW",
  "STARTER",
  "GRIDMANAGER",
  "TRANSFERD",
  "LEASE_MANAGER",
  "HAD",
  "GENERIC",
] as const;

/** Returns the canonical upper-case daemon type for `text`, or undefined if unknown. */
export function parseDaemonType(text: string): string | undefined {
  const upper = text.trim().toUpperCase();
  return (DAEMON_TYPES as readonly string[]).includes(upper) ? upper : undefined;
}

/**
 * Scheme of an address given without one (`host`, `host:port`): the daemon
 * may speak HTTPS (condor_tokend) or HTCondor's native protocol, and
 * connecting finds out which (see connect.ts).
 */
export const ANY_PROTOCOL = "condor:";

/**
 * Parses a daemon address: `host`, `host:port`, `[v6]:port` (either
 * protocol, see {@link ANY_PROTOCOL}), an HTCondor sinful string
 * `<ip:port?...&alias=name>` or a `cedar://host[:port][?alias=name]` URL
 * (HTCondor's native protocol), or an `https://` URL (condor_tokend). The
 * port defaults to 9618, except in an https URL, where it is the URL's own
 * (443). Returns undefined when the text is none of these (an `http://` URL
 * included: TLS is always used).
 */
export function parseDaemonAddress(
  text: string,
  defaultPort: number = DEFAULT_PORT,
): URL | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  if (/^<.*>$/.test(t)) return parseSinful(t);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    let url: URL;
    try {
      url = new URL(t);
    } catch (err) {
      if (err instanceof TypeError) return undefined; // not a URL
      throw err;
    }
    if (url.username || url.password || url.hash) return undefined;
    if (url.protocol === "https:") return url.search ? undefined : url;
    if (url.protocol !== CEDAR_PROTOCOL || !url.hostname || !/^\/?$/.test(url.pathname)) {
      return undefined;
    }
    const out = new URL(`${CEDAR_PROTOCOL}//${url.host}`);
    if (!out.port) out.port = String(defaultPort);
    for (const key of ["alias", "sock"]) {
      const value = url.searchParams.get(key);
      if (value) out.searchParams.set(key, value);
    }
    return out;
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$/.test(t)) return undefined;
  try {
    const url = new URL(`${ANY_PROTOCOL}//${t}`);
    if (!url.port) url.port = String(defaultPort);
    return url;
  } catch (err) {
    if (err instanceof TypeError) return undefined; // not a URL
    throw err;
  }
}

/** A daemon address as messages show it: the https URL, `cedar://host:port`, or `host:port`. */
export function displayAddress(url: URL): string {
  if (url.protocol === "https:") return url.origin + url.pathname.replace(/\/+$/, "");
  if (url.protocol === ANY_PROTOCOL) return url.host;
  return url.href.replace(/\/$/, "");
}

/** Where a pool's collector is, and where that came from (for messages). */
export interface CollectorAddress {
  url: URL;
  /** E.g. `-pool "cm.example.org"` or `COLLECTOR_HOST "cm"`. */
  source: string;
}

/**
 * The collectors to try, in order: every address in `-pool` if given, else
 * every address in COLLECTOR_HOST (HTCondor allows a list of
 * high-availability collectors), separated by commas or spaces. An address
 * without a port gets `defaultPort` (COLLECTOR_PORT, as in HTCondor).
 * Throws ConfigError when COLLECTOR_HOST is unset or unusable, UsageError
 * when `-pool` is.
 */
export function collectorAddresses(
  pool: string | undefined,
  collectorHost: string | undefined,
  defaultPort: number = DEFAULT_PORT,
): CollectorAddress[] {
  if (pool !== undefined) {
    const entries = poolEntries(pool);
    if (entries.length === 0) throw badPool(pool);
    return entries.map((entry) => {
      const url = parseDaemonAddress(entry, defaultPort);
      if (!url) throw badPool(entries.length > 1 ? entry : pool);
      return { url, source: `-pool "${entry}"` };
    });
  }
  const entries = (collectorHost ?? "").split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) {
    throw new ConfigError(
      "CONFIG_MISSING",
      "Cannot find the pool's collector: COLLECTOR_HOST is not set; set it or use -pool HOST",
    );
  }
  return entries.map((entry): CollectorAddress => {
    const url = parseDaemonAddress(entry, defaultPort);
    if (!url) {
      throw new ConfigError(
        "CONFIG_BAD_VALUE",
        `Cannot use COLLECTOR_HOST "${collectorHost}": "${entry}" is not a host, host:port, sinful string or https:// or cedar:// address`,
      );
    }
    return { url, source: `COLLECTOR_HOST "${entry}"` };
  });
}

/** The addresses in a `-pool` value: one, or several separated by commas or spaces. */
export function poolEntries(pool: string): string[] {
  return pool.split(/[\s,]+/).filter(Boolean);
}

/** The usage error for a `-pool` that is no address. */
export function badPool(text: string): UsageError {
  return new UsageError(
    `Invalid value for -pool: "${text}" is not a host, host:port, sinful string or https:// or cedar:// address`,
  );
}

/** What to locate. */
export interface LocateOptions {
  /** The collectors to try in order (see {@link collectorAddresses}). */
  collectors: readonly CollectorAddress[];
  /** Daemon name (`-name`); the collector itself when absent and `type` is COLLECTOR. */
  name?: string;
  /** Daemon type (`-type`), upper case; COLLECTOR by default. */
  type?: string;
  /**
   * Opens a trusted client for a URL (trust.ts decides; may throw
   * TrustError). `listed` is the directory's ad when the address came from
   * the collector's directory rather than from the user.
   */
  connect: (url: URL, listed?: DaemonAd) => Promise<TokenDaemonClient>;
  /** Called with each step, for -debug. */
  trace?: (message: string) => void | Promise<void>;
  signal?: AbortSignal;
}

/** The daemon found, connected. */
export interface Located {
  client: TokenDaemonClient;
  url: URL;
}

/**
 * Connects to the daemon the options name. Tries each collector in turn
 * while it is unreachable; then, unless the collector itself is wanted, looks
 * the daemon up in its directory and connects to the address listed there.
 * Throws DaemonError (DAEMON_UNREACHABLE naming every address tried,
 * DAEMON_NOT_FOUND naming the query and what is listed) or TrustError.
 */
export async function locateDaemon(options: LocateOptions): Promise<Located> {
  const type = options.type ?? "COLLECTOR";
  const trace = options.trace ?? (() => {});
  const { client: collector, url: collectorUrl } = await connectToCollector(options);
  if (options.name === undefined && type === "COLLECTOR") {
    return { client: collector, url: collectorUrl };
  }
  let ad: DaemonAd | undefined;
  try {
    const info = await collector.info(options.signal);
    if (info.type.toUpperCase() === type && nameMatches(info.name, options.name)) {
      await trace(`the collector at ${collector.address} is the ${type} "${info.name}"`);
      return { client: collector, url: collectorUrl };
    }
    const listed = await collector.daemons({ name: options.name, type }, options.signal);
    // Filter here too: the directory's own matching is not this tool's contract.
    ad = listed.find((d) => d.type.toUpperCase() === type && nameMatches(d.name, options.name));
    if (!ad) throw await notFound(collector, type, options.name, listed, options.signal);
  } catch (err) {
    collector.close();
    throw err;
  }
  collector.close();
  const url = parseDaemonAddress(ad.address);
  if (!url) {
    throw new DaemonError(
      DAEMON_ERRORS.BAD_RESPONSE,
      `Cannot use the address "${ad.address}" the collector lists for ${ad.type} "${ad.name}": it is not a daemon address`,
    );
  }
  await trace(`the collector lists ${ad.type} "${ad.name}" at ${displayAddress(url)}`);
  // The collector's own address was given by the user, not by the directory.
  const own = url.host.toLowerCase() === collectorUrl.host.toLowerCase();
  return { client: await options.connect(url, own ? undefined : ad), url };
}

async function notFound(
  collector: TokenDaemonClient,
  type: string,
  name: string | undefined,
  listed: DaemonAd[],
  signal: AbortSignal | undefined,
): Promise<DaemonError> {
  const wanted = name === undefined ? `a ${type}` : `a ${type} named "${name}"`;
  // The full listing only enriches the message; a failure to get it is no new error.
  const all = await collector.daemons({}, signal).catch((err) => {
    if (err instanceof DaemonError) return listed;
    throw err;
  });
  const seen = all.length === 0
    ? "it lists no daemons"
    : `it lists ${all.slice(0, 10).map((d) => `${d.type} "${d.name}"`).join(", ")}${
      all.length > 10 ? ", ..." : ""
    }`;
  return new DaemonError(
    DAEMON_ERRORS.NOT_FOUND,
    `Cannot find ${wanted} in the pool of the collector at ${collector.address}: ${seen}`,
  );
}

async function connectToCollector(options: LocateOptions): Promise<Located> {
  const failures: string[] = [];
  let last: DaemonError | undefined;
  for (const { url, source } of options.collectors) {
    try {
      await options.trace?.(`trying the collector at ${displayAddress(url)} (from ${source})`);
      return { client: await options.connect(url), url };
    } catch (err) {
      if (!(err instanceof DaemonError) || !isDown(err)) throw err;
      failures.push(
        `${url.host} (from ${source}): ${err.message.replace(/^Cannot .*? (?:to|at) \S+: /, "")}`,
      );
      last = err;
    }
  }
  throw new DaemonError(
    DAEMON_ERRORS.UNREACHABLE,
    `Cannot reach the pool's collector: tried ${failures.join("; ")}`,
    undefined,
    { cause: last },
  );
}

/** Whether the next collector in the list is worth trying after `err`. */
function isDown(err: DaemonError): boolean {
  return err.code === DAEMON_ERRORS.UNREACHABLE || err.code === DAEMON_ERRORS.TIMEOUT;
}

/** Whether a daemon named `daemonName` is the one `-name` asks for (any, without -name). */
function nameMatches(daemonName: string, wanted: string | undefined): boolean {
  return wanted === undefined || daemonNameMatches(daemonName, wanted);
}
