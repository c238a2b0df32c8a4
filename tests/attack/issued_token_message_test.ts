/**
 * Attack: a refused token's claims are quoted in the one line the requester
 * prints. JSON.stringify escapes C0 controls but leaves C1 controls (U+009B
 * is CSI to xterm), bidi overrides and zero-width characters, so a server
 * that hands out a token for "condor@pool\u009b8m..." chose what the
 * terminal does with the rest of the line.
 */
import assert from "node:assert/strict";
import { TokenError } from "../../src/errors.ts";
import { checkIssuedToken } from "../../src/token/issued_token.ts";

const HIDDEN = "\u009b8m\u202e\u200b";

function b64url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A token-shaped JWT with these claims (the requester cannot check signatures). */
function token(claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT", kid: "POOL" }));
  const payload = b64url(JSON.stringify({ iat: 1, jti: "j", ...claims }));
  return `${header}.${payload}.${b64url("signature")}`;
}

Deno.test("attack: a refused token's sub, issuer and scope are quoted without C1, bidi or zero-width characters", () => {
  for (
    const [claims, authz] of [
      [{ sub: `condor@pool${HIDDEN}`, iss: "pool" }, []],
      [{ sub: "condor@pool", iss: `evil${HIDDEN}` }, []],
      [{ sub: "condor@pool", iss: "pool", scope: `condor:/READ${HIDDEN}` }, ["ADVERTISE_STARTD"]],
    ] as const
  ) {
    let err: unknown;
    try {
      checkIssuedToken(token(claims), {
        identity: "condor@pool",
        authz,
        lifetime: null,
        trustDomain: "pool",
      });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof TokenError, `${JSON.stringify(claims)}: ${err}`);
    assert.doesNotMatch(
      err.message,
      /[\u0080-\u009f\u202a-\u202e\u200b-\u200f]/,
      JSON.stringify(err.message),
    );
  }
});
