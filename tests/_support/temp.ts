/** Temporary directories for tests, removed when the callback ends. */

/** Runs `fn` with a fresh temporary directory and removes it afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "condor-token-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The 64-byte key file of spec/idtokens.md's test vectors: byte i has value i. */
export const VECTOR_KEY_FILE = Uint8Array.from({ length: 64 }, (_, i) => i);

/** Writes a key file with the given bytes and mode. */
export async function writeKeyFile(path: string, bytes: Uint8Array, mode = 0o600) {
  await Deno.writeFile(path, bytes, { mode });
  await Deno.chmod(path, mode);
}

/** Lowercase hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
