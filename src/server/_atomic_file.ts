/**
 * The daemon's atomic writer for files that are not secret to their owner
 * alone: the self-signed TLS certificate and key, and TOKEND_ADDRESS_FILE.
 * A stand-in until src/token/private_file.ts's writePrivateFile takes a
 * mode, when both callers move to it.
 *
 * @module
 */
import { CondorError } from "../errors.ts";

/** How a failure is reported: `code`, and "Cannot write <label> <path>: <reason>". */
export interface AtomicWriteOptions {
  /** The file's permission bits (set explicitly: the umask does not apply). */
  mode: number;
  code: string;
  label: string;
}

/**
 * Writes `text` to `path` through a temporary file in the same directory,
 * flushed to disk, then renamed over `path`, so that readers (and a restart
 * after a crash) see the old text or the new, never part of one. The
 * temporary file is removed when anything fails, so no copy (of a private
 * key, say) is left behind. Refuses a `path` that is a symbolic link.
 * Throws CondorError with `options.code`. Needs --allow-read and
 * --allow-write of the directory.
 */
export async function writeFileAtomically(
  path: string,
  text: string,
  options: AtomicWriteOptions,
): Promise<void> {
  const fail = (reason: string, cause?: unknown) =>
    new CondorError(options.code, `Cannot write ${options.label} ${path}: ${reason}`, { cause });
  let existing: Deno.FileInfo | undefined;
  try {
    existing = await Deno.lstat(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fail(reasonOf(err), err);
  }
  if (existing?.isSymlink) throw fail("it is a symbolic link; remove it or choose another name");

  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: options.mode });
  } catch (err) {
    throw fail(reasonOf(err), err);
  }
  try {
    try {
      // The umask (or a default ACL) applied at creation; pin the mode.
      if (Deno.build.os !== "windows") await Deno.chmod(temp, options.mode);
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
    throw fail(reasonOf(err), err);
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return "permission denied";
  }
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  return err instanceof Error ? err.message : String(err);
}
