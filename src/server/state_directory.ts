/**
 * TOKEND_STATE_DIRECTORY and the database files in it, judged before the
 * daemon trusts them. Whoever can write there can insert an approved
 * request with a secret of their choice and collect a token for any
 * identity, or install an auto-approval rule for every address: the
 * directory and the files are guarded like the signing key. The directory
 * must be a real directory (no symbolic link), owned by the daemon's user
 * or root, writable by nobody else; the database and its `-wal`, `-shm`
 * and `-journal` files likewise, as regular files. Each refusal is one line
 * with the command that fixes it.
 *
 * @module
 */
import { CondorError } from "../errors.ts";
import { inspectTrusted, type TrustRule } from "../token/trusted_file.ts";
import { SqliteStore } from "./store/sqlite/sqlite_store.ts";

/** File name of the state database inside the state directory. */
export const DATABASE_FILE_NAME = "tokend.sqlite";
/** The files SQLite keeps beside the database, by suffix. */
export const DATABASE_COMPANIONS = ["-wal", "-shm", "-journal"] as const;

const DIRECTORY_RULE: TrustRule = {
  kind: "directory",
  privateBits: 0o022,
  fixMode: 0o700,
  checkOwner: true,
};
const DATABASE_RULE: TrustRule = {
  kind: "file",
  privateBits: 0o022,
  fixMode: 0o600,
  checkOwner: true,
};

/** The state directory as found before start. */
export interface StateDirectory {
  /** The directory, without trailing slashes. */
  path: string;
  /** The database file in it. */
  databasePath: string;
  /** Whether the directory exists (else it is created 0700 at start). */
  exists: boolean;
  /** Whether the database file exists (else a new one is created). */
  databaseExists: boolean;
}

/**
 * Checks the state directory and its database files without creating or
 * changing anything. Throws CondorError STATE_INSECURE naming the path,
 * what is wrong and the fix, or what {@link SqliteStore.checkFile} throws for a
 * database that lost its state. Needs --allow-read and --allow-sys=uid.
 */
export async function checkStateDirectory(directory: string): Promise<StateDirectory> {
  // A trailing slash would make lstat follow a link at the directory's name.
  const path = directory.replace(/\/+$/, "") || "/";
  const databasePath = `${path}/${DATABASE_FILE_NAME}`;
  const dir = await inspect(path, DIRECTORY_RULE, "TOKEND_STATE_DIRECTORY");
  if (!dir) return { path, databasePath, exists: false, databaseExists: false };
  await inspect(databasePath, DATABASE_RULE, "state database");
  for (const suffix of DATABASE_COMPANIONS) {
    await inspect(databasePath + suffix, DATABASE_RULE, "state database");
  }
  const database = await SqliteStore.checkFile(databasePath);
  return { path, databasePath, exists: true, databaseExists: database === "present" };
}

/**
 * Creates the state directory (and missing parents) with mode 0700 whatever
 * the umask, then checks what it made, so a link someone put in its place
 * meanwhile is refused rather than followed. Throws CondorError
 * STATE_DIRECTORY or STATE_INSECURE. Needs --allow-read and --allow-write.
 */
export async function createStateDirectory(state: StateDirectory): Promise<void> {
  try {
    await Deno.mkdir(state.path, { recursive: true, mode: 0o700 });
    if (Deno.build.os !== "windows") await Deno.chmod(state.path, 0o700);
  } catch (err) {
    const reason = err instanceof Deno.errors.AlreadyExists
      ? "a file that is not a directory is in the way"
      : err instanceof Deno.errors.NotADirectory
      ? "a part of the path is not a directory"
      : err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable
      ? "permission denied"
      : undefined;
    if (reason === undefined) throw err;
    throw new CondorError(
      "STATE_DIRECTORY",
      `Cannot create TOKEND_STATE_DIRECTORY ${state.path}: ${reason}`,
      { cause: err },
    );
  }
  await inspect(state.path, DIRECTORY_RULE, "TOKEND_STATE_DIRECTORY");
}

/** inspectTrusted, with a problem or an unreadable path turned into a CondorError naming `what`. */
async function inspect(
  path: string,
  rule: TrustRule,
  what: string,
): Promise<Deno.FileInfo | undefined> {
  let inspection;
  try {
    inspection = await inspectTrusted(path, rule);
  } catch (err) {
    const reason = err instanceof Deno.errors.PermissionDenied ||
        err instanceof Deno.errors.NotCapable
      ? "permission denied"
      : err instanceof Deno.errors.NotADirectory
      ? "a part of the path is not a directory"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new CondorError("STATE_DIRECTORY", `Cannot use ${what} ${path}: ${reason}`, {
      cause: err,
    });
  }
  if (inspection.problem) {
    throw new CondorError("STATE_INSECURE", `Cannot use ${what}: ${inspection.problem.reason}`);
  }
  return inspection.info;
}
