/**
 * Opening a trusted connection to a daemon, with the trust and CEDAR
 * settings settings.ts reads from the HTCondor configuration. Every network
 * tool connects this way.
 *
 * @module
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { ConfigError, DaemonError } from "../errors.ts";
import { CEDAR_PROTOCOL } from "./cedar/cedar_address.ts";
import { cedarDaemonClient } from "./cedar/cedar_client.ts";
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
import {
  type CedarSettings,
  defaultCedarSettings,
  type TrustSettings,
  trustSettingsFromConfig,
} from "./settings.ts";
import { type TrustJudgement, type TrustPolicy, TrustSessions } from "./trust.ts";

export { TrustSessions };

/**
 * Builds the trust policy from the trust knobs ({@link TrustSettings}):
 * AUTH_SSL_CLIENT_CAFILE (read now), pins from `pins` (the command line)
 * and TOKEND_TRUST, the known-hosts file, and the certificates of a daemon
 * on this host. Throws ConfigError for an unreadable CA file. Needs
 * --allow-read.
 */
export async function trustPolicyFrom(
  settings: TrustSettings,
  options: Pick<TrustPolicy, "ask" | "now" | "pinsFor"> & { pins?: readonly string[] },
): Promise<TrustPolicy> {
  const pins = [...(options.pins ?? []), ...settings.pins];
  const caFile = settings.caFile;
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
  const policy: TrustPolicy = {
    pins,
    knownHostsFile: settings.knownHostsFile,
    now: options.now,
    localCertificates: await localDaemonCertificates(settings.localCertificateFiles),
  };
  if (caPem !== undefined) policy.caPem = caPem;
  if (options.ask) policy.ask = options.ask;
  if (options.pinsFor) policy.pinsFor = options.pinsFor;
  return policy;
}

/**
 * {@link trustPolicyFrom} the configuration's trust knobs. Throws
 * ConfigError for an unreadable CA file or a malformed fingerprint. Needs
 * --allow-read.
 */
export function trustPolicyFromConfig(
  config: CondorConfig,
  options: Pick<TrustPolicy, "ask" | "now" | "pinsFor"> & { pins?: readonly string[] },
): Promise<TrustPolicy> {
  return trustPolicyFrom(trustSettingsFromConfig(config), options);
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
  const settings = options.cedar ?? defaultCedarSettings(undefined);
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
