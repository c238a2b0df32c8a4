/**
 * The fields of a token request as `condor_token_request_list -json` and
 * `requestJson()` show it, in their documented order. Written out here rather
 * than taken from src/ so that a change there has to be made here too.
 */
export const REQUEST_JSON_FIELDS = [
  "requestId",
  "requestedIdentity",
  "authenticatedIdentity",
  "peerLocation",
  "clientId",
  "authorizations",
  "lifetime",
  "state",
  "requestedAt",
  "expiresAt",
] as const;
