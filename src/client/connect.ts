/**
 * Opening a trusted connection to a daemon, with trust settings taken from
 * the HTCondor configuration. Every network tool connects this way.
 *
 * @module
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { ConfigError, DaemonError } from "../errors.ts";
import { CEDAR_PROTOCOL } from "./cedar/cedar_address.ts";
import { cedarDaemonClient } from "./cedar/cedar_client.ts";
import type { MethodName } from "./cedar/handshake.ts";
import {
  type CredentialSource,
  DAEMON_ERRORS,
  isTransient,
  type TokenDaemonClient,
} from "./daemon_client.ts";
import { isHangUp } from "./_network_failure.ts";
import { type HttpsDaemonClient, httpsDaemonClient } from "./https_client.ts";
import { knownHostKey } from "./known_hosts.ts";
import { localDaemonCertificates } from "./local_certificates.ts";
import { ANY_PROTOCOL } from "./locate.ts";
import { tlsDialer } from "./tls_dialer.ts";
import { parseFingerprint, type TrustJudgement, type TrustPolicy, TrustSessions } from "./trust.ts";

export { TrustSessions };

/** Knob: the known-hosts file (default `$(HOME)/.condor/known_hosts`). */
export const KNOWN_HOSTS_KNOB = "TOKEND_KNOWN_HOSTS";
/** Knob: fingerprints (`sha256:...`) of self-signed daemon certificates to trust. */
export const TRUST_KNOB = "TOKEND_TRUST";

/**
 * Builds the trust policy: AUTH_SSL_CLIENT_CAFILE (read now), pins from
 * `pins` (the command line) and the TOKEND_TRUST knob, the known-hosts file
 * from TOKEND_KNOWN_HOSTS, else HTCondor's SEC_KNOWN_HOSTS, else
 * `~/.condor/known_hosts` (the file HTCondor's own tools keep too). Throws ConfigError for
 * an unreadable CA file or a malformed fingerprint. Needs --allow-read.
 */
export async function trustPolicyFromConfig(
  config: CondorConfig,
  options: Pick<TrustPolicy, "ask" | "now" | "pinsFor"> & { pins?: readonly string[] },
): Promise<TrustPolicy> {
  const pins = [...(options.pins ?? [])];
  for (const item of config.list(TRUST_KNOB)) {
    const fingerprint = parseFingerprint(item);
    if (!fingerprint) {
      throw new ConfigError(
        "CONFIG_VALUE",
        `Cannot use ${TRUST_KNOB}: "${item}" is not a SHA-256 fingerprint (sha256:AB:CD:...)`,
      );
    }
    pins.push(fingerprint);
  }
  const caFile = config.get("AUTH_SSL_CLIENT_CAFILE")?.trim() || undefined;
  let caPem: string | undefined;
  if (caFile !== undefined) {
    try {
      caPem = await Deno.readTextFile(caFile);
    } catch (err) {
      if (
        !(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied ||
          err instanceof Deno.errors.NotCapable)
      ) throw err;
      throw new ConfigError(
        "CONFIG_UNREADABLE",
        `Cannot read AUTH_SSL_CLIENT_CAFILE ${caFile}: ${
          err instanceof Deno.errors.NotFound ? "no such file" : "permission denied"
        }`,
        { cause: err },
      );
    }
  }
  const home = config.get("HOME")?.trim();
  const knownHostsFile = config.get(KNOWN_HOSTS_KNOB)?.trim() ||
    config.get("SEC_KNOWN_HOSTS")?.trim() ||
    (home ? `${home.replace(/\/+$/, "")}/.condor/known_hosts` : undefined);
  const policy: TrustPolicy = {
    pins,
    knownHostsFile,
    now: options.now,
    localCertificates: await localDaemonCertificates(config),
  };
  if (caPem !== undefined) policy.caPem = caPem;
  if (options.ask) policy.ask = options.ask;
  if (options.pinsFor) policy.pinsFor = options.pinsFor;
  return policy;
}

/** Knobs HTCondor's tools read for the methods a client offers, in order of precedence. */
export const CLIENT_METHODS_KNOBS = [
  "SEC_CLIENT_AUTHENTICATION_METHODS",
  "SEC_DEFAULT_AUTHENTICATION_METHODS",
] as const;

/** The methods offered when neither knob is set: local identity, token, then anonymous TLS. */
const DEFAULT_METHODS: readonly MethodName[] = ["FS", "TOKEN", "SSL"];

function defaultSettings(trustDomain: string | undefined): CedarSettings {
  return { methods: [...DEFAULT_METHODS], ignored: [], source: "the default", trustDomain };
}

/** What the native protocol takes from the configuration. */
export interface CedarSettings {
  /** Authentication methods to offer, in order. */
  methods: MethodName[];
  /** Methods the configuration lists that this tool cannot use. */
  ignored: string[];
  /** Where the methods came from, for messages. */
  source: string;
  trustDomain: string | undefined;
}

/**
 * Reads SEC_CLIENT_AUTHENTICATION_METHODS (else
 * SEC_DEFAULT_AUTHENTICATION_METHODS) and TRUST_DOMAIN. IDTOKENS, IDTOKEN
 * and TOKENS all mean TOKEN, as in HTCondor. Throws ConfigError when the
 * list names none of the methods this tool speaks (FS, TOKEN, SSL).
 */
