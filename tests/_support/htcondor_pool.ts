/**
 * A personal HTCondor pool for interoperability tests: one collector started
 * by `condor_master` on a free loopback port, configured as
 * /work/shared/spec/htcondor-reference.md and docs/interop.md describe, plus
 * helpers to run the real HTCondor tools against it.
 *
 * Everything here needs CONDOR_TOKEN_HTCONDOR_PREFIX to name an HTCondor
 * install prefix; {@link interopTest} registers a test as ignored (saying
 * why in its name) when it is unset.
 */
import assert from "node:assert/strict";
import { closedPort } from "./ports.ts";
import { finish, type ToolResult } from "./run_tool.ts";
import { withTempDir } from "./temp.ts";

/** The environment variable naming the HTCondor install prefix. */
export const PREFIX_VAR = "CONDOR_TOKEN_HTCONDOR_PREFIX";
/** The HTCondor install prefix, or "" when the tests are to be skipped. */
export const PREFIX = Deno.env.get(PREFIX_VAR) ?? "";
/** What ends the name of a test registered as ignored. */
export const SKIPPED = ` (skipped: set ${PREFIX_VAR} to a real HTCondor 25.x install prefix)`;

/** HTCondor's service account, the daemons' user when the tests run as root. */
const NOBODY = 65534;
/** Upper bound for the master to start the collector, and to stop. */
const DAEMON_WAIT_MS = 20_000;
/** Upper bound for one run of a real HTCondor tool. */
const TOOL_WAIT_MS = 20_000;

/**
 * Set (by .ci/run) when a real HTCondor was available to this run: an
 * interop test then fails instead of being skipped, so a broken unpacking
 * step cannot hide the suite.
 */
export const REQUIRED_VAR = "CONDOR_TOKEN_INTEROP_REQUIRED";
const REQUIRED = (Deno.env.get(REQUIRED_VAR) ?? "") !== "";

/**
 * Registers a test that needs a real HTCondor; without one it is ignored
 * (saying why in its name), or fails when CONDOR_TOKEN_INTEROP_REQUIRED is set.
 */
export function interopTest(name: string, fn: () => Promise<void>) {
  if (PREFIX) return Deno.test(name, fn);
  if (REQUIRED) {
    return Deno.test(name, () => {
      throw new Error(
        `${REQUIRED_VAR} is set but ${PREFIX_VAR} is not: the HTCondor peer was not unpacked`,
      );
    });
  }
  Deno.test({ name: name + SKIPPED, ignore: true, fn });
}

/** One personal HTCondor pool on 127.0.0.1: where its files are and how to address it. */
export interface Pool {
  dir: string;
  /** `127.0.0.1:PORT` of the collector. */
  address: string;
  /** The collector's port. */
  port: number;
  /**
   * This machine's host name, which the collector's host certificate names:
   * clients using the SSL method must address the collector by it.
   */
  hostName: string;
  /** `HOSTNAME:PORT` of the collector, for clients that check its certificate. */
  hostAddress: string;
  /** The CA the collector creates at its first start (`ETC/trust_domain_ca.pem`). */
  caFile: string;
  /** The host certificate the collector creates, signed by that CA (`ETC/hostcert.pem`). */
  hostCertFile: string;
  configPath: string;
  poolKeyFile: string;
  passwordDirectory: string;
  /** SEC_TOKEN_DIRECTORY of the configuration. */
  tokenDirectory: string;
  /** HOME of the tools run against the pool. */
  home: string;
  /** Environment for real HTCondor tools: this configuration only. */
  env: Record<string, string>;
  /** Environment for our tools: the same configuration. */
  ourEnv: Record<string, string>;
}

/** How a pool differs from the default one. */
export interface PoolOptions {
  /** TRUST_DOMAIN and UID_DOMAIN; without it HTCondor falls back to the host name. */
  trustDomain?: string;
  /** SEC_TOKEN_POOL_SIGNING_KEY_FILE (default `passwords.d/POOL` in the pool). */
  poolKeyFile?: string;
  /** Configuration lines appended after all others (so they win). */
  extraConfig?: readonly string[];
}

