/**
 * The daemon's typed knobs: every configuration value condor_tokend reads,
 * read once at start with HTCondor's defaults and ours, so the rest of the
 * server never parses configuration text.
 *
 * @module
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { ConfigError } from "../errors.ts";
import { type Authorization, parseAuthorization } from "../token/authz.ts";
import { type KeyLocations, keyLocationsOf, POOL_KEY_ID } from "../token/signing_key.ts";

/** HTCondor's collector port, used when COLLECTOR_HOST names none. */
export const DEFAULT_PORT = 9618;
/** HTCondor's cap on pending requests, our default. */
export const DEFAULT_MAX_PENDING = 1000;
/** Default cap on undecided requests from one peer address (or IPv6 /64). */
export const DEFAULT_MAX_PENDING_PER_PEER = 10;

/**
 * The HTTP server's caps and deadlines: what one peer, or all of them, can
 * hold of the daemon's file descriptors, memory and time before it is
 * answered or cut off. Deadlines in seconds.
 */
export interface ConnectionSettings {
  /** TOKEND_MAX_CONNECTIONS: open connections, all peers together (well under the fd limit). */
  maxConnections: number;
  /** TOKEND_MAX_CONNECTIONS_PER_PEER: open connections from one address (IPv6: one /64). */
  maxConnectionsPerPeer: number;
  /** TOKEND_HANDSHAKE_TIMEOUT: from accept to the end of the TLS handshake. */
  handshakeTimeout: number;
  /** TOKEND_HEADER_TIMEOUT: the whole request head, from the connection being ready or its first byte. */
  headerTimeout: number;
  /** TOKEND_BODY_TIMEOUT: the whole request body, from the end of the head. */
  bodyTimeout: number;
  /** TOKEND_IDLE_TIMEOUT: a kept-alive connection waiting for its next request. */
  idleTimeout: number;
  /** TOKEND_WRITE_TIMEOUT: writing one answer (a client that does not read). */
  writeTimeout: number;
  /** TOKEND_MAX_HEADER_BYTES: request line and header fields together. */
  maxHeaderBytes: number;
}

