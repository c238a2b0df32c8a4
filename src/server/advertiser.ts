/**
 * Keeps this daemon listed in the collector's directory of token-issuing
 * daemons: a daemon that is not itself the collector advertises its name,
 * type and address to COLLECTOR_HOST at once and then every third of the
 * ad's lifetime, so the ad expires soon after the daemon stops.
 *
 * @module
 */
import { type DaemonAd, PATHS } from "../api/protocol.ts";

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
  /** Certificates to trust for the collector (AUTH_SSL_CLIENT_CAFILE); system roots when absent. */
  caCerts: string[] | undefined;
  log: (line: string) => void;
}

/** A running advertiser. */
export interface Advertiser {
  /** Advertises now (also done by the timer); resolves true when the collector accepted. */
  advertise(): Promise<boolean>;
  /** Stops advertising; the ad then expires at the collector. */
  stop(): Promise<void>;
}

/** Starts advertising at once and periodically. Needs --allow-net. */
export function startAdvertiser(options: AdvertiserOptions): Advertiser {
  const client = Deno.createHttpClient(options.caCerts ? { caCerts: options.caCerts } : {});
  const controller = new AbortController();
  let healthy: boolean | undefined;
  let running: Promise<boolean> = Promise.resolve(true);

  const once = async (): Promise<boolean> => {
    const ad = { ...options.ad(), lifetime: options.lifetime };
    let problem: string | undefined;
    try {
      const response = await fetch(new URL(PATHS.daemons, options.collectorUrl), {
        method: "POST",
        client,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${await options.credential()}`,
        },
        body: JSON.stringify(ad),
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]),
      });
      const text = await response.text();
      if (!response.ok) problem = `HTTP ${response.status} ${errorCodeOf(text)}`;
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
      client.close();
    },
  };
}

function errorCodeOf(text: string): string {
  try {
    const code = JSON.parse(text)?.error?.code;
    return typeof code === "string" ? code : "";
  } catch {
    return "";
  }
}
