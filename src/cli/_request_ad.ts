/**
 * How the administrator's tools show a token request: HTCondor's old-ClassAd
 * `Name = value` lines (what `condor_token_request_list` prints), and the
 * same ClassAd as JSON, as HTCondor's tool prints it with `-json`.
 */
import { replaceHidden } from "../api/hidden_character.ts";
import type { RequestInfo } from "../api/protocol.ts";
import { jsonText } from "./_json_text.ts";

/** One attribute of a request block: strings are quoted, numbers bare. */
export type AdAttribute = readonly [name: string, value: string | number];

/**
 * The attributes HTCondor shows for a request, in its order:
 * AuthenticatedIdentity, ClientId, LimitAuthorization (only when the request
 * is limited; several levels comma-separated), PeerLocation,
 * RequestedIdentity, RequestId (a string, as HTCondor sends it) and
 * TokenLifetime (only when one was asked for).
 */
export function requestAttributes(request: RequestInfo): AdAttribute[] {
  const attributes: AdAttribute[] = [
    ["AuthenticatedIdentity", request.authenticatedIdentity],
    ["ClientId", request.clientId],
  ];
  if (request.authorizations.length > 0) {
    attributes.push(["LimitAuthorization", request.authorizations.join(",")]);
  }
  attributes.push(
    ["PeerLocation", request.peerLocation],
    ["RequestedIdentity", request.requestedIdentity],
    ["RequestId", request.requestId],
  );
  if (request.lifetime !== null) attributes.push(["TokenLifetime", request.lifetime]);
  return attributes;
}

/**
 * What an administrator also needs to judge a request, appended after
 * HTCondor's attributes by condor_token_request_approve: how long ago it was
 * made and how long it stays pending, in whole seconds by `nowMs`; nothing
 * when the daemon did not say (HTCondor's own daemons).
 */
export function judgementAttributes(request: RequestInfo, nowMs: number): AdAttribute[] {
  // HTCondor daemons do not say (their requests have 0 for both).
  if (request.requestedAt === 0) return [];
  const now = Math.floor(nowMs / 1000);
  return [
    ["RequestAge", Math.max(0, now - request.requestedAt)],
    ["RequestTimeLeft", Math.max(0, request.expiresAt - now)],
  ];
}

/** Renders attributes as `Name = value` lines, each ending in a newline. */
export function formatAd(attributes: readonly AdAttribute[]): string {
  return attributes.map(([name, value]) =>
    `${name} = ${typeof value === "number" ? String(value) : classAdString(value)}\n`
  ).join("");
}

/** A request as HTCondor's `condor_token_request_list` prints it (no trailing blank line). */
export function formatRequest(request: RequestInfo): string {
  return formatAd(requestAttributes(request));
}

/**
 * Quotes a string as an old-style ClassAd literal: `"` becomes `\"`, and a
 * backslash is doubled only where it would otherwise swallow the quote that
 * follows it (old ClassAds keep other backslashes literal). Control
 * characters (C0 and C1), bidi controls and zero-width characters, which
 * condor_tokend never stores but an HTCondor collector takes from anyone and
 * a terminal would obey, are shown as `?`.
 */
export function classAdString(value: string): string {
  const escaped = replaceHidden(value, "?")
    .replace(/\\(?=\\*("|$))/g, "\\\\")
    .replace(/"/g, '\\"');
  return `"${escaped}"`;
}

/**
 * A request as `condor_token_request_list -json` prints it: HTCondor's
 * attributes, named and ordered as HTCondor 25's tool prints them (see
 * {@link requestAttributes}), then two of ours, `requestedAt` and
 * `expiresAt` (epoch seconds, the daemon's clock), which HTCondor's daemons
 * do not report: against one they are left out, and the object is exactly
 * HTCondor's.
 */
export function requestJson(request: RequestInfo): Record<string, string | number> {
  const json: Record<string, string | number> = Object.fromEntries(requestAttributes(request));
  // HTCondor daemons do not say (their requests have 0 for both).
  if (request.requestedAt !== 0) {
    json.requestedAt = request.requestedAt;
    json.expiresAt = request.expiresAt;
  }
  return json;
}

/**
 * ClassAds as HTCondor's tools print them with `-json`: a JSON array, `[`
 * and `]` on lines of their own, each ad an object with one attribute per
 * line indented by two spaces, and the ads separated by a line holding a
 * comma. Byte for byte what HTCondor 25's condor_token_request_list prints.
 */
export function classAdJsonList(ads: readonly Record<string, string | number>[]): string {
  const objects = ads.map((ad) =>
    "{\n" +
    Object.entries(ad).map(([name, value]) => `  ${jsonText(name)}: ${jsonText(value)}`)
      .join(",\n") +
    "\n}"
  );
  return `[\n${objects.join("\n,\n")}\n]\n`;
}