/** Everything the daemon takes from the configuration. */
export interface TokendSettings {
  /** TRUST_DOMAIN: issuer of every token we mint and accept. */
  trustDomain: string;
  /** FULL_HOSTNAME and HOSTNAME, for the certificate and the daemon's name. */
  fullHostname: string;
  hostname: string;
  keys: KeyLocations;
  /** SEC_TOKEN_ISSUER_KEY: the key new tokens are signed with. */
  issuerKey: string;
  /** TOKEND_STATE_DIRECTORY (default `$(SPOOL)/tokend`). */
  stateDirectory: string;
  /** TOKEND_ADDRESS_FILE: where the listen URL is written once listening. */
  addressFile: string | undefined;
  /** TOKEND_ALLOW_PLAIN_HTTP: serve plain HTTP (behind a TLS proxy, or loopback tests). */
  allowPlainHttp: boolean;
  /** NETWORK_INTERFACE; undefined listens on every interface. */
  networkInterface: string | undefined;
  /** Port of COLLECTOR_HOST, else COLLECTOR_PORT (9618). */
  port: number;
  /** Usable AUTH_SSL_SERVER_CERTFILE/KEYFILE candidates, in order (HTCondor's lists). */
  certFiles: string[];
  keyFiles: string[];
  /** TOKEND_MAX_PENDING_REQUESTS: live requests beyond this are refused. */
  maxPending: number;
  /** TOKEND_MAX_PENDING_PER_PEER: pending requests from one peer (IPv4 address, IPv6 /64) beyond this are refused; 0 = no cap. */
  maxPendingPerPeer: number;
  /** TOKEND_RATE_LIMIT: enqueues per minute per peer address; 0 = unlimited. */
  enqueueRatePerMinute: number;
  /** TOKEND_COLLECT_RATE_LIMIT: collect/cancel calls per minute per peer; 0 = unlimited. */
  collectRatePerMinute: number;
  /** TOKEND_DAEMON_NAME / TOKEND_DAEMON_TYPE: how this daemon lists itself. */
  daemonName: string;
  daemonType: string;
  /** SEC_ENABLE_TOKEN_REQUEST. */
  enableTokenRequest: boolean;
  /** SEC_ENABLE_TOKEN_FETCH. */
  enableTokenFetch: boolean;
  /** SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS (HTCondor default POOL), wildcards allowed. */
  fetchAllowedKeys: string[];
  /** SEC_TOKEN_REQUEST_LIMITS; empty means no limit. */
  requestLimits: Authorization[];
  /** SEC_ISSUED_TOKEN_EXPIRATION when positive; undefined means no cap. */
  issuedTokenExpiration: number | undefined;
  /** SEC_TOKEN_REQUEST_LIFETIME: a pending request expires this long after it was made. */
  requestLifetime: number;
  /** TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME: longest auto-approval rule. */
  autoApproveMaxLifetime: number;
  /** ALLOW_ADMINISTRATOR and ALLOW_DAEMON entries, as written. */
  allowAdministrator: string[];
  allowDaemon: string[];
  /** USE_POOL_USERNAME_EQUIVALENT: condor@ and condor_pool@ match each other. */
  poolUsernameEquivalent: boolean;
  /** TOKEND_DAEMON_AD_LIFETIME: default lifetime of a daemon's advertisement. */
  daemonAdLifetime: number;
  /** TOKEND_COLLECTOR_URL, else `https://` + COLLECTOR_HOST's host and port: where to advertise. */
  collectorUrl: string | undefined;
  /** TOKEND_ADVERTISE: advertise to the collector (default: unless this daemon is the COLLECTOR). */
  advertise: boolean;
  /** AUTH_SSL_CLIENT_CAFILE: certificates trusted when talking to the collector. */
  clientCaFiles: string[];
  /**
   * TOKEND_DATABASE: a `postgresql://` URL to keep the state in PostgreSQL,
   * shared by every daemon given the same URL; undefined keeps it in SQLite
   * in the state directory.
   */
  database: string | undefined;
  /** TOKEND_DATABASE_PASSWORD_FILE: a private file holding the database password. */
  databasePasswordFile: string | undefined;
  /** The HTTP server's caps and deadlines. */
  connections: ConnectionSettings;
  /** Webhook notifications (TOKEND_NOTIFY_*). */
  notify: NotifySettings;
  /** The circuit breaker on auto-approval (TOKEND_AUTO_APPROVE_*). */
  breaker: BreakerSettings;
}

/** Where and how condor_tokend POSTs its events (see notifier.ts). */
export interface NotifySettings {
  /**
   * TOKEND_NOTIFY_URL: an https:// URL, or http:// to a loopback address;
   * undefined sends nothing. It may hold a secret (a Slack webhook's path
   * does): messages name only its origin.
   */
  url: string | undefined;
  /** TOKEND_NOTIFY_SECRET_FILE: a private file whose contents key the HMAC-SHA256 of each POST. */
  secretFile: string | undefined;
  /** TOKEND_NOTIFY_CA_FILE: PEM certificates trusted for the webhook instead of the runtime's roots. */
  caFile: string | undefined;
  /** TOKEND_NOTIFY_TIMEOUT: seconds one POST may take. */
  timeout: number;
  /** TOKEND_NOTIFY_RETRY_TIME: seconds an event is retried before it is given up. */
  retryTime: number;
  /** TOKEND_NOTIFY_QUEUE_SIZE: events waiting to be sent; beyond it the oldest is dropped. */
  queueSize: number;
}

