/**
 * The permissions each shipped program runs with, declared once: the build
 * compiles the binaries with these flags and the end-to-end tests run
 * main.ts with exactly the same flags, so what ships is what is tested.
 */

/** Environment variables any tool reads (HTCondor's `_CONDOR_*` overrides included). */
const ENV = [
  "HOME",
  "USER",
  "LOGNAME",
  "CONDOR_CONFIG",
  "_CONDOR_*",
  "_condor_*",
  "NO_COLOR",
  "TERM",
];

/**
 * System information each program may read: the host name for everyone;
 * the user id for the full binary only, so the administrator's tools run as
 * root also read SEC_TOKEN_SYSTEM_DIRECTORY as HTCondor's do.
 */
const SYS: readonly { value: string; requester: boolean }[] = [
  { value: "hostname", requester: true },
  { value: "uid", requester: false },
];

/** The flags every program shares, around its `--allow-sys` list. */
function flags(sys: readonly string[]): readonly string[] {
  return [
    "--no-prompt",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    `--allow-env=${ENV.join(",")}`,
    `--allow-sys=${sys.join(",")}`,
  ];
}

/**
 * condor_token_request: network, reading configuration and token files,
 * writing its token (and the known-hosts file), the environment above and
 * the host name. No subprocesses, no FFI, no prompts.
 */
export const REQUESTER_FLAGS: readonly string[] = flags(
  SYS.filter((s) => s.requester).map((s) => s.value),
);

/**
 * The full `condor_token` binary: every tool and the daemon. The requester's
 * flags plus the user id; the daemon's SQLite store and TLS files are plain
 * file access. The daemon learns from `request.signal` that a long-polling
 * requester went away (so it hands no token to a dead connection); Deno's
 * newer behaviour aborts that signal only then, and without it Deno warns
 * on every start (deno.json asks for the same when run from the sources).
 */
export const FULL_FLAGS: readonly string[] = [
  ...flags(SYS.map((s) => s.value)),
  "--unstable-no-legacy-abort",
];
