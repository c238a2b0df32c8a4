/**
 * Opening a trusted connection to a daemon, with trust settings taken from
 * the HTCondor configuration. Every network tool connects this way.
 *
 * @module
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { ConfigError } from "../errors.ts";
import type { CredentialSource, TokenDaemonClient } from "./daemon_client.ts";
import { httpsDaemonClient } from "./https_client.ts";
import { decideTrust, parseFingerprint, type TrustDecision, type TrustPolicy } from "./trust.ts";

/** Knob: the known-hosts file (default `$(HOME)/.condor/known_hosts`). */
export const KNOWN_HOSTS_KNOB = "TOKEND_KNOWN_HOSTS";
/** Knob: fingerprints (`sha256:...`) of self-signed daemon certificates to trust. */
export const TRUST_KNOB = "TOKEND_TRUST";

/**
 * Builds the trust policy: AUTH_SSL_CLIENT_CAFILE (read now), pins from
 * `pins` (the command line) and the TOKEND_TRUST knob, the known-hosts file
 * from TOKEND_KNOWN_HOSTS or `~/.condor/known_hosts`. Throws ConfigError for
 * an unreadable CA file or a malformed fingerprint. Needs --allow-read.
 */
export async function trustPolicyFromConfig(
  config: CondorConfig,
  options: Pick<TrustPolicy, "ask" | "now"> & { pins?: readonly string[] },
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
    (home ? `${home.replace(/\/+$/, "")}/.condor/known_hosts` : undefined);
  const policy: TrustPolicy = { pins, knownHostsFile, now: options.now };
  if (caPem !== undefined) policy.caPem = caPem;
  if (options.ask) policy.ask = options.ask;
  return policy;
}

/** A connected client and why its daemon is trusted. */
export interface Connection {
  client: TokenDaemonClient;
  trust: TrustDecision;
}

/**
 * Decides trust in the daemon at `url` (trust.ts) and returns an HTTPS
 * client bound to exactly that trust. Throws TrustError or DaemonError.
 * Needs --allow-net, --allow-read, --allow-write of the known-hosts file.
 */
export async function connectDaemon(
  url: URL,
  policy: TrustPolicy,
  options: { credential?: CredentialSource; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Connection> {
  const trust = await decideTrust(url, policy, options.signal);
  const client = httpsDaemonClient({
    baseUrl: url,
    httpClient: trust.httpClient,
    credential: options.credential,
    timeoutMs: options.timeoutMs,
  });
  return { client, trust };
}
