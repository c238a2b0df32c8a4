/**
 * Asking an HTCondor collector which daemons it knows: one query command per
 * daemon type (QUERY_ANY_ADS for all), a query ad with a `Requirements`
 * expression, and a reply of `[int 1][ad]` per daemon ended by `[int 0]`.
 * A daemon's address is its `MyAddress` sinful string.
 *
 * @module
 */
import type { DaemonAd } from "../../api/protocol.ts";
import { type ClassAd, type ClassAdValue, stringOf } from "./classad.ts";
import type { MessageReader } from "./packet_stream.ts";

/** Query commands and ad types of the daemon types a token tool may target. */
const QUERIES: Record<string, { command: number; adType: string }> = {
  STARTD: { command: 5, adType: "Machine" },
  SCHEDD: { command: 6, adType: "Scheduler" },
  MASTER: { command: 7, adType: "DaemonMaster" },
  COLLECTOR: { command: 20, adType: "Collector" },
  NEGOTIATOR: { command: 50, adType: "Negotiator" },
  HAD: { command: 56, adType: "HAD" },
  CREDD: { command: 74, adType: "CredD" },
};

/** QUERY_ANY_ADS: every ad the collector holds. */
export const QUERY_ANY_ADS = 48;

/** Most ads read from one reply. */
const MAX_ADS = 100_000;

/** The command and query ad that ask for daemons of `type` (any type when absent) named `name`. */
export function daemonQuery(
  query: { name?: string; type?: string },
): { command: number; ad: [string, ClassAdValue][] } {
  const known = query.type === undefined ? undefined : QUERIES[query.type];
  const requirements = query.name === undefined
    ? (known === undefined && query.type !== undefined
      ? `(MyType == ${quote(query.type)})`
      : "true")
    : `(Name == ${quote(query.name)})`;
  return {
    command: known?.command ?? QUERY_ANY_ADS,
    ad: [
      ["MyType", "Query"],
      ["TargetType", known?.adType ?? "Any"],
      ["Requirements", { expr: requirements }],
    ],
  };
}

/** Reads a query reply: `[int 1][ad]` per daemon, then `[int 0]`. */
export function readQueryReply(reply: MessageReader): ClassAd[] {
  const ads: ClassAd[] = [];
  while (reply.int() !== 0 && ads.length < MAX_ADS) ads.push(reply.classAd());
  return ads;
}

/** A daemon ad as {@link DaemonAd}: name, upper-case type, sinful address. Undefined without an address. */
export function daemonAdOf(ad: ClassAd): DaemonAd | undefined {
  const address = stringOf(ad, "MyAddress");
  const name = stringOf(ad, "Name");
  const myType = stringOf(ad, "MyType") ?? "";
  if (!address || !name) return undefined;
  const type = Object.entries(QUERIES).find(([, q]) => q.adType === myType)?.[0] ??
    myType.toUpperCase();
  return { name, type, address };
}

/** An old-ClassAd string literal. */
function quote(text: string): string {
  return `"${text.replaceAll('"', '\\"')}"`;
}
