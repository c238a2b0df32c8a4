/**
 * How a condor_tokend that is not the collector sends its ad to the
 * collector-role daemon: over the same judged HTTPS connections the tools
 * use (trust.ts, tls_dialer.ts), so the DAEMON credential the ad carries is
 * written only after the collector's certificate passed the same rules:
 * TOKEND_TRUST pins first, then the certificate files of a condor_tokend on
 * this host, the known-hosts file, AUTH_SSL_CLIENT_CAFILE or the system's
 * authorities, and HTCondor's known-hosts lines. Nobody is asked: a daemon
 * has no terminal, so an unknown certificate is refused.
 *
 * @module
 */
import type { DaemonAd } from "../api/protocol.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { httpsClient, trustPolicyFromConfig, TrustSessions } from "./connect.ts";

/** Sends one ad; the shape the daemon's advertiser takes (src/server/advertiser.ts). */
export type SendAd = (
  collectorUrl: string,
  ad: DaemonAd,
  credential: string,
  signal: AbortSignal,
) => Promise<void>;

/**
 * Builds the sender from the daemon's configuration (reads
 * AUTH_SSL_CLIENT_CAFILE and the daemon's own certificate files now).
 * Throws ConfigError for an unreadable CA file or a malformed TOKEND_TRUST.
 * Needs --allow-read and --allow-net.
 */
export async function adSender(config: CondorConfig, now: () => number): Promise<SendAd> {
  const policy = await trustPolicyFromConfig(config, { now });
  return async (collectorUrl, ad, credential, signal) => {
    // Each round judges the collector afresh, so a renewed certificate that
    // still passes the rules is taken without a restart.
    const client = httpsClient(collectorUrl, new TrustSessions(policy), {
      credential: () => Promise.resolve(credential),
      timeoutMs: 10_000,
    });
    try {
      await client.advertise(ad, signal);
    } finally {
      client.close();
    }
  };
}
