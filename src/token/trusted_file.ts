/**
 * Whether a file or directory that grants power may be trusted: signing
 * keys, the daemon's state directory and database, its TLS key, the
 * directory of its address file. One judge for all of them, so every part
 * refuses the same things with the same words: a symbolic link where none
 * is allowed, something other than what was expected, mode bits that let
 * other users write (or read) it, an owner other than this process's user
 * or root. Each refusal is one line naming the path, what is wrong, and the
 * command that fixes it.
 *
 * @module
 */

/** What a trusted path must be. */
export interface TrustRule {
  /** What must be there. */
  kind: "file" | "directory";
  /**
   * Permission bits only the owner may have: 0o022 (nobody else may write),
   * 0o077 (nobody else may read or write).
   */
  privateBits: number;
  /** The mode the suggested `chmod` sets (default: the present mode without `privateBits`). */
  fixMode?: number;
  /** Judge what a symbolic link points to (signing keys, as HTCondor's); by default a link is refused. */
  followSymlinks?: boolean;
  /** The owner must be this process's user or root (needs --allow-sys=uid; skipped where there are no uids). */
  checkOwner?: boolean;
  /** A directory writable by others is fine with the sticky bit (as /tmp): nobody can replace another's file. */
  allowSticky?: boolean;
}

/** Why a path is not trusted. */
export interface TrustProblem {
  /** `symlink`, `kind` (not a file / directory), or `access` (mode bits, owner or both). */
  kind: "symlink" | "kind" | "access";
  /** One line: "<path> <what is wrong>[; run "<command>"]". */
  reason: string;
}

/** What {@link inspectTrusted} found: the path's metadata (undefined when it does not exist) and any problem. */
export interface TrustInspection {
  info: Deno.FileInfo | undefined;
  problem: TrustProblem | undefined;
}

/**
 * Looks at `path` (not following a final symbolic link unless the rule
 * says so) and judges it by `rule`. A missing path is no problem here
 * (`info` undefined): whether it may be created is the caller's decision.
 * Throws the file system's error for anything but NotFound. Needs
 * --allow-read, and --allow-sys=uid with `checkOwner`.
 */
export async function inspectTrusted(path: string, rule: TrustRule): Promise<TrustInspection> {
  let info: Deno.FileInfo;
  try {
    info = rule.followSymlinks ? await Deno.stat(path) : await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { info: undefined, problem: undefined };
    throw err;
  }
  return { info, problem: judge(path, info, rule) };
}

/** The problem with `path`, whose metadata is `info`, under `rule`; undefined when there is none. */
export function judge(
  path: string,
  info: Deno.FileInfo,
  rule: TrustRule,
): TrustProblem | undefined {
  if (info.isSymlink) {
    return {
      kind: "symlink",
      reason:
        `${path} is a symbolic link, which is not followed here; replace it with the ${rule.kind} itself`,
    };
  }
  if (rule.kind === "file" ? !info.isFile : !info.isDirectory) {
    return { kind: "kind", reason: `${path} is not a ${rule.kind}` };
  }
  const wrong: string[] = [];
  const fixes: string[] = [];
  const uid = rule.checkOwner ? Deno.uid() : null;
  if (uid !== null && info.uid !== null && info.uid !== uid && info.uid !== 0) {
    wrong.push(`is owned by uid ${info.uid}, not by this user (uid ${uid}) or root`);
    fixes.push(`chown ${uid} ${path}`);
  }
  if (info.mode !== null) {
    const mode = info.mode & 0o7777;
    const sticky = rule.allowSticky === true && (mode & 0o1000) !== 0;
    const granted = mode & rule.privateBits & (sticky ? ~0o022 : ~0);
    if (granted !== 0) {
      wrong.push(`has mode ${octal(mode)}, ${access(granted)} by other users`);
      fixes.push(`chmod ${octal(rule.fixMode ?? (mode & ~rule.privateBits))} ${path}`);
    }
  }
  if (wrong.length === 0) return undefined;
  return {
    kind: "access",
    reason: `${path} ${wrong.join(" and ")}; run "${fixes.join(" && ")}"`,
  };
}

/** What mode bits granted to others allow, in words. */
function access(bits: number): string {
  const read = (bits & 0o044) !== 0;
  const write = (bits & 0o022) !== 0;
  if (read && write) return "readable and writable";
  if (write) return "writable";
  if (read) return "readable";
  return "usable";
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
