/**
 * The fields of a token request as `condor_token_request_list -json` and
 * `requestJson()` show it, in their documented order: HTCondor 25's
 * attributes as its own tool prints them (LimitAuthorization and
 * TokenLifetime only when set), then ours. Written out here rather than
 * taken from src/ so that a change there has to be made here too.
 */
export const REQUEST_JSON_FIELDS = [
  "AuthenticatedIdentity",
  "ClientId",
  "LimitAuthorization",
  "PeerLocation",
  "RequestedIdentity",
  "RequestId",
  "TokenLifetime",
  "requestedAt",
  "expiresAt",
] as const;

/**
 * What HTCondor 25.14's condor_token_request_list -json printed for two
 * requests at its collector (one unlimited, one for READ and WRITE for 600
 * s), byte for byte.
 */
export const HTCONDOR_LIST_JSON = `[
{
  "AuthenticatedIdentity": "unauthenticated@unmapped",
  "ClientId": "vm-854",
  "PeerLocation": "127.0.0.1",
  "RequestedIdentity": "bob@htcondor.test",
  "RequestId": "0871914"
}
,
{
  "AuthenticatedIdentity": "unauthenticated@unmapped",
  "ClientId": "vm-524",
  "LimitAuthorization": "READ,WRITE",
  "PeerLocation": "127.0.0.1",
  "RequestedIdentity": "alice@htcondor.test",
  "RequestId": "5926133",
  "TokenLifetime": 600
}
]
`;
