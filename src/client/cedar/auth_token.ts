/**
 * HTCondor's TOKEN (IDTOKENS) authentication method, as a client holding a
 * token. The token's signature is the shared secret: only the holder of the
 * token and the holder of the signing key can compute it. Both sides derive
 * K = HKDF-SHA256(signature, SEED_A ‖ "header.payload", "master ka"), then
 * prove knowledge of K to each other over fresh random nonces (HMAC-SHA1,
 * as HTCondor computes it), AKEP2-style:
 *
 * - us:     `[int 0][int len(a)][string a][string header.payload][int 256][ra]`
 * - daemon: `[int 0][int len(a)][string a][int len(b)][string b][int 256][ra][int 256][rb][int 20][HMAC(K, a " " b NUL ra rb)]`
 * - us:     `[int 0][int len(a)][string a][int 256][rb][int 20][HMAC(K, a NUL rb)]`
 *
 * where `a` is the token's subject. A daemon that rejects the token (unknown
 * key, expired) answers with status -1; we then send the error form and try
 * the next method.
 *
 * @module
 */
import { DaemonError, TokenError } from "../../errors.ts";
import { base64UrlBytes, base64UrlText } from "../../token/idtoken.ts";
import { DAEMON_ERRORS } from "../daemon_client.ts";
import { type AuthMethod, AuthMethodFailed, type DaemonSecurity } from "./handshake.ts";
import { concat, type PacketStream } from "./packet_stream.ts";

/** Length of each side's random nonce. */
const NONCE_SIZE = 256;
/** Length of an HMAC-SHA1. */
const MAC_SIZE = 20;

/** HTCondor's fixed HKDF salt prefixes for K and K' (protocol constants, 256 bytes each). */
const SEED_A = hexBytes(
  "3e4a502047d5f4e5dc7c69bb5210cbb6167add8084f7dd9ef3ad2cca71d283dd114a4fbb7b1ee90adfa862c44304de54" +
    "73a3172f735c2cbb6e775b5d40d39face873182523f9252b623be0d4b167a3a8040cacfee9ee3da02c0abbf4d9d8b11f" +
    "89004c943923ce5d9508bb3f04bc66a3fa20a13a416c5e6f4e0d3187d45fc78335c5e485db2c5a3717970cc26e7b6b9d" +
    "1965b47a67df77a31f22f08a6c0ba57097a21a9ca7c60424f72739ab5cb915a4185bd109828e35e42108ab851c08a3df" +
    "fde0e3b06f3d3938cdad6df6ef9a6f6dc2cb74f0228512eb7a3d6823010684b015c12ac3014c4f9f938e384dad1e3bd7" +
    "45ff8c141fd70b465ba8af5d1b98b4b1",
);

/** Where the method gets its token: one the daemon (trust domain, keys) accepts. */
export interface TokenMethodOptions {
  /** Returns a token issued by the daemon's trust domain; throws DaemonError when there is none. */
  token: (daemon: DaemonSecurity) => Promise<string>;
}

/** The keys of one exchange, derived from a token (exported for tests). */
export async function tokenMasterKey(token: string): Promise<{
  subject: string;
  signedPart: string;
  key: Uint8Array;
}> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new TypeError("not a JWT");
  const [header, payload, signature] = parts;
  let claims: { sub?: unknown; jti?: unknown } | null;
  try {
    claims = JSON.parse(base64UrlText(payload));
  } catch (err) {
    if (!(err instanceof SyntaxError || err instanceof TokenError)) throw err;
    throw new TypeError("the token's payload is not base64url JSON", { cause: err });
  }
  const subject = typeof claims?.sub === "string"
    ? claims.sub
    : typeof claims?.jti === "string"
    ? claims.jti
    : undefined;
  if (!subject) throw new TypeError("the token has neither sub nor jti");
  const signedPart = `${header}.${payload}`;
  const salt = concat([SEED_A, new TextEncoder().encode(signedPart)]);
  const ikm = await crypto.subtle.importKey(
    "raw",
    signatureBytes(signature) as BufferSource,
    "HKDF",
    false,
    ["deriveBits"],
  );
  const key = new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: salt as BufferSource,
        info: new TextEncoder().encode("master ka"),
      },
      ikm,
      256,
    ),
  );
  return { subject, signedPart, key };
}

/** HMAC-SHA1 under `key`. */
export async function hmacSha1(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as BufferSource));
}

/** The TOKEN method (bit 2048). */
export function tokenMethod(options: TokenMethodOptions): AuthMethod {
  let token: string | undefined;
  return {
    name: "TOKEN",
    async prepare(daemon) {
      try {
        token = await options.token(daemon);
        return undefined;
      } catch (err) {
        // No token this daemon accepts: the method is not offered at all.
        if (!(err instanceof DaemonError)) throw err;
        return err.message;
      }
    },
    async run(stream) {
      if (token === undefined) throw new AuthMethodFailed("no token");
      const { subject, signedPart, key } = await tokenMasterKey(token);
      const encoder = new TextEncoder();
      const ra = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
      await stream.send(
        stream.message().int(0).int(encoder.encode(subject).length).string(subject)
          .string(signedPart).int(NONCE_SIZE).raw(ra),
      );
      const reply = await stream.receive();
      const status = reply.int();
      if (status !== 0) {
        await sendFailure(stream);
        throw new AuthMethodFailed(
          `the daemon refused the token for "${subject}" (expired, revoked, or signed with a key it does not hold)`,
        );
      }
      reply.int();
      const a = reply.string();
      reply.int();
      const b = reply.string();
      const raEcho = reply.raw(reply.int());
      const rb = reply.raw(reply.int());
      const mac = reply.raw(reply.int());
      const expected = await hmacSha1(
        key,
        concat([encoder.encode(`${a} ${b}`), new Uint8Array(1), raEcho, rb]),
      );
      if (
        a !== subject || b === "" || rb.length !== NONCE_SIZE || !equalBytes(raEcho, ra) ||
        !equalBytes(mac, expected)
      ) {
        await sendFailure(stream);
        throw new DaemonError(
          DAEMON_ERRORS.BAD_RESPONSE,
          `Cannot authenticate to the daemon at ${stream.peer}: its TOKEN answer does not prove it holds the signing key`,
        );
      }
      const proof = await hmacSha1(
        key,
        concat([encoder.encode(subject), new Uint8Array(1), rb]),
      );
      await stream.send(
        stream.message().int(0).int(encoder.encode(subject).length).string(subject)
          .int(NONCE_SIZE).raw(rb).int(MAC_SIZE).raw(proof),
      );
    },
  };
}

/** Our last message in its failure form, after which HTCondor goes back to choosing a method. */
async function sendFailure(stream: PacketStream): Promise<void> {
  await stream.send(stream.message().int(-1).int(0).string("").int(0).int(0));
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

function signatureBytes(segment: string): Uint8Array {
  try {
    return base64UrlBytes(segment);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    throw new TypeError("the token's signature is not base64url", { cause: err });
  }
}
