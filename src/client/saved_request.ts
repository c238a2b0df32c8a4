/**
 * A pending request saved to a private file, so that waiting can resume in a
 * new process (after a reboot, say). The file holds the requester secret, so
 * it is written 0600 in a 0700 directory, atomically, and removed once the
 * request has ended.
 *
 * @module
 */
import { REQUEST_ID_PATTERN } from "../api/protocol.ts";
import { CondorError, TokenFileError } from "../errors.ts";
import { currentUid, fileErrorReason, writePrivateFile } from "../token/private_file.ts";

/** What is saved about a request. */
export interface SavedRequest {
  /** The daemon's base URL: the one the request was last waited on at. */
  daemon: string;
  /** The daemon certificate's fingerprint when it was trusted on first use. */
  fingerprint?: string;
  /**
   * Every daemon of the pool (COLLECTOR_HOST or -pool listing daemons that
   * share one state), in the order to try them, each with its certificate's
   * fingerprint once it was trusted on first use: a resumed wait fails over
   * to them, and trusts each only with its own certificate. Absent in files
   * of a single daemon.
   */
  daemons?: { address: string; fingerprint?: string }[];
  /** Set once the daemon accepted the request. */
  requestId?: string;
  /** The requester secret. Never printed. */
  secret: string;
  clientId: string;
  identity: string;
  authz: string[];
  lifetime: number | null;
  /** When the request was made, epoch seconds. */
  createdAt: number;
}

const FORMAT = "condor-token-request/1";

/**
 * Reads a saved request; undefined when the file does not exist. Throws
 * CondorError(REQUEST_FILE_BAD) for a file that is not one, naming it.
 * Needs --allow-read.
 */
export async function readSavedRequest(path: string): Promise<SavedRequest | undefined> {
  let text: string;
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile) throw bad(path, "it is not a regular file");
    const me = currentUid();
    if (me !== undefined && info.uid !== null && info.uid !== me && info.uid !== 0) {
      // It names the daemon and the certificate to trust: only we (or root) may have chosen them.
      throw bad(
        path,
        `it is owned by uid ${info.uid}, not by this user (uid ${me}) or root, so another user chose its daemon and certificate`,
      );
    }
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      // It holds the secret that collects the token: refuse one others could read.
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      throw bad(path, `its mode ${mode} lets other users read the request's secret`);
    }
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof CondorError) throw err;
    throw fileError("read", path, err);
  }
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    // No cause: the parser's message can quote the file, which holds the secret.
    throw bad(path, "it is not JSON");
  }
  if (data?.format !== FORMAT) throw bad(path, `its format is not "${FORMAT}"`);
  const {
    daemon,
    fingerprint,
    daemons,
    requestId,
    secret,
    clientId,
    identity,
    authz,
    lifetime,
    createdAt,
  } = data;
  if (
    typeof daemon !== "string" || typeof secret !== "string" || typeof clientId !== "string" ||
    typeof identity !== "string" || !Array.isArray(authz) ||
    !authz.every((a) => typeof a === "string") ||
    (lifetime !== null && typeof lifetime !== "number") || typeof createdAt !== "number" ||
    (fingerprint !== undefined && typeof fingerprint !== "string") ||
    (daemons !== undefined && !isDaemonList(daemons)) ||
    (requestId !== undefined &&
      (typeof requestId !== "string" || !REQUEST_ID_PATTERN.test(requestId)))
  ) {
    throw bad(path, "a field is missing or has the wrong type");
  }
  const saved: SavedRequest = {
    daemon,
    secret,
    clientId,
    identity,
    authz: authz as string[],
    lifetime: lifetime as number | null,
    createdAt,
  };
  if (fingerprint !== undefined) saved.fingerprint = fingerprint as string;
  if (daemons !== undefined) saved.daemons = daemons as SavedRequest["daemons"];
  if (requestId !== undefined) saved.requestId = requestId as string;
  return saved;
}

/** Saves a request (0600, atomic). Needs --allow-read and --allow-write of the directory. */
export async function saveRequest(path: string, saved: SavedRequest): Promise<void> {
  try {
    await writePrivateFile(path, JSON.stringify({ format: FORMAT, ...saved }, null, 2) + "\n", {
      label: "request file",
      createDirectory: true,
      secret: true,
    });
  } catch (err) {
    if (!(err instanceof TokenFileError)) throw err;
    throw new CondorError("REQUEST_FILE_IO", err.message, { cause: err });
  }
}

/** Removes a saved request; a missing file is fine. Needs --allow-write. */
export async function forgetSavedRequest(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw fileError("remove", path, err);
  }
}

function isDaemonList(value: unknown): boolean {
  return Array.isArray(value) &&
    value.every((d) =>
      typeof d === "object" && d !== null && typeof d.address === "string" &&
      (d.fingerprint === undefined || typeof d.fingerprint === "string")
    );
}

function bad(path: string, reason: string): CondorError {
  return new CondorError(
    "REQUEST_FILE_BAD",
    `Cannot resume from ${path}: ${reason}; remove it to make a new request`,
  );
}

function fileError(action: string, path: string, err: unknown): CondorError {
  return new CondorError(
    "REQUEST_FILE_IO",
    `Cannot ${action} request file ${path}: ${fileErrorReason(err)}`,
    { cause: err },
  );
}