/** Limits on auto-approvals per fixed window; 0 means no limit. */
export interface BreakerSettings {
  /** TOKEND_AUTO_APPROVE_MAX_PER_RULE: auto-approvals one rule may make per interval. */
  maxPerRule: number;
  /** TOKEND_AUTO_APPROVE_MAX_TOTAL: auto-approvals all rules together may make per interval. */
  maxTotal: number;
  /** TOKEND_AUTO_APPROVE_INTERVAL: the window, in seconds. */
  interval: number;
}

/** Default TOKEND_AUTO_APPROVE_MAX_PER_RULE: twice a 1,000-host bootstrap. */
export const DEFAULT_AUTO_APPROVE_MAX_PER_RULE = 2000;
/** Default TOKEND_AUTO_APPROVE_MAX_TOTAL. */
export const DEFAULT_AUTO_APPROVE_MAX_TOTAL = 5000;
/** Default TOKEND_AUTO_APPROVE_INTERVAL: ten minutes. */
export const DEFAULT_AUTO_APPROVE_INTERVAL = 600;

/** Reads the daemon's settings. Throws ConfigError naming a bad knob. */
export function tokendSettings(
  config: CondorConfig,
  overrides: { port?: number } = {},
): TokendSettings {
  const fullHostname = config.require("FULL_HOSTNAME");
  const spool = config.get("SPOOL");
  const stateDirectory = config.get("TOKEND_STATE_DIRECTORY")?.trim() ||
    (spool ? `${spool.replace(/\/+$/, "")}/tokend` : undefined);
  if (!stateDirectory) {
    throw new ConfigError(
      "CONFIG_MISSING",
      'Cannot use configuration: neither "TOKEND_STATE_DIRECTORY" nor "SPOOL" is set',
    );
  }
  const iface = config.get("NETWORK_INTERFACE")?.trim();
  const expiration = config.int("SEC_ISSUED_TOKEN_EXPIRATION", -1);
  const daemonType = (config.get("TOKEND_DAEMON_TYPE")?.trim() || "COLLECTOR").toUpperCase();
  return {
    trustDomain: config.require("TRUST_DOMAIN"),
    fullHostname,
    hostname: config.get("HOSTNAME") ?? fullHostname.split(".")[0],
    keys: keyLocationsOf(config),
    issuerKey: config.get("SEC_TOKEN_ISSUER_KEY")?.trim() || POOL_KEY_ID,
    stateDirectory,
    addressFile: config.get("TOKEND_ADDRESS_FILE")?.trim() || undefined,
    allowPlainHttp: config.bool("TOKEND_ALLOW_PLAIN_HTTP", false),
    networkInterface: iface === undefined || iface === "" || iface === "*" ? undefined : iface,
    port: overrides.port ?? collectorPort(config),
    certFiles: config.list("AUTH_SSL_SERVER_CERTFILE"),
    keyFiles: config.list("AUTH_SSL_SERVER_KEYFILE"),
    maxPending: positive(config, "TOKEND_MAX_PENDING_REQUESTS", DEFAULT_MAX_PENDING),
    maxPendingPerPeer: nonNegative(
      config,
      "TOKEND_MAX_PENDING_PER_PEER",
      DEFAULT_MAX_PENDING_PER_PEER,
    ),
    enqueueRatePerMinute: nonNegative(config, "TOKEND_RATE_LIMIT", 60),
    collectRatePerMinute: nonNegative(config, "TOKEND_COLLECT_RATE_LIMIT", 600),
    daemonName: config.get("TOKEND_DAEMON_NAME")?.trim() || fullHostname,
    daemonType,
    enableTokenRequest: config.bool("SEC_ENABLE_TOKEN_REQUEST", true),
    enableTokenFetch: config.bool("SEC_ENABLE_TOKEN_FETCH", true),
    fetchAllowedKeys: config.get("SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS") === undefined
      ? ["POOL"]
      : config.list("SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS"),
    requestLimits: config.list("SEC_TOKEN_REQUEST_LIMITS")
      .map((name) => parseAuthorization(name))
      .filter((a): a is Authorization => a !== undefined),
    issuedTokenExpiration: expiration > 0 ? expiration : undefined,
    requestLifetime: positive(config, "SEC_TOKEN_REQUEST_LIFETIME", 3600),
    autoApproveMaxLifetime: config.int("TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME", 3600),
    allowAdministrator: config.list("ALLOW_ADMINISTRATOR"),
    allowDaemon: config.list("ALLOW_DAEMON"),
    poolUsernameEquivalent: config.bool("USE_POOL_USERNAME_EQUIVALENT", true),
    daemonAdLifetime: positive(config, "TOKEND_DAEMON_AD_LIFETIME", 900),
    collectorUrl: config.get("TOKEND_COLLECTOR_URL")?.trim() || collectorUrlOf(config),
    // A collector is where others advertise; any other daemon type advertises itself.
    advertise: config.bool("TOKEND_ADVERTISE", daemonType !== "COLLECTOR"),
    clientCaFiles: config.list("AUTH_SSL_CLIENT_CAFILE"),
    database: databaseUrl(config),
    databasePasswordFile: config.get("TOKEND_DATABASE_PASSWORD_FILE")?.trim() || undefined,
    connections: connectionSettings(config),
    notify: notifySettings(config),
    breaker: {
      maxPerRule: nonNegative(
        config,
        "TOKEND_AUTO_APPROVE_MAX_PER_RULE",
        DEFAULT_AUTO_APPROVE_MAX_PER_RULE,
      ),
      maxTotal: nonNegative(
        config,
        "TOKEND_AUTO_APPROVE_MAX_TOTAL",
        DEFAULT_AUTO_APPROVE_MAX_TOTAL,
      ),
      interval: positive(config, "TOKEND_AUTO_APPROVE_INTERVAL", DEFAULT_AUTO_APPROVE_INTERVAL),
    },
  };
}

