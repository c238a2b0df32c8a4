/**
 * The daemon's files written atomically: the self-signed TLS certificate
 * and key, and TOKEND_ADDRESS_FILE. The token module's safe writer does the
 * work (temporary file, fsync, rename, no symbolic links, no leftovers);
 * this only gives failures the daemon's own error codes.
 *
 * @module
 */
import { CondorError, type DaemonFileErrorCode, TokenFileError } from "../errors.ts";
import { writePrivateFile } from "../token/private_file.ts";

/** The file's mode, and how a failure is reported: `code`, "Cannot write <label> <path>: ...". */
export interface AtomicWriteOptions {
  /** The file's permission bits (pinned: the umask does not apply). */
  mode: number;
  code: DaemonFileErrorCode;
  label: string;
}

/**
 * Writes `text` to `path` with {@link writePrivateFile} at `options.mode`.
 * Throws CondorError with `options.code`. Needs --allow-read and
 * --allow-write of the directory.
 */
export async function writeFileAtomically(
  path: string,
  text: string,
  options: AtomicWriteOptions,
): Promise<void> {
  try {
    await writePrivateFile(path, text, { label: options.label, mode: options.mode });
  } catch (err) {
    if (!(err instanceof TokenFileError)) throw err;
    throw new CondorError(options.code, err.message, { cause: err });
  }
}