/** A free TCP port on 127.0.0.1 (bound, then released), for the pool's collector. */
export const freePort: () => number = closedPort;

/**
 * Writes a pool's configuration under `dir/condor` as spec'd in
 * htcondor-reference.md: one collector on a free loopback port, the version's
 * recommended security, the given trust domain and POOL key file. The key is
 * not created here: HTCondor's collector creates a missing one itself.
 * Needs --allow-read, --allow-write, --allow-net (a free port),
 * --allow-sys=hostname,uid.
 */
export async function preparePool(dir: string, options: PoolOptions): Promise<Pool> {
  const root = Deno.uid() === 0;
  // The daemons run as nobody when we are root: they must reach their directories.
  await Deno.chmod(dir, 0o755);
  const base = `${dir}/condor`;
  for (const sub of ["log", "spool", "lock", "run", "etc"]) {
    await Deno.mkdir(`${base}/${sub}`, { recursive: true });
    if (root) await Deno.chown(`${base}/${sub}`, NOBODY, NOBODY);
  }
  const passwordDirectory = `${base}/passwords.d`;
  await Deno.mkdir(passwordDirectory, { mode: 0o700 });
  await Deno.mkdir(`${dir}/home`, { mode: 0o700 });
  const poolKeyFile = options.poolKeyFile ?? `${passwordDirectory}/POOL`;
  const tokenDirectory = `${base}/tokens.d`;
  const port = freePort();
  const address = `127.0.0.1:${port}`;
  const hostName = Deno.hostname();
  const configPath = `${base}/condor_config`;
  await Deno.writeTextFile(
    configPath,
    [
      "# A one-collector HTCondor pool on loopback, written by tests/_support/htcondor_pool.ts",
      `RELEASE_DIR = ${PREFIX}`,
      `LOCAL_DIR = ${base}`,
      "LOCAL_CONFIG_FILE =",
      "LOCAL_CONFIG_DIR =",
      `LOG = ${base}/log`,
      `SPOOL = ${base}/spool`,
      `LOCK = ${base}/lock`,
      `RUN = ${base}/run`,
      `ETC = ${base}/etc`,
      "CONDOR_HOST = 127.0.0.1",
      `COLLECTOR_HOST = ${address}`,
      "NETWORK_INTERFACE = 127.0.0.1",
      "BIND_ALL_INTERFACES = False",
      "ENABLE_IPV6 = False",
      "USE_SHARED_PORT = False",
      "DAEMON_LIST = MASTER, COLLECTOR",
      "USE_PROCD = False",
      ...(root ? ["CONDOR_IDS = 65534.65534"] : []),
      "use security:recommended",
      // Without a trust domain both sides fall back to UID_DOMAIN, then the host name.
      ...(options.trustDomain === undefined ? [] : [
        `TRUST_DOMAIN = ${options.trustDomain}`,
        `UID_DOMAIN = ${options.trustDomain}`,
      ]),
      `SEC_PASSWORD_DIRECTORY = ${passwordDirectory}`,
      `SEC_TOKEN_POOL_SIGNING_KEY_FILE = ${poolKeyFile}`,
      `SEC_TOKEN_DIRECTORY = ${tokenDirectory}`,
      `SEC_TOKEN_SYSTEM_DIRECTORY = ${base}/system-tokens.d`,
      ...(root ? ["ALLOW_ADMINISTRATOR = $(ALLOW_ADMINISTRATOR) nobody@$(UID_DOMAIN)"] : []),
      "COLLECTOR_DEBUG = D_SECURITY",
      ...(options.extraConfig ?? []),
      "",
    ].join("\n"),
  );
  const home = `${dir}/home`;
  return {
    dir: base,
    address,
    port,
    hostName,
    hostAddress: `${hostName}:${port}`,
    caFile: `${base}/etc/trust_domain_ca.pem`,
    hostCertFile: `${base}/etc/hostcert.pem`,
    configPath,
    poolKeyFile,
    passwordDirectory,
    tokenDirectory,
    home,
    env: { CONDOR_CONFIG: configPath, HOME: home, PATH: "/usr/bin:/bin" },
    ourEnv: { CONDOR_CONFIG: configPath, HOME: home },
  };
}

