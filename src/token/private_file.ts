/**
 * Private files, which only their owner may read: token files, and the
 * client's known-hosts and saved-request files. One writer serves them all:
 * 0600, atomic, never through a symbolic link.
 *
 * @module
 */
import { TokenFileError } from "../errors.ts";

/** How {@link writePrivateFile} names the file in messages and treats its directory. */
export interface PrivateFileOptions {
  /** What the file is, for "Cannot write <label> <path>: <reason>" (default "file"). */
  label?: string;
  /** Create a missing parent directory, 0700 (by default that is TOKEN_FILE_MISSING). */
  createDirectory?: boolean;
}

/**
 * Writes `text` to `path` so that only its owner can read it: a 0600
 * temporary file in the same directory, flushed, then renamed over `path`,
 * so readers see the old text or the new, never part of one. Refuses a
 * `path` that is a symbolic link (TOKEN_FILE_SYMLINK: the user meant the
 * link, not where it points) or not a regular file (TOKEN_FILE_NOT_FILE).
 * Throws TokenFileError, also TOKEN_FILE_DENIED, TOKEN_FILE_MISSING or
 * TOKEN_FILE_IO. Needs --allow-read and --allow-write of the directory.
 */
export async function writePrivateFile(
  path: string,
  text: string,
  options: PrivateFileOptions = {},
): Promise<void> {
  const action = `write ${options.label ?? "file"}`;
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  if (options.createDirectory) {
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw privateFileError("create directory", dir, err);
    }
  }
  let existing: Deno.FileInfo | undefined;
  try {
    existing = await Deno.lstat(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw privateFileError(action, path, err);
  }
  if (existing?.isSymlink) {
    throw new TokenFileError(
      "TOKEN_FILE_SYMLINK",
      `Cannot ${action} ${path}: it is a symbolic link; remove it or choose another name`,
    );
  }
  if (existing && !existing.isFile) {
    throw new TokenFileError(
      "TOKEN_FILE_NOT_FILE",
      `Cannot ${action} ${path}: it exists and is not a regular file`,
    );
  }
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const temp = `${dir}/.${path.slice(slash + 1)}.${suffix}.tmp`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
  } catch (err) {
    throw privateFileError(action, path, err);
  }
  try {
    try {
      // Some systems apply default ACLs at creation; pin the mode explicitly.
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
    throw privateFileError(action, path, err);
  }
}

/**
 * A TokenFileError "Cannot <action> <path>: <reason>" for a file system
 * error: TOKEN_FILE_DENIED, TOKEN_FILE_MISSING or TOKEN_FILE_IO. A
 * TokenFileError passes unchanged.
 */
export function privateFileError(action: string, path: string, err: unknown): TokenFileError {
  if (err instanceof TokenFileError) return err;
  const code = err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable
    ? "TOKEN_FILE_DENIED"
    : err instanceof Deno.errors.NotFound
    ? "TOKEN_FILE_MISSING"
    : "TOKEN_FILE_IO";
  return new TokenFileError(code, `Cannot ${action} ${path}: ${fileErrorReason(err)}`, {
    cause: err,
  });
}

/** A short reason for a file system error, for "Cannot <action> <path>: <reason>". */
export function fileErrorReason(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return "permission denied";
  }
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  if (err instanceof Deno.errors.AlreadyExists) return "something of that name is in the way";
  if (err instanceof Deno.errors.IsADirectory) return "it is a directory";
  return err instanceof Error ? err.message : String(err);
}
