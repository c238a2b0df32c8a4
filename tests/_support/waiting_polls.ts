/**
 * Waiting for requesters' long polls to be parked in a test daemon, read from
 * its own `condor_tokend_waiting_polls` gauge on /metrics: a test that then
 * approves, denies, expires or shuts down knows the poll is already waiting,
 * instead of hoping a fixed sleep was long enough.
 */
import { until, type UntilOptions } from "./until.ts";

/** The daemon's `condor_tokend_waiting_polls` gauge, read over HTTPS. Needs --allow-net. */
export async function waitingPolls(
  daemon: { url: string; certPem: string },
  client?: Deno.HttpClient,
): Promise<number> {
  const own = client ?? Deno.createHttpClient({ caCerts: [daemon.certPem] });
  try {
    const response = await fetch(`${daemon.url}/metrics`, {
      client: own,
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}: ${text}`);
    const match = /^condor_tokend_waiting_polls (\d+)$/m.exec(text);
    if (!match) throw new Error(`GET /metrics has no condor_tokend_waiting_polls gauge:\n${text}`);
    return Number(match[1]);
  } finally {
    if (client === undefined) own.close();
  }
}

/**
 * Resolves once exactly `n` long polls are waiting in the daemon; throws if
 * that has not happened within `timeoutMs` (default 10 s). Needs --allow-net.
 */
export async function untilWaiting(
  daemon: { url: string; certPem: string },
  n: number,
  options: Pick<UntilOptions, "timeoutMs"> = {},
): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
  let last: number | undefined;
  try {
    await until(
      `${n} waiting long poll(s) at ${daemon.url}`,
      async () => (last = await waitingPolls(daemon, client)) === n,
      { ...options, describe: () => `${last} waiting` },
    );
  } finally {
    client.close();
  }
}