/**
 * Spawns a real HTCondor program from the prefix with exactly `env`, stdout
 * and stderr piped; stdin piped when `stdin` is true. The caller reaps it.
 */
export function spawnReal(
  program: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { stdin?: boolean } = {},
): Deno.ChildProcess {
  return new Deno.Command(`${PREFIX}/${program}`, {
    args: [...args],
    env,
    clearEnv: true,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Runs a real HTCondor program from the prefix with exactly `env`, writing
 * `options.stdin` (if any) to it; kills it after TOOL_WAIT_MS.
 */
export async function runReal(
  program: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { stdin?: string } = {},
): Promise<ToolResult> {
  const child = spawnReal(program, args, env, { stdin: options.stdin !== undefined });
  return await finish(child, { stdin: options.stdin, timeoutMs: TOOL_WAIT_MS });
}

/** The last lines of the collector's log, for failure messages. */
export async function collectorLog(pool: Pool, lines = 40): Promise<string> {
  try {
    return (await Deno.readTextFile(`${pool.dir}/log/CollectorLog`)).split("\n").slice(-lines)
      .join("\n");
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "(no CollectorLog)";
    throw err;
  }
}

/** Whether `path` exists. Needs --allow-read. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Starts `condor_master -f` (which starts the collector), runs `fn` once the
 * collector has written its address file and the POOL key exists, and
 * always stops the master with SIGQUIT (SIGKILL to both daemons if it does
 * not exit in time). A failure carries the end of the collector's log.
 */
export async function withMaster(pool: Pool, fn: () => Promise<void>): Promise<void> {
  const master = new Deno.Command(`${PREFIX}/sbin/condor_master`, {
    args: ["-f"],
    env: pool.env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = master.status.finally(() => exited = true);
  try {
    const deadline = Date.now() + DAEMON_WAIT_MS;
    while (
      !(await exists(`${pool.dir}/log/.collector_address`) && await exists(pool.poolKeyFile))
    ) {
      if (exited) throw new Error(`condor_master exited early: ${JSON.stringify(await status)}`);
      if (Date.now() > deadline) throw new Error("The collector did not start in time");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await fn();
  } catch (err) {
    throw new Error(`${err}\n--- end of CollectorLog ---\n${await collectorLog(pool)}`, {
      cause: err,
    });
  } finally {
    await stopMaster(pool, master, status, () => exited);
  }
}

/** Stops the master with SIGQUIT; SIGKILLs it and its collector when it does not stop in time. */
export async function stopMaster(
  pool: Pool,
  master: Deno.ChildProcess,
  status: Promise<Deno.CommandStatus>,
  exited: () => boolean,
) {
  if (exited()) return;
  master.kill("SIGQUIT");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopped = await Promise.race([
    status.then(() => true),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), DAEMON_WAIT_MS)),
  ]);
  clearTimeout(timer);
  if (stopped) return;
  // The master would not stop: kill it and the collector it started.
  const log = await Deno.readTextFile(`${pool.dir}/log/MasterLog`).catch(() => "");
  for (const [, pid] of log.matchAll(/condor_collector", pid and pgroup = (\d+)/g)) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  master.kill("SIGKILL");
  await status;
}

/** One row of `condor_ping -table`. */
export interface PingRow {
  /** The method that authenticated (IDTOKENS), or FAIL. */
  method: string;
  /** ALLOW, DENY, or FAIL when the collector refused the command. */
  decision: string;
  /** The identity the collector mapped us to (empty on FAIL). */
  identity: string;
}

/**
 * Runs the real `condor_ping -table LEVEL ...` against the pool's collector
 * with only the tokens in `tokenDirectory`: IDTOKENS is the only method and
 * authentication is required, and no signing key is readable, so the client
 * cannot make up a token of its own.
 */
export async function ping(
  pool: Pool,
  tokenDirectory: string,
  levels: string[],
): Promise<Map<string, PingRow>> {
  const r = await runReal("bin/condor_ping", [
    "-pool",
    pool.address,
    "-type",
    "collector",
    "-table",
    ...levels,
  ], {
    ...pool.env,
    _CONDOR_SEC_TOKEN_DIRECTORY: tokenDirectory,
    _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "IDTOKENS",
    _CONDOR_SEC_CLIENT_AUTHENTICATION: "REQUIRED",
    _CONDOR_SEC_PASSWORD_DIRECTORY: `${pool.dir}/no-keys`,
    _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${pool.dir}/no-keys/POOL`,
  });
  const rows = new Map<string, PingRow>();
  for (const line of r.stdout.split("\n")) {
    const [level, method, , , decision, identity] = line.trim().split(/\s+/);
    if (levels.includes(level)) {
      rows.set(level, {
        method,
        decision,
        identity: decision === "FAIL" ? "" : identity ?? "",
      });
    }
  }
  assert.equal(rows.size, levels.length, `condor_ping printed:\n${r.stdout}${r.stderr}`);
  return rows;
}

/** Asserts that `level` was authorized over IDTOKENS for `identity`. */
export function assertAllowed(rows: Map<string, PingRow>, level: string, identity: string) {
  assert.deepEqual(rows.get(level), { method: "IDTOKENS", decision: "ALLOW", identity }, level);
}

/** Asserts that the collector refused `level`. */
export function assertRefused(rows: Map<string, PingRow>, level: string) {
  assert.equal(rows.get(level)?.decision, "FAIL", level);
}

/**
 * Runs `fn` with a fresh pool (`options`) whose collector is up and has
 * written its CA and host certificate, so clients using SSL can be checked
 * against them; always stops it.
 */
export async function withReadyPool(
  options: PoolOptions,
  fn: (pool: Pool, dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const pool = await preparePool(dir, options);
    await withMaster(pool, async () => {
      const deadline = Date.now() + 10_000;
      while (!(await exists(pool.hostCertFile) && await exists(pool.caFile))) {
        if (Date.now() > deadline) throw new Error("The collector wrote no host certificate");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await fn(pool, dir);
    });
  });
}

/**
 * Environment additions under which a client (ours or HTCondor's)
 * authenticates with IDTOKENS alone, from the tokens in `tokenDirectory`
 * only: no signing key is readable, so it cannot make up a token of its own.
 */
export function tokensOnly(pool: Pool, tokenDirectory: string): Record<string, string> {
  return {
    _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "IDTOKENS",
    _CONDOR_SEC_TOKEN_DIRECTORY: tokenDirectory,
    _CONDOR_SEC_PASSWORD_DIRECTORY: `${pool.dir}/no-keys`,
    _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${pool.dir}/no-keys/POOL`,
  };
}

/** Asserts a failure with `code`, nothing on stdout and exactly one line on stderr. */
export function assertOneLineFailure(r: ToolResult, code: number): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^[^\n]+\n$/, "exactly one line");
  assert.doesNotMatch(r.stderr, /\n\s+at |Uncaught|error: /, "no stack trace");
}

/** The header and claims of a token (`header.payload.signature`), decoded. */
export function tokenParts(
  token: string,
): { header: Record<string, unknown>; claims: TokenClaims } {
  const [header, claims] = token.trim().split(".").slice(0, 2).map((segment) => {
    const bytes = Uint8Array.from(
      atob(segment.replace(/-/g, "+").replace(/_/g, "/")),
      (c) => c.charCodeAt(0),
    );
    return JSON.parse(new TextDecoder().decode(bytes));
  });
  return { header, claims };
}

/** The claims of an IDTOKEN the interop tests look at. */
export interface TokenClaims {
  sub: string;
  iss: string;
  scope?: string;
  iat: number;
  exp?: number;
  jti: string;
}
