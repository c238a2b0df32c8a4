/**
 * Signing keys as HTCondor stores them: scrambled key files, the POOL key's
 * doubling rule, and HKDF-SHA256 down to the 32-byte HS256 key.
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { KeyError } from "../errors.ts";
import { isPlainFileName } from "./private_file.ts";
import { inspectTrusted, type TrustRule } from "./trusted_file.ts";

const SCRAMBLE = [0xde, 0xad, 0xbe, 0xef];
const HKDF_SALT = new TextEncoder().encode("htcondor");
const HKDF_INFO = new TextEncoder().encode("master jwt");

/** The name of the pool's own signing key. */
export const POOL_KEY_ID = "POOL";

/** A key ready to sign and verify HS256 tokens. */
export interface SigningKey {
  /** The key's name, the token header's `kid`. */
  readonly kid: string;
  /** HMAC-SHA256 key, non-extractable. */
  readonly hmac: CryptoKey;
}

/** Where keys live on disk. */
export interface KeyLocations {
  /** `SEC_TOKEN_POOL_SIGNING_KEY_FILE`. */
  poolKeyFile: string;
  /** `SEC_PASSWORD_DIRECTORY`, holding named keys. */
  passwordDirectory: string;
  /** `SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD`: truncate the POOL key at its first NUL. */
  poolKeyIsPassword?: boolean;
}

/**
 * Where the signing keys live, as HTCondor's knobs say: the one reading
 * both the tools (which sign) and the daemon (which verifies) use, so they
 * never look in different places. Throws ConfigError CONFIG_MISSING for an
 * unset knob.
 */
export function keyLocationsOf(config: CondorConfig): KeyLocations {
  return {
    poolKeyFile: config.require("SEC_TOKEN_POOL_SIGNING_KEY_FILE"),
    passwordDirectory: config.require("SEC_PASSWORD_DIRECTORY"),
    poolKeyIsPassword: config.bool("SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD", false),
  };
}

/** XORs `bytes` with HTCondor's repeating DE AD BE EF pattern (its own inverse). */
export function scramble(bytes: Uint8Array): Uint8Array {
  return bytes.map((b, i) => b ^ SCRAMBLE[i % 4]);
}

/** Throws KeyError("KEY_BAD_KID") unless `kid` is a plain, non-empty file name. */
export function assertPlainKeyId(kid: string): void {
  if (!isPlainFileName(kid)) {
    throw new KeyError(
      "KEY_BAD_KID",
      `Cannot use signing key ${JSON.stringify(kid)}: a key name must be a plain file name`,
    );
  }
}

/** Derives the 32 HS256 key bytes from a key file's unscrambled contents. */
export async function deriveJwtKeyBytes(
  password: Uint8Array,
  options: { isPool: boolean; truncateAtNul?: boolean },
): Promise<Uint8Array> {
  let pw = password;
  if (options.truncateAtNul) {
    const nul = pw.indexOf(0);
    if (nul >= 0) pw = pw.slice(0, nul);
  }
  if (options.isPool) {
    const doubled = new Uint8Array(pw.length * 2);
    doubled.set(pw, 0);
    doubled.set(pw, pw.length);
    pw = doubled;
  }
  const ikm = await crypto.subtle.importKey("raw", pw as BufferSource, "HKDF", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: HKDF_SALT, info: HKDF_INFO },
    ikm,
    256,
  );
  return new Uint8Array(bits);
}

/** Builds a SigningKey from a key file's on-disk (scrambled) bytes. */
export async function signingKeyFromFileBytes(
  kid: string,
  fileBytes: Uint8Array,
  options: { isPool: boolean; truncateAtNul?: boolean },
): Promise<SigningKey> {
  assertPlainKeyId(kid);
  if (fileBytes.length === 0) {
    throw new KeyError("KEY_EMPTY", `Cannot use signing key "${kid}": the key file is empty`);
  }
  const raw = await deriveJwtKeyBytes(scramble(fileBytes), options);
  const hmac = await crypto.subtle.importKey(
    "raw",
    raw as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  return { kid, hmac };
}

/** The file that holds key `kid`. Throws KEY_BAD_KID before any path is formed. */
export function keyFilePath(kid: string, where: KeyLocations): string {
  assertPlainKeyId(kid);
  if (kid === POOL_KEY_ID) return where.poolKeyFile;
  return `${where.passwordDirectory.replace(/\/+$/, "")}/${kid}`;
}

/** What a signing key file must be: a file nobody else may read or write (a link is followed, as HTCondor does). */
export const KEY_FILE_RULE: TrustRule = {
  kind: "file",
  privateBits: 0o077,
  fixMode: 0o600,
  followSymlinks: true,
};

/**
 * Reads and derives key `kid`. Refuses a file that group or others can read
 * (as HTCondor does), naming the file, its mode and the chmod that fixes it.
 * Needs --allow-read.
 */
export async function readSigningKey(kid: string, where: KeyLocations): Promise<SigningKey> {
  const path = keyFilePath(kid, where);
  let bytes: Uint8Array;
  try {
    const { info, problem } = await inspectTrusted(path, KEY_FILE_RULE);
    if (info === undefined) {
      throw new KeyError("KEY_MISSING", `Cannot use signing key "${kid}": ${path} does not exist`);
    }
    if (problem) {
      throw new KeyError(
        problem.kind === "kind" ? "KEY_NOT_FILE" : "KEY_INSECURE",
        `Cannot use signing key "${kid}": ${problem.reason}`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new KeyError(
        "KEY_MISSING",
        `Cannot use signing key "${kid}": ${path} does not exist`,
        { cause: err },
      );
    }
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
      throw new KeyError(
        "KEY_UNREADABLE",
        `Cannot use signing key "${kid}": ${path} is not readable by this user`,
        { cause: err },
      );
    }
    throw err;
  }
  return await signingKeyFromFileBytes(kid, bytes, {
    isPool: kid === POOL_KEY_ID,
    truncateAtNul: kid === POOL_KEY_ID && where.poolKeyIsPassword === true,
  });
}

/**
 * Creates a new random POOL-style key file (64 bytes, scrambled, mode 0600
 * whatever the umask) if none exists; never overwrites, and never creates
 * a missing directory (a mistyped path must not quietly become a new key's
 * home): that is KeyError KEY_DIRECTORY_MISSING. Returns true when it
 * created the file. Needs --allow-read and --allow-write of the directory.
 */
export async function createKeyFileIfMissing(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return false;
    if (err instanceof Deno.errors.NotFound) {
      const dir = path.slice(0, Math.max(path.lastIndexOf("/"), 0)) || ".";
      throw new KeyError(
        "KEY_DIRECTORY_MISSING",
        `Cannot create signing key ${path}: directory ${dir} does not exist`,
        { cause: err },
      );
    }
    throw err;
  }
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    const bytes = scramble(crypto.getRandomValues(new Uint8Array(64)));
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
  return true;
}