/** The TOKEND_NOTIFY_* knobs, with their defaults. */
function notifySettings(config: CondorConfig): NotifySettings {
  return {
    url: notifyUrl(config),
    secretFile: config.get("TOKEND_NOTIFY_SECRET_FILE")?.trim() || undefined,
    caFile: config.get("TOKEND_NOTIFY_CA_FILE")?.trim() || undefined,
    timeout: positive(config, "TOKEND_NOTIFY_TIMEOUT", 10),
    retryTime: nonNegative(config, "TOKEND_NOTIFY_RETRY_TIME", 600),
    queueSize: positive(config, "TOKEND_NOTIFY_QUEUE_SIZE", 1000),
  };
}

/**
 * TOKEND_NOTIFY_URL: https://, or http:// to a loopback address literal
 * (127.0.0.0/8, ::1), where nothing crosses the network in the clear. A
 * bad value is refused without quoting it: a webhook URL's path is often
 * its secret.
 */
function notifyUrl(config: CondorConfig): string | undefined {
  const value = config.get("TOKEND_NOTIFY_URL")?.trim();
  if (value === undefined || value === "") return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const ok = url !== undefined && url.username === "" && url.password === "" &&
    (url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname)));
  if (!ok) {
    throw new ConfigError(
      "CONFIG_VALUE",
      'Cannot use configuration: knob "TOKEND_NOTIFY_URL" must be an https:// URL, or http:// to a loopback address (127.0.0.1, [::1]), without a user name or password',
    );
  }
  return url!.href;
}

