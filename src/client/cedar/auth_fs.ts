/**
 * HTCondor's FS authentication method: proving a local identity to a daemon
 * on the same host by creating a directory it names. The daemon sends a path
 * prefix in its temporary directory; we append its address as we see it
 * (binding the proof to this connection), create the directory (0700, owned
 * by us), say so, and remove it once the daemon has looked at its owner.
 *
 * Messages: daemon `[string path]`; us `[int 0 | -1][string ip:port]`;
 * daemon `[int 0 | -1]`.
 *
 * @module
 */
import { printable } from "../_printable.ts";
import { type AuthMethod, AuthMethodFailed } from "./handshake.ts";

/** The FS method (bit 4). Needs --allow-write to the daemon's temporary directory. */
export function fsMethod(): AuthMethod {
  return {
    name: "FS",
    async run(stream) {
      let dir = (await stream.receive()).string();
      let ext = "";
      let made = false;
      let result = -1;
      let why = "the daemon could not create its directory";
      if (dir !== "" && !isRendezvousPath(dir)) {
        why = `the daemon named ${
          printable(JSON.stringify(dir.slice(0, 200)))
        }, which is not an FS rendezvous directory (an absolute path to FS_...); nothing was created`;
        dir = "";
      }
      if (dir !== "") {
        if (dir.endsWith("_") && stream.remoteAddress) {
          ext = stream.remoteAddress;
          dir += ext;
        }
        try {
          await Deno.mkdir(dir, { mode: 0o700 });
          made = true;
          result = 0;
        } catch (err) {
          if (
            !(err instanceof Deno.errors.AlreadyExists || err instanceof Deno.errors.NotFound ||
              err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable)
          ) throw err;
          why = `cannot create ${dir} (not on the daemon's host?): ${err.message}`;
        }
      }
      try {
        const reply = stream.message().int(result);
        if (ext !== "") reply.string(ext);
        await stream.send(reply);
        const verdict = (await stream.receive()).int();
        if (result !== 0) throw new AuthMethodFailed(why);
        if (verdict !== 0) {
          throw new AuthMethodFailed("the daemon did not accept the directory we created");
        }
      } finally {
        if (made) await removeQuietly(dir);
      }
    },
  };
}

/**
 * Whether `path` is what an HTCondor daemon names for FS: an absolute path
 * whose last part starts `FS_`, with no `.`/`..` parts or control
 * characters. Anything else would let a server make us create directories
 * where it likes.
 */
export function isRendezvousPath(path: string): boolean {
  // deno-lint-ignore no-control-regex -- control characters are what is refused
  if (!path.startsWith("/") || path.length > 4096 || /[\u0000-\u001f\u007f]/.test(path)) {
    return false;
  }
  const parts = path.split("/").slice(1);
  if (parts.some((p) => p === "" || p === "." || p === "..")) return false;
  return parts[parts.length - 1].startsWith("FS_");
}

async function removeQuietly(dir: string): Promise<void> {
  try {
    await Deno.remove(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
