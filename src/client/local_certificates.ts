/**
 * The certificates a condor_tokend on this host presents, read from its own
 * files: AUTH_SSL_SERVER_CERTFILE, and the self-signed certificate it keeps
 * in its state directory (TOKEND_STATE_DIRECTORY, else `$(SPOOL)/tokend`;
 * settings.ts reads those knobs).
 * An administrator on the daemon's host who can read these files trusts the
 * daemon without a prompt or a pin. A file counts only when nobody but its
 * owner (and root) could have written it or replaced it: neither it nor its
 * directory (nor, for a symbolic link, its target's directory) writable by
 * group or others, and it owned by root, this user, or the owner of its
 * directory. Files this user cannot read are skipped.
 *
 * @module
 */
import { fingerprintOf, firstPemBlock } from "../api/fingerprint.ts";
import { currentUid } from "../token/private_file.ts";
import { inspectTrusted } from "../token/trusted_file.ts";

/** One certificate of a daemon on this host. */
export interface LocalCertificate {
  fingerprint: string;
  file: string;
}

/**
 * The certificates in `files` (a condor_tokend's on this host, see
 * TrustSettings.localCertificateFiles) that this user may read and that
 * nobody else could have written (see the module comment). Needs
 * --allow-read (and --allow-sys=uid).
 */
export async function localDaemonCertificates(
  files: readonly string[],
): Promise<LocalCertificate[]> {
  const found: LocalCertificate[] = [];
  for (const file of files) {
    const fingerprint = await trustedCertificate(file);
    if (fingerprint !== undefined) found.push({ fingerprint, file });
  }
  return found;
}

async function trustedCertificate(file: string): Promise<string | undefined> {
  if (Deno.build.os === "windows") return undefined;
  try {
    const rule = { privateBits: 0o022, followSymlinks: true } as const;
    const itself = await inspectTrusted(file, { ...rule, kind: "file" });
    const parent = await inspectTrusted(directoryOf(file), { ...rule, kind: "directory" });
    if (!itself.info || itself.problem || !parent.info || parent.problem) return undefined;
    // A link's target may be replaced by whoever can write the target's own
    // directory, so that directory must be as safe as the link's.
    const real = await Deno.realPath(file);
    if (directoryOf(real) !== directoryOf(file)) {
      const target = await inspectTrusted(directoryOf(real), { ...rule, kind: "directory" });
      if (!target.info || target.problem) return undefined;
    }
    const owner = itself.info.uid;
    if (owner !== null && owner !== 0 && owner !== currentUid() && owner !== parent.info.uid) {
      return undefined;
    }
    const der = firstPemBlock(await Deno.readTextFile(file), "CERTIFICATE");
    return der === undefined ? undefined : await fingerprintOf(der);
  } catch (err) {
    if (
      err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied ||
      err instanceof Deno.errors.NotCapable
    ) return undefined;
    throw err;
  }
}

function directoryOf(file: string): string {
  return file.slice(0, file.lastIndexOf("/")) || "/";
}
