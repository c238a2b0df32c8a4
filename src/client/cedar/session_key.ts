/**
 * The session key of a CEDAR connection: each side sends an ephemeral P-256
 * public key (base64 of the 65-byte uncompressed point) in its security ad;
 * the key is HKDF-SHA256 of the ECDH shared secret (the x-coordinate), salt
 * "htcondor", info "keygen", 32 bytes, used for AES-256-GCM.
 *
 * @module
 */

/** Our half of the key exchange. */
export interface EcdhKeyPair {
  privateKey: CryptoKey;
  /** Base64 (standard, padded) of the uncompressed public point, as HTCondor sends it. */
  publicKeyBase64: string;
}

const P256 = { name: "ECDH", namedCurve: "P-256" } as const;
const encoder = new TextEncoder();

/** A key pair made ahead by {@link prepareEcdhKeyPair}, not yet handed to any handshake. */
let prepared: Promise<EcdhKeyPair> | undefined;

/**
 * Starts making the next handshake's key pair now, in the background. A
 * process's first key pair (like its first TLS handshake) costs about 55 ms
 * of CPU while the crypto library sets up its random generator; Web
 * Crypto does that on a worker thread, so starting it first thing overlaps
 * it with loading the configuration on the main thread. The pair is used
 * by the next {@link newEcdhKeyPair} call and by no other: each key still
 * serves one handshake only. Calling it again before that is a no-op.
 */
export function prepareEcdhKeyPair(): void {
  if (prepared !== undefined) return;
  prepared = generate();
  // Unused (an HTTPS daemon) or failed: the next newEcdhKeyPair says why.
  prepared.catch(() => {});
}

/** A fresh key pair for one handshake (the one made ahead, if any). */
export function newEcdhKeyPair(): Promise<EcdhKeyPair> {
  const pair = prepared ?? generate();
  prepared = undefined;
  return pair;
}

async function generate(): Promise<EcdhKeyPair> {
  const pair = await crypto.subtle.generateKey(P256, true, ["deriveBits"]) as CryptoKeyPair;
  return ecdhKeyPair(pair);
}

/** Wraps a generated (or, in tests, fixed) key pair. */
export async function ecdhKeyPair(pair: CryptoKeyPair): Promise<EcdhKeyPair> {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKeyBase64: toBase64(raw) };
}

/**
 * The 32-byte session key from our private key and the peer's base64 public
 * key. Throws TypeError when the peer's key is not a P-256 point.
 */
export async function deriveSessionKey(ours: EcdhKeyPair, peerBase64: string): Promise<Uint8Array> {
  let peerRaw: Uint8Array;
  try {
    peerRaw = fromBase64(peerBase64);
  } catch (err) {
    throw new TypeError("the peer's ECDH public key is not base64", { cause: err });
  }
  let peer: CryptoKey;
  try {
    peer = await crypto.subtle.importKey("raw", peerRaw as BufferSource, P256, false, []);
  } catch (err) {
    throw new TypeError("the peer's ECDH public key is not a P-256 point", { cause: err });
  }
  const secret = await crypto.subtle.deriveBits(
    { name: "ECDH", public: peer },
    ours.privateKey,
    256,
  );
  return await hkdfSha256(new Uint8Array(secret), "htcondor", "keygen", 32);
}

/** HKDF-SHA256 with text salt and info. */
export async function hkdfSha256(
  ikm: Uint8Array,
  salt: string,
  info: string,
  length: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", ikm as BufferSource, "HKDF", false, [
    "deriveBits",
  ]);
  return new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: encoder.encode(salt), info: encoder.encode(info) },
      key,
      length * 8,
    ),
  );
}

export function toBase64(bytes: Uint8Array): string {
  return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
}

export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
