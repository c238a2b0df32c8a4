/**
 * The daemon's log file (TOKEND_LOG), as HTCondor keeps its daemons' logs:
 * appended to, rotated to `FILE.old` once it passes TOKEND_LOG_MAX_SIZE
 * (HTCondor's MAX_<SUBSYS>_LOG; one old file, as MAX_NUM_<SUBSYS>_LOG = 1),
 * and reopened on SIGHUP, so that logrotate may move it away. It is
 * created 0640, never followed through a symbolic link, and refused in a
 * directory other users could write to (where they could swap it).
 *
 * @module
 */
import { CondorError } from "../errors.ts";
import { fileErrorReason } from "../token/private_file.ts";
import { inspectTrusted } from "../token/trusted_file.ts";

/** HTCondor's default MAX_<SUBSYS>_LOG: 10 MiB. */
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** An open log file. */
export class LogFile {
  readonly path: string;
  readonly #maxBytes: number;
  #file: Deno.FsFile;
  #size: number;

  private constructor(path: string, maxBytes: number, file: Deno.FsFile, size: number) {
    this.path = path;
    this.#maxBytes = maxBytes;
    this.#file = file;
    this.#size = size;
  }

  /**
   * Opens (creating) `path` for appending; `maxBytes` 0 never rotates.
   * Throws CondorError LOG_FILE naming the path and what is wrong. Needs
   * --allow-read, --allow-write and --allow-sys=uid.
   */
  static async open(path: string, maxBytes: number): Promise<LogFile> {
    const file = await openFile(path);
    return new LogFile(path, maxBytes, file, (await file.stat()).size);
  }

  /** Appends `text`, rotating first when it would pass the size limit. */
  async write(text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    if (this.#maxBytes > 0 && this.#size > 0 && this.#size + bytes.length > this.#maxBytes) {
      await this.#rotate();
    }
    for (let written = 0; written < bytes.length;) {
      written += await this.#file.write(bytes.subarray(written));
    }
    this.#size += bytes.length;
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }

  async #rotate(): Promise<void> {
    this.close();
    await Deno.rename(this.path, `${this.path}.old`);
    this.#file = await openFile(this.path);
    this.#size = 0;
  }
}

async function openFile(path: string): Promise<Deno.FsFile> {
  const fail = (why: string, cause?: unknown) =>
    new CondorError("LOG_FILE", `Cannot use TOKEND_LOG ${path}: ${why}`, { cause });
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  try {
    const directory = await inspectTrusted(dir, {
      kind: "directory",
      privateBits: 0o022,
      checkOwner: Deno.build.os !== "windows",
      followSymlinks: true,
      allowSticky: false,
    });
    if (directory.info === undefined) throw fail(`its directory ${dir} does not exist`);
    if (directory.problem) throw fail(`its directory ${directory.problem.reason}`);
    const file = await inspectTrusted(path, {
      kind: "file",
      privateBits: 0o022,
      checkOwner: Deno.build.os !== "windows",
    });
    if (file.problem) throw fail(file.problem.reason);
    const opened = await Deno.open(path, { append: true, create: true, mode: 0o640 });
    // The umask applies at creation; an existing file keeps its mode (checked above).
    if (file.info === undefined && Deno.build.os !== "windows") await Deno.chmod(path, 0o640);
    return opened;
  } catch (err) {
    if (err instanceof CondorError) throw err;
    throw fail(fileErrorReason(err), err);
  }
}
