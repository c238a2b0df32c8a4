/**
 * The known-hosts file: the daemons a user trusted on first use, in our
 * format (`host:port sha256:...`) and in HTCondor's own (`[!]HOST SSL
 * BASE64-DER`), which its tools keep in the same file. The file grants
 * trust, so it is read only when no other user can have written it.
 *
 * @module
 */
import { TokenFileError, TrustError } from "../errors.ts";
import { currentUid, fileErrorReason, writePrivateFile } from "../token/private_file.ts";
import { inspectTrusted } from "../token/trusted_file.ts";
import { parseFingerprint } from "../api/fingerprint.ts";

/** The known-hosts key of a daemon URL: `host:port`, host lower-case, IPv6 bracketed. */
export function knownHostKey(url: URL): string {
  return `${url.hostname.toLowerCase()}:${url.port || "443"}`;
}

/**
 * Reads a known-hosts file: lines `host:port sha256:...`; blank lines and
 * `#` comments ignored. A missing file is empty; a file other users could
 * have written is refused (see {@link readTrustedText}). Needs --allow-read.
 */
export async function readKnownHosts(path: string): Promise<Map<string, string>> {
  const text = await readTrustedText(path);
  const hosts = new Map<string, string>();
  for (const line of (text ?? "").split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [key, fp] = trimmed.split(/\s+/);
    const fingerprint = fp === undefined ? undefined : parseFingerprint(fp);
    if (key && fingerprint) hosts.set(key.toLowerCase(), fingerprint);
  }
  return hosts;
}

/** HTCondor's own entry for a host in the known-hosts file. */
export interface HtcondorKnownHost {
  /** False for a `!HOST` line: HTCondor saw the certificate but was not told to trust it. */
  permitted: boolean;
  /** DER of the certificate it recorded (the daemon's, or its CA's). */
  der: Uint8Array;
}

/**
 * Reads the entry HTCondor's own tools keep for `host` in the same file:
 * lines `[!]HOST SSL BASE64-DER`, the first line for the host deciding, as
 * in HTCondor. Our `host:port sha256:...` lines are not HTCondor's and are
 * skipped. Undefined when there is none. Needs --allow-read.
 */
export async function readHtcondorKnownHost(
  path: string,
  host: string,
): Promise<HtcondorKnownHost | undefined> {
  const text = await readTrustedText(path);
  const wanted = host.toLowerCase();
  for (const line of (text ?? "").split(/\r?\n/)) {
    const [name, method, info] = line.trim().split(/ +/);
    if (!name || name.startsWith("#") || info === undefined) continue;
    const permitted = !name.startsWith("!");
    if ((permitted ? name : name.slice(1)).toLowerCase() !== wanted) continue;
    if (method !== "SSL") return undefined;
    try {
      return { permitted, der: Uint8Array.from(atob(info), (c) => c.charCodeAt(0)) };
    } catch (err) {
      if (err instanceof DOMException) return undefined; // not base64: not a usable entry
      throw err;
    }
  }
  return undefined;
}

/**
 * Records `fingerprint` for `key` in the known-hosts file, replacing any
 * entry for the same key and keeping other lines as they were. Written
 * atomically, 0600 in a 0700 directory. Needs --allow-read and --allow-write.
 */
export async function rememberKnownHost(
  path: string,
  key: string,
  fingerprint: string,
): Promise<void> {
  const text = await readTrustedText(path);
  const lines = (text ?? "").split(/\r?\n/).filter((l) => l !== "");
  const kept = lines.filter((line) => line.trim().split(/\s+/)[0]?.toLowerCase() !== key);
  if (lines.length === 0) {
    kept.push("# Daemon certificates trusted by HTCondor token tools: host:port sha256:...");
  }
  kept.push(`${key} ${fingerprint}`);
  try {
    await writePrivateFile(path, kept.join("\n") + "\n", {
      label: "known-hosts file",
      createDirectory: true,
    });
  } catch (err) {
    if (!(err instanceof TokenFileError)) throw err;
    throw new TrustError("TRUST_KNOWN_HOSTS_IO", err.message, { cause: err });
  }
}

/**
 * The known-hosts file's text, or undefined when it does not exist. A file
 * that grants trust must be one only its owner (this user, or root for a
 * system-wide SEC_KNOWN_HOSTS) could have written: one writable by group or
 * others, or owned by another user, is refused with TrustError naming the
 * fix. Needs --allow-read (and --allow-sys=uid to compare owners).
 */
async function readTrustedText(path: string): Promise<string | undefined> {
  let found;
  try {
    // A symbolic link is followed (a system-wide SEC_KNOWN_HOSTS may be one), but only
    // one this user or root owns: another user's could point anywhere, or nowhere.
    const link = await Deno.lstat(path).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    const me = Deno.build.os === "windows" ? undefined : currentUid();
    if (
      link?.isSymlink && me !== undefined && link.uid !== null && link.uid !== me && link.uid !== 0
    ) {
      throw new TrustError(
        "TRUST_KNOWN_HOSTS_UNSAFE",
        `Cannot trust known-hosts file ${path}: it is a symbolic link owned by uid ${link.uid}, not by this user (uid ${me}) or root (another user could change whom this tool trusts)`,
      );
    }
    found = await inspectTrusted(path, {
      kind: "file",
      privateBits: 0o022,
      checkOwner: Deno.build.os !== "windows",
      followSymlinks: true,
    });
  } catch (err) {
    if (err instanceof TrustError) throw err;
    throw knownHostsError("read", path, err);
  }
  if (found.info === undefined) return undefined;
  if (found.problem) {
    throw new TrustError(
      "TRUST_KNOWN_HOSTS_UNSAFE",
      `Cannot trust known-hosts file ${found.problem.reason} (another user could change whom this tool trusts)`,
    );
  }
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw knownHostsError("read", path, err);
  }
}

function knownHostsError(action: string, path: string, err: unknown): TrustError {
  return new TrustError(
    "TRUST_KNOWN_HOSTS_IO",
    `Cannot ${action} known-hosts file ${path}: ${fileErrorReason(err)}`,
    { cause: err },
  );
}