export function cedarSettingsFromConfig(config: CondorConfig): CedarSettings {
  const knob = CLIENT_METHODS_KNOBS.find((k) => (config.get(k) ?? "").trim() !== "");
  const trustDomain = config.get("TRUST_DOMAIN")?.trim() || undefined;
  if (knob === undefined) {
    return defaultSettings(trustDomain);
  }
  const methods: MethodName[] = [];
  const ignored: string[] = [];
  for (const item of config.get(knob)!.split(/[\s,]+/).filter(Boolean)) {
    const upper = item.toUpperCase();
    const name = /^(ID)?TOKENS?$/.test(upper) ? "TOKEN" : upper;
    if ((name === "FS" || name === "TOKEN" || name === "SSL") && !methods.includes(name)) {
      methods.push(name);
    } else if (!methods.includes(name as MethodName) && !ignored.includes(item)) {
      ignored.push(item);
    }
  }
  if (methods.length === 0) {
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot talk to HTCondor daemons with ${knob} = ${
        config.get(knob)!.trim()
      }: this tool authenticates with FS, IDTOKENS or SSL; add one of them`,
    );
  }
  return { methods, ignored, source: knob, trustDomain };
}

/**
 * Whether a failure to reach a daemon at first contact (locating and
 * connecting to it) is worth another try for a tool told to wait for it:
 * unreachable (refused, no route, name not found), timed out, overloaded
 * or restarting (429, 502-504), or hanging up on the TLS handshake of an
 * https:// address (a daemon starting, or a proxy whose back end is down).
 * An answer in another protocol, a certificate that is not trusted
 * (TrustError, never a DaemonError) or a refusal is final.
 */
export function isFirstContactFailure(err: DaemonError): boolean {
  return isTransient(err) || (err.code === DAEMON_ERRORS.NOT_TLS && isHangUp(err));
}

/** A connected client and why its daemon is trusted. */
export interface Connection {
  client: TokenDaemonClient;
  /**
   * Why the daemon is trusted, once known: at once for HTTPS (a first
   * connection is made and judged while connecting); after the first
   * command for the native protocol (its TLS runs inside commands).
   */
  trust: TrustJudgement | undefined;
}

/** How to connect, besides the address and trust. */
export interface ConnectOptions {
  credential?: CredentialSource;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** For HTCondor daemons (native protocol): methods and trust domain. */
  cedar?: CedarSettings;
  /** Called with each step, for -debug. */
  trace?: (message: string) => void | Promise<void>;
}

/**
 * Connects to the daemon at `url`: `https://` (condor_tokend: a first TLS
 * connection is made and judged now; every later one must show the same
 * certificate),
 * `cedar://` (an HTCondor daemon: trust decided during the first command),
 * or an address without a scheme, where HTTPS is tried first and the native
 * protocol when the daemon does not speak TLS. Falling back gives a hostile
 * server nothing: a CEDAR session must prove the daemon too (trust.ts). The
 * fallback costs one extra TCP connection and round trip for an HTCondor
 * daemon (which logs one unrecognised packet) and nothing for condor_tokend.
 * Throws TrustError or DaemonError. Needs --allow-net, --allow-read,
 * --allow-write of the known-hosts file.
 */
export async function connectDaemon(
  url: URL,
  trust: TrustSessions,
  options: ConnectOptions = {},
): Promise<Connection> {
  if (url.protocol === CEDAR_PROTOCOL) return connectCedar(url, trust, options);
  if (url.protocol === ANY_PROTOCOL) {
    try {
      return await connectHttps(new URL(`https://${url.host}`), trust, options);
    } catch (err) {
      if (!(err instanceof DaemonError) || err.code !== DAEMON_ERRORS.NOT_TLS) throw err;
      await options.trace?.(
        `${url.host} does not speak TLS first: talking HTCondor's protocol to it`,
      );
      return connectCedar(new URL(`${CEDAR_PROTOCOL}//${url.host}`), trust, options, err);
    }
  }
  return await connectHttps(url, trust, options);
}

async function connectHttps(
  url: URL,
  trust: TrustSessions,
  options: ConnectOptions,
): Promise<Connection> {
  const client = httpsClient(url, trust, options);
  try {
    await client.probe(options.signal);
  } catch (err) {
    client.close();
    throw err;
  }
  return { client, trust: client.trusted() };
}

/**
 * An HTTPS client for condor_tokend at `url` (`https://` only), judging
 * every connection with `trust`; the first is made at the first call.
 * Throws DaemonError for another scheme. Needs --allow-net.
 */
export function httpsClient(
  url: URL | string,
  trust: TrustSessions,
  options: Pick<ConnectOptions, "credential" | "timeoutMs"> = {},
): HttpsDaemonClient {
  const base = new URL(url);
  const session = trust.for(knownHostKey(base), base.hostname);
  return httpsDaemonClient({
    baseUrl: base,
    dialer: tlsDialer(base.hostname, Number(base.port || "443"), session),
    credential: options.credential,
    timeoutMs: options.timeoutMs,
  });
}

function connectCedar(
  url: URL,
  trust: TrustSessions,
  options: ConnectOptions,
  notTls?: DaemonError,
): Connection {
  const settings = options.cedar ?? defaultSettings(undefined);
  const client: TokenDaemonClient = cedarDaemonClient({
    url,
    trust,
    methods: settings.methods,
    trustDomain: settings.trustDomain,
    credential: options.credential,
    timeoutMs: options.timeoutMs,
    trace: options.trace,
    notTls,
  });
  return { client, trust: undefined };
}

/**
 * An HTTPS client for the daemon at `url` that trusts exactly the
 * certificate with `fingerprint` and nothing else (benchmarks, tests, and
 * tools that already know the daemon's certificate). Needs --allow-net.
 */
export function pinnedHttpsClient(
  url: URL | string,
  fingerprint: string,
  options: Pick<ConnectOptions, "credential" | "timeoutMs"> = {},
): TokenDaemonClient {
  return httpsClient(
    url,
    new TrustSessions({ pins: [fingerprint], knownHostsFile: undefined, now: Date.now }),
    options,
  );
}
