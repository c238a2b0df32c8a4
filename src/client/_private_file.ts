/**
 * The client's private files (known hosts, request state) are written the
 * way token files are: 0600, in a 0700 directory, atomically, never through
 * a symbolic link.
 *
 * @module
 */

/**
 * Writes `text` to `path`: a 0600 temporary file beside it, flushed, then
 * renamed over it; creates the parent directory 0700 if missing. Throws the
 * underlying Deno error; refuses a symlink or non-file at `path`.
 * Needs --allow-read and --allow-write of the directory.
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  let existing: Deno.FileInfo | undefined;
  try {
    existing = await Deno.lstat(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (existing && !existing.isFile) {
    throw new Error(`${path} exists and is not a regular file (a symbolic link?)`);
  }
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16))
    .join("");
  const temp = `${dir}/.${path.slice(slash + 1)}.${suffix}.tmp`;
  const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
  try {
    try {
      await Deno.chmod(temp, 0o600);
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
}

/** Removes `path` if it exists. Needs --allow-write. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** A short reason for a file system error, for "Cannot <action> <path>: <reason>". */
export function fileErrorReason(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return "permission denied";
  }
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  return err instanceof Error ? err.message : String(err);
}
