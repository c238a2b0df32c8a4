/**
 * Private files, which only their owner may read: token files, and the
 * client's known-hosts and saved-request files. One writer serves them all:
 * 0600, atomic, never through a symbolic link.
 *
 * @module
 */
import { TokenFileError } from "../errors.ts";
import { inspectTrusted } from "./trusted_file.ts";

/**
 * Whether `name` is a plain file name: not empty, not `.` or `..`, no
 * slash, backslash or NUL. What stands between a name from outside (a key
 * ID in a token, `-token NAME`) and a path outside its directory.
 */
export function isPlainFileName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

/** How {@link writePrivateFile} names the file in messages and treats its directory. */
export interface PrivateFileOptions {
  /** What the file is, for "Cannot write <label> <path>: <reason>" (default "file"). */
  label?: string;
  /** Create a missing parent directory, 0700 (by default that is TOKEN_FILE_MISSING). */
  createDirectory?: boolean;
  /** Permission bits, pinned whatever the umask (default 0600: private). */
  mode?: number;
  /**
   * It holds a secret (a token, a request's secret): refused where this tool
   * cannot make a file private (see {@link assertSecretsCanBePrivate}).
   */
  secret?: boolean;
}

/**
 * Refuses to write a secret to `path` where this tool cannot make a file
 * readable by its owner alone: on Windows, files are guarded by ACLs, not
 * the POSIX modes this tool sets and checks, so such a file could be
 * readable by others for all it knows. Throws TokenFileError
 * TOKEN_FILE_UNPROTECTED, saying what to do instead. `os` is
 * `Deno.build.os` unless given.
 */
export function assertSecretsCanBePrivate(
  path: string,
  action: string,
  os: typeof Deno.build.os = Deno.build.os,
): void {
  if (os !== "windows") return;
  throw new TokenFileError(
    "TOKEN_FILE_UNPROTECTED",
    `Cannot ${action} ${path}: on Windows this tool cannot make a file readable by you alone ` +
      `(it sets and checks POSIX file modes, which Windows does not have); leave out ` +
      `-token, -file and -state, and store the token it prints on stdout somewhere only you ` +
      `can read`,
  );
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
  const { dir, base } = await checkTarget(path, action, options);
  const temp = `${dir}/.${base}.${randomSuffix()}.tmp`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: options.mode ?? 0o600 });
  } catch (err) {
    throw privateFileError(action, path, err);
  }
  try {
    try {
      // The umask and default ACLs apply at creation; pin the mode explicitly
      // (Windows has no mode bits, and Deno.chmod throws there).
      if (Deno.build.os !== "windows") await Deno.chmod(temp, options.mode ?? 0o600);
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
 * Checks now that {@link writePrivateFile} could write `path` later: the
 * same target checks (and the directory created when asked), and a
 * temporary file created and removed in the directory to prove it
 * writable. For a value that exists only once, such as a token handed over
 * by a daemon, so that it is never received with nowhere to put it. Throws
 * what writePrivateFile would.
 */
export async function preparePrivateFile(
  path: string,
  options: PrivateFileOptions = {},
): Promise<void> {
  const action = `write ${options.label ?? "file"}`;
  const { dir, base } = await checkTarget(path, action, options);
  const probe = `${dir}/.${base}.${randomSuffix()}.tmp`;
  try {
    (await Deno.open(probe, { write: true, createNew: true, mode: 0o600 })).close();
    await Deno.remove(probe);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new TokenFileError(
        "TOKEN_FILE_MISSING",
        `Cannot ${action} ${path}: directory ${dir} does not exist`,
        { cause: err },
      );
    }
    throw privateFileError(action, path, err);
  }
}

/** The checks both share: a name, the directory (created when asked), no link, no non-file. */
async function checkTarget(
  path: string,
  action: string,
  options: PrivateFileOptions,
): Promise<{ dir: string; base: string }> {
  if (options.secret) assertSecretsCanBePrivate(path, action);
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const base = path.slice(slash + 1);
  if (base === "") {
    throw new TokenFileError(
      "TOKEN_FILE_NOT_FILE",
      `Cannot ${action} ${JSON.stringify(path)}: it names no file`,
    );
  }
  if (options.createDirectory) {
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw privateFileError("create directory", dir, err);
    }
  }
  await checkDirectory(dir, path, action, options.createDirectory === true);
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
  return { dir, base };
}

/**
 * Refuses a directory another user could use to replace or remove what is
 * written there (see trusted_file.ts): writable by group or others without
 * the sticky bit, or owned by a user other than this one or root. A
 * directory the tool manages itself (`managed`: the token directory,
 * ~/.condor) may not be a symbolic link at all; one the user named may be,
 * but not a link another user owns, who could point it elsewhere.
 * (Windows has no such modes; nothing is checked there.)
 */
async function checkDirectory(
  dir: string,
  path: string,
  action: string,
  managed: boolean,
): Promise<void> {
  if (Deno.build.os === "windows") return;
  const unsafe = (why: string) =>
    new TokenFileError("TOKEN_FILE_UNSAFE_DIR", `Cannot ${action} ${path}: ${why}`);
  let found;
  try {
    const link = await Deno.lstat(dir);
    const me = currentUid();
    if (link.isSymlink && !managed && me !== undefined && ![me, 0, null].includes(link.uid)) {
      throw unsafe(
        `${dir} is a symbolic link owned by uid ${link.uid}, not by this user (uid ${me}) or root, who could point it elsewhere`,
      );
    }
    found = await inspectTrusted(dir, {
      kind: "directory",
      privateBits: 0o022,
      checkOwner: true,
      allowSticky: true,
      followSymlinks: !managed,
    });
  } catch (err) {
    if (err instanceof TokenFileError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new TokenFileError(
        "TOKEN_FILE_MISSING",
        `Cannot ${action} ${path}: directory ${dir} does not exist`,
        { cause: err },
      );
    }
    throw privateFileError(action, path, err);
  }
  if (found.problem) {
    throw unsafe(
      `${found.problem.reason}${
        found.problem.kind === "access" ? " (another user could replace or remove the file)" : ""
      }`,
    );
  }
}

/** This process's user id, or undefined where it cannot be read (Windows, no --allow-sys=uid). */
export function currentUid(): number | undefined {
  try {
    return Deno.uid() ?? undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
}

function randomSuffix(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
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
