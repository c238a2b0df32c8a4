/**
 * Keeps this daemon listed in the collector's directory of token-issuing
 * daemons: a daemon that is not itself the collector advertises its name,
 * type and address to COLLECTOR_HOST at once and then every third of the
 * ad's lifetime, so the ad expires soon after the daemon stops.
 *
 * The ad goes out with a DAEMON credential, so the connection that carries
 * it is not this module's to judge: the sender it is given (the tools'
 * trust rules, src/client/ad_sender.ts, wired in by src/cli/condor_tokend.ts)
 * proves the collector before anything is written.
 *
 * @module
 */
import type { DaemonAd } from "../api/protocol.ts";

/**
 * Sends one ad to the collector-role daemon at `collectorUrl` with the
 * bearer `credential`, over a connection whose certificate passed the trust
 * rules before anything was written. Throws with a one-line message when it
 * cannot (unreachable, untrusted, refused).
 */
export type AdSender = (
  collectorUrl: string,
  ad: DaemonAd,
  credential: string,
  signal: AbortSignal,
) => Promise<void>;

/** What the advertiser needs. */
export interface AdvertiserOptions {
  /** The collector-role daemon's base URL. */
  collectorUrl: string;
  /** This daemon's ad (its address is known once listening). */
  ad: () => DaemonAd;
  /** Seconds each ad lives at the collector. */
  lifetime: number;
  /** A short-lived bearer token with DAEMON authorization. */
  credential: () => Promise<string>;
  /** Carries each ad to the collector; it alone decides whether the collector is trusted. */
  send: AdSender;
  log: (line: string) => void;
}

/** A running advertiser. */
export interface Advertiser {
  /** Advertises now (also done by the timer); resolves true when the collector accepted. */
  advertise(): Promise<boolean>;
  /** Stops advertising; the ad then expires at the collector. */
  stop(): Promise<void>;
}

/** Starts advertising at once and periodically. */
export function startAdvertiser(options: AdvertiserOptions): Advertiser {
  const controller = new AbortController();
  let healthy: boolean | undefined;
  let running: Promise<boolean> = Promise.resolve(true);

  const once = async (): Promise<boolean> => {
    const ad = { ...options.ad(), lifetime: options.lifetime };
    let problem: string | undefined;
    try {
      await options.send(
        options.collectorUrl,
        ad,
        await options.credential(),
        AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]),
      );
    } catch (err) {
      if (controller.signal.aborted) return false;
      problem = err instanceof Error ? err.message : String(err);
    }
    // Log changes only, not every renewal or every failed retry.
    if (problem === undefined && healthy !== true) {
      options.log(`advertised ${ad.type} "${ad.name}" at ${ad.address} to ${options.collectorUrl}`);
    } else if (problem !== undefined && healthy !== false) {
      options.log(`cannot advertise to the collector at ${options.collectorUrl}: ${problem}`);
    }
    healthy = problem === undefined;
    return healthy;
  };
  const advertise = () => (running = running.then(once, once));
  void advertise();
  const timer = setInterval(
    () => void advertise(),
    Math.max(5, Math.floor(options.lifetime / 3)) * 1000,
  );
  return {
    advertise,
    async stop() {
      clearInterval(timer);
      controller.abort();
      await running;
    },
  };
}
