import assert from "node:assert/strict";
import type { RequestInfo } from "../../src/api/protocol.ts";
import {
  classAdJsonList,
  classAdString,
  formatAd,
  formatRequest,
  judgementAttributes,
  requestJson,
} from "../../src/cli/_request_ad.ts";
import { HTCONDOR_LIST_JSON, REQUEST_JSON_FIELDS } from "../_support/request_fields.ts";

const REQUEST: RequestInfo = {
  requestId: "0042137",
  requestedIdentity: "someone@example",
  authenticatedIdentity: "www-data@vm",
  peerLocation: "127.0.0.1",
  clientId: "vm-228",
  authorizations: ["READ"],
  lifetime: 600,
  state: "pending",
  requestedAt: 1_700_000_000,
  expiresAt: 1_700_003_600,
};

Deno.test("formatRequest() prints what HTCondor 25.14 prints for a request", () => {
  assert.equal(
    formatRequest(REQUEST),
    `AuthenticatedIdentity = "www-data@vm"
ClientId = "vm-228"
LimitAuthorization = "READ"
PeerLocation = "127.0.0.1"
RequestedIdentity = "someone@example"
RequestId = "0042137"
TokenLifetime = 600
`,
  );
});

Deno.test("formatRequest() leaves out LimitAuthorization and TokenLifetime when unset and joins levels with commas", () => {
  const unlimited = formatRequest({ ...REQUEST, authorizations: [], lifetime: null });
  assert.doesNotMatch(unlimited, /LimitAuthorization|TokenLifetime/);
  assert.match(
    formatRequest({ ...REQUEST, authorizations: ["ADVERTISE_STARTD", "ADVERTISE_MASTER"] }),
    /\nLimitAuthorization = "ADVERTISE_STARTD,ADVERTISE_MASTER"\n/,
  );
});

Deno.test("classAdString() quotes as old ClassAds do and keeps control characters off the terminal", () => {
  assert.equal(classAdString("plain"), '"plain"');
  assert.equal(classAdString('say "hi"'), '"say \\"hi\\""');
  assert.equal(classAdString("a\\b"), '"a\\b"');
  assert.equal(classAdString("ends\\"), '"ends\\\\"');
  assert.equal(classAdString('a\\"b'), '"a\\\\\\"b"');
  assert.equal(classAdString("bell\u0007\nline\u001b[2J"), '"bell??line?[2J"');
});

Deno.test("judgementAttributes() gives the request's age and time left in whole seconds", () => {
  const now = (REQUEST.requestedAt + 125) * 1000 + 999;
  assert.deepEqual(judgementAttributes(REQUEST, now), [
    ["RequestAge", 125],
    ["RequestTimeLeft", 3475],
  ]);
  // A client clock behind the daemon's, or a request past its deadline, shows 0, never negative.
  assert.deepEqual(judgementAttributes(REQUEST, 0), [["RequestAge", 0], [
    "RequestTimeLeft",
    1_700_003_600,
  ]]);
  assert.deepEqual(judgementAttributes(REQUEST, 1_800_000_000_000)[1], ["RequestTimeLeft", 0]);
  assert.equal(formatAd([["RequestAge", 5], ["Note", "x"]]), 'RequestAge = 5\nNote = "x"\n');
});

Deno.test("requestJson() gives HTCondor's attributes, in its order, then ours", () => {
  const extra = { ...REQUEST, secretHash: "never shown" } as RequestInfo;
  const json = requestJson(extra);
  assert.deepEqual(Object.keys(json), REQUEST_JSON_FIELDS);
  assert.deepEqual(json, {
    AuthenticatedIdentity: "www-data@vm",
    ClientId: "vm-228",
    LimitAuthorization: "READ",
    PeerLocation: "127.0.0.1",
    RequestedIdentity: "someone@example",
    RequestId: "0042137",
    TokenLifetime: 600,
    requestedAt: 1_700_000_000,
    expiresAt: 1_700_003_600,
  });
  // Unset, LimitAuthorization and TokenLifetime are left out, as HTCondor does.
  assert.deepEqual(
    Object.keys(requestJson({ ...REQUEST, authorizations: [], lifetime: null })),
    REQUEST_JSON_FIELDS.filter((f) => f !== "LimitAuthorization" && f !== "TokenLifetime"),
  );
});

Deno.test("classAdJsonList() prints what HTCondor 25.14's condor_token_request_list -json prints", () => {
  // A request from an HTCondor daemon carries no time of ours: the output is HTCondor's.
  const fromHtcondor = (info: Partial<RequestInfo>): RequestInfo => ({
    ...REQUEST,
    authenticatedIdentity: "unauthenticated@unmapped",
    authorizations: [],
    lifetime: null,
    requestedAt: 0,
    expiresAt: 0,
    ...info,
  });
  const listed = classAdJsonList([
    fromHtcondor({
      requestId: "0871914",
      clientId: "vm-854",
      requestedIdentity: "bob@htcondor.test",
    }),
    fromHtcondor({
      requestId: "5926133",
      clientId: "vm-524",
      requestedIdentity: "alice@htcondor.test",
      authorizations: ["READ", "WRITE"],
      lifetime: 600,
    }),
  ].map(requestJson));
  assert.equal(listed, HTCONDOR_LIST_JSON);
  assert.equal(classAdJsonList([{ A: 'say "hi"' }]), '[\n{\n  "A": "say \\"hi\\""\n}\n]\n');
});
