/**
 * Attack: anyone can ask an HTCondor collector for a token (it filters
 * nothing), so the ClientId and RequestedIdentity an administrator's
 * condor_token_request_list / _approve print are a stranger's text. C0
 * controls are shown as "?", but an 8-bit CSI (U+009B, which xterm obeys in
 * UTF-8), bidi overrides and zero-width characters passed through: "conceal"
 * could hide the identity the administrator is about to approve, an override
 * could reorder it.
 */
import assert from "node:assert/strict";
import { classAdString, formatRequest } from "../../src/cli/_request_ad.ts";

Deno.test("attack: C1 controls, bidi and zero-width characters in a listed request are not printed as such", () => {
  const hidden = "\u009b8m\u202e\u2066\u200b\u061c\ufeff\u0085";
  const block = formatRequest({
    requestId: "1234567",
    requestedIdentity: `condor@pool.example.org${hidden}`,
    authenticatedIdentity: "unauthenticated@unmapped",
    peerLocation: "10.0.0.7",
    clientId: `worker-1${hidden}`,
    authorizations: [],
    lifetime: null,
    state: "pending",
    requestedAt: 0,
    expiresAt: 0,
  });
  assert.doesNotMatch(
    block,
    /[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/,
    JSON.stringify(block),
  );
  assert.equal(classAdString(`a${hidden}b`), `"a?8m??????b"`);
});
