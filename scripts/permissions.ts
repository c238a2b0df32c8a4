/**
 * The permissions each shipped program runs with, declared once: the build
 * compiles the binaries with these flags and the end-to-end tests run
 * main.ts with exactly the same flags, so what ships is what is tested.
 */

/**
 * Environment variables any tool reads (HTCondor's `_CONDOR_*` overrides
 * included; USERPROFILE and USERNAME are Windows's HOME and USER).
 */
const ENV = [
  "HOME",
  "USER",
  "LOGNAME",
  "USERPROFILE",
  "USERNAME",
  "CONDOR_CONFIG",
  "_CONDOR_*",
  "_condor_*",
  "NO_COLOR",
  "TERM",
];

/**
 * System information each program may read: the host name, and the user
 * id: files that grant trust (the token directory a token is written into,
 * the known-hosts file) must belong to this user or root, which takes
 * knowing who this user is; and the administrator's tools run as root also
 * read SEC_TOKEN_SYSTEM_DIRECTORY as HTCondor's do.
 */
const SYS: readonly string[] = ["hostname", "uid"];

/**
 * condor_token_request: network, reading configuration and token files,
 * writing its token (and the known-hosts file), the environment above, the
 * host name and user id. No subprocesses, no FFI, no prompts.
 */
export const REQUESTER_FLAGS: readonly string[] = [
  "--no-prompt",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  `--allow-env=${ENV.join(",")}`,
  `--allow-sys=${SYS.join(",")}`,
];

/**
 * The PostgreSQL client's environment, which condor_tokend reads when its
 * state is in PostgreSQL (TOKEND_DATABASE; docs/operations.md): libpq's
 * names for the server, user, password and TLS, plus PGAPPNAME, which the
 * driver (npm postgres) looks at whatever it is given (the daemon names
 * itself condor_tokend all the same). Named one by one, not `PG*`: nothing
 * else of the environment is the daemon's business.
 */
const DATABASE_ENV = [
  "PGHOST",
  "PGPORT",
  "PGDATABASE",
  "PGUSER",
  "PGPASSWORD",
  "PGSSLMODE",
  "PGSSLROOTCERT",
  "PGCONNECT_TIMEOUT",
  "PGAPPNAME",
];

/**
 * The full `condor_token` binary: every tool and the daemon. The requester's
 * flags, and the PostgreSQL environment for the daemon; the daemon's SQLite
 * store and TLS files are plain file access, and PostgreSQL's unix socket
 * too.
 */
export const FULL_FLAGS: readonly string[] = REQUESTER_FLAGS.map((flag) =>
  flag.startsWith("--allow-env=") ? `--allow-env=${[...ENV, ...DATABASE_ENV].join(",")}` : flag
);