/** A loopback address literal as URL.hostname gives it: 127.x.y.z or [::1]. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** The knobs of ConnectionSettings, with their defaults. */
function connectionSettings(config: CondorConfig): ConnectionSettings {
  return {
    // Under an open-file limit of 1024 (`ulimit -n 1024`), with room for
    // the daemon's own (database, certificate, log, the runtime's).
    maxConnections: positive(config, "TOKEND_MAX_CONNECTIONS", 800),
    maxConnectionsPerPeer: positive(config, "TOKEND_MAX_CONNECTIONS_PER_PEER", 32),
    handshakeTimeout: positive(config, "TOKEND_HANDSHAKE_TIMEOUT", 10),
    headerTimeout: positive(config, "TOKEND_HEADER_TIMEOUT", 10),
    bodyTimeout: positive(config, "TOKEND_BODY_TIMEOUT", 10),
    idleTimeout: positive(config, "TOKEND_IDLE_TIMEOUT", 30),
    writeTimeout: positive(config, "TOKEND_WRITE_TIMEOUT", 10),
    maxHeaderBytes: atLeast(config, "TOKEND_MAX_HEADER_BYTES", 16 * 1024, 1024),
  };
}

/**
 * TOKEND_DATABASE: empty means SQLite; anything else must be a
 * `postgresql://` URL. A bad value is refused without quoting it: it may
 * hold a password.
 */
function databaseUrl(config: CondorConfig): string | undefined {
  const value = config.get("TOKEND_DATABASE")?.trim();
  if (value === undefined || value === "") return undefined;
  if (!/^postgres(ql)?:\/\/./i.test(value)) {
    throw new ConfigError(
      "CONFIG_VALUE",
      'Cannot use configuration: knob "TOKEND_DATABASE" must be a postgresql:// URL, or empty for SQLite in the state directory',
    );
  }
  return value;
}

/** `https://HOST:PORT` for COLLECTOR_HOST's first entry (port 9618 when it names none). */
export function collectorUrlOf(config: CondorConfig): string | undefined {
  const first = config.list("COLLECTOR_HOST")[0];
  if (first === undefined) return undefined;
  const bare = first.replace(/^</, "").replace(/>$/, "").replace(/\?.*$/, "");
  const v6 = /^(\[[^\]]*\])(?::\d+)?$/.exec(bare);
  const host = v6 ? v6[1] : bare.split(":")[0];
  if (host === "") return undefined;
  return `https://${host}:${portOf(bare) ?? config.int("COLLECTOR_PORT", DEFAULT_PORT)}`;
}

/** The port of COLLECTOR_HOST (`host:port`, `[v6]:port`, `<sinful>`), else COLLECTOR_PORT. */
export function collectorPort(config: CondorConfig): number {
  const fallback = config.int("COLLECTOR_PORT", DEFAULT_PORT);
  const first = config.list("COLLECTOR_HOST")[0];
  if (first === undefined) return fallback;
  return portOf(first) ?? fallback;
}

/** The port named in an HTCondor address, or undefined when it names none. */
export function portOf(address: string): number | undefined {
  const bare = address.replace(/^</, "").replace(/>$/, "").replace(/\?.*$/, "");
  const v6 = /^\[[^\]]*\](?::(\d+))?$/.exec(bare);
  const digits = v6 ? v6[1] : bare.split(":").length === 2 ? bare.split(":")[1] : undefined;
  if (digits === undefined || !/^\d+$/.test(digits)) return undefined;
  const port = Number(digits);
  return port <= 65535 ? port : undefined;
}

function positive(config: CondorConfig, name: string, fallback: number): number {
  const value = config.int(name, fallback);
  if (value <= 0) {
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot use configuration: knob "${name}" is ${value}, expected a positive number`,
    );
  }
  return value;
}

function atLeast(config: CondorConfig, name: string, fallback: number, min: number): number {
  const value = config.int(name, fallback);
  if (value < min) {
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot use configuration: knob "${name}" is ${value}, expected at least ${min}`,
    );
  }
  return value;
}

function nonNegative(config: CondorConfig, name: string, fallback: number): number {
  const value = config.int(name, fallback);
  if (value < 0) {
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot use configuration: knob "${name}" is ${value}, expected 0 or more`,
    );
  }
  return value;
}
