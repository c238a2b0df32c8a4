/**
 * How the administrator's tools show a token request: HTCondor's old-ClassAd
 * `Name = value` lines (what `condor_token_request_list` prints), and the
 * stable JSON object of `-json`.
 */
import type { RequestInfo } from "../api/protocol.ts";

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
  const escaped = value
    // deno-lint-ignore no-control-regex
    .replace(
      /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g,
      "?",
    )
    .replace(/\\(?=\\*("|$))/g, "\\\\")
    .replace(/"/g, '\\"');
  return `"${escaped}"`;
}

/**
 * A request as `condor_token_request_list -json` prints it: exactly the
 * fields of {@link RequestInfo}, in a fixed order, so the names stay stable
 * whatever else the protocol grows (see docs/admin_tools.md).
 */
export function requestJson(request: RequestInfo): Record<string, unknown> {
  return {
    requestId: request.requestId,
    requestedIdentity: request.requestedIdentity,
    authenticatedIdentity: request.authenticatedIdentity,
    peerLocation: request.peerLocation,
    clientId: request.clientId,
    authorizations: [...request.authorizations],
    lifetime: request.lifetime,
    state: request.state,
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
  };
}
