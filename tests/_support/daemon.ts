/**
 * A real condor_tokend for tests, in a directory of its own: a fresh POOL
 * key and trust domain, HTTPS on 127.0.0.1 at a free port, state under the
 * directory (so starting again with the same directory is a restart).
 *
 * - startTestDaemon: in-process (fast; a fake clock may be injected).
 * - spawnTestDaemon: `main.ts condor_tokend -port 0` as a subprocess with
 *   the shipped binary's permission flags, for restarts, signals and kill -9.
 *
 * - withDaemon: an in-process daemon in a temporary directory, with an API
 *   client and the daemon clients a test usually wants, all stopped after.
 *
 * Both return `env`, the environment for running tools against the daemon
 * (CONDOR_CONFIG, HOME, and `_CONDOR_COLLECTOR_HOST` naming the actual port).
 * Both are `AsyncDisposable`: `await using daemon = await startTestDaemon(...)`.
 */
import { realClock } from "../../src/clock.ts";
import { type CondorConfig, loadConfig } from "../../src/config/condor_config.ts";
import type { Authorization } from "../../src/token/authz.ts";
import { mintToken as mint } from "../../src/token/idtoken.ts";
import {
  createKeyFileIfMissing,
  POOL_KEY_ID,
  readSigningKey,
} from "../../src/token/signing_key.ts";
import { pemFingerprint } from "../../src/server/certificate.ts";
import type { Handler } from "../../src/server/handler.ts";
import { adSender } from "../../src/client/ad_sender.ts";
import { startTokend } from "../../src/server/tokend.ts";
import type { TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { type Api, apiFor } from "./api.ts";
import { spawnTool } from "./run_tool.ts";
import { withTempDir } from "./temp.ts";

/** The trust domain of every test daemon. */
export const TEST_TRUST_DOMAIN = "tokend-test.example.org";
/** An identity listed in the test daemon's ALLOW_ADMINISTRATOR. */
export const TEST_ADMIN = `admin@${TEST_TRUST_DOMAIN}`;

/** Options for a test daemon. */
export interface TestDaemonOptions {
  /** Directory for configuration, keys, state and the user's home (created if missing). */
  dir: string;
  /** Configuration lines appended after the defaults (later lines win). */
  extraConfig?: string;
}

/** What both kinds of test daemon offer. */
export interface TestDaemonBase {
  /** Base URL, `https://127.0.0.1:PORT`. */
  url: string;
  /** `sha256:AB:CD:...` of the daemon's certificate. */
  fingerprint: string;
  /** The daemon's certificate, for `Deno.createHttpClient({ caCerts: [certPem] })`. */
  certPem: string;
  configPath: string;
  /** Environment for tool subprocesses: CONDOR_CONFIG, HOME, _CONDOR_COLLECTOR_HOST. */
  env: Record<string, string>;
  /** A token for TEST_ADMIN (an ALLOW_ADMINISTRATOR identity), unrestricted, 1 hour. */
  adminToken: string;
  /** Mints a token with the daemon's POOL key (lifetime in seconds; none when omitted). */
  mintToken(identity: string, authz?: Authorization[], lifetime?: number): Promise<string>;
}

/** An in-process test daemon. */
export interface TestDaemon extends TestDaemonBase, AsyncDisposable {
  /**
   * Runs the daemon's expiry sweep now (with a fake clock); resolves to how
   * many requests expired (undefined when another daemon was sweeping).
   */
  sweep(): Promise<number | undefined>;
  /** The daemon's request handler, for calls with `new Request(...)` that bypass the network. */
  handler: Handler;
  /** Stops the daemon (waiting polls are answered, the store is closed). */
  close(): Promise<void>;
  /** Re-reads the configuration file and applies it, as SIGHUP does. */
  reconfigure(): Promise<void>;
}

/** A test daemon in a subprocess; disposing of it stops it (SIGTERM, then waits). */
export interface SpawnedTestDaemon extends TestDaemonBase, AsyncDisposable {
  child: Deno.ChildProcess;
  /** Everything the daemon wrote on stderr so far. */
  stderr(): string;
  /** Sends a signal (e.g. "SIGKILL") and waits for the process to end; resolves to its status. */
  kill(signal: Deno.Signal): Promise<Deno.CommandStatus>;
  /** SIGTERM and wait: a clean stop. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Paths of a test daemon's directory. */
export interface TestDaemonPaths {
  configPath: string;
  home: string;
  spool: string;
  stateDirectory: string;
  passwordDirectory: string;
  poolKeyFile: string;
  tokenDirectory: string;
  addressFile: string;
  certFile: string;
}

/** The layout inside `dir`. */
export function testDaemonPaths(dir: string): TestDaemonPaths {
  return {
    configPath: `${dir}/condor_config`,
    home: `${dir}/home`,
    spool: `${dir}/spool`,
    stateDirectory: `${dir}/spool/tokend`,
    passwordDirectory: `${dir}/passwords.d`,
    poolKeyFile: `${dir}/passwords.d/POOL`,
    tokenDirectory: `${dir}/home/.condor/tokens.d`,
    addressFile: `${dir}/tokend.address`,
    certFile: `${dir}/spool/tokend/tokend_cert.pem`,
  };
}

/**
 * Writes the configuration and a POOL key (kept if present) into `dir`.
 * Returns the paths. The configuration sets COLLECTOR_HOST, NETWORK_INTERFACE,
 * SPOOL, SEC_PASSWORD_DIRECTORY, SEC_TOKEN_POOL_SIGNING_KEY_FILE, TRUST_DOMAIN,
 * SEC_TOKEN_DIRECTORY and TOKEND_ADDRESS_FILE inside `dir`, trusts the
 * daemon's self-signed certificate as AUTH_SSL_CLIENT_CAFILE, lists TEST_ADMIN
 * in ALLOW_ADMINISTRATOR and disables the per-peer limits (rate limits and
 * the pending cap per peer), since every test request comes from 127.0.0.1.
 */
export async function prepareTestDaemonDir(
  dir: string,
  extraConfig = "",
): Promise<TestDaemonPaths> {
  const paths = testDaemonPaths(dir);
  await Deno.mkdir(paths.home, { recursive: true, mode: 0o700 });
  await Deno.mkdir(paths.passwordDirectory, { recursive: true, mode: 0o700 });
  await createKeyFileIfMissing(paths.poolKeyFile);
  const config = [
    "# Written by tests/_support/daemon.ts",
    `TRUST_DOMAIN = ${TEST_TRUST_DOMAIN}`,
    `UID_DOMAIN = ${TEST_TRUST_DOMAIN}`,
    "COLLECTOR_HOST = 127.0.0.1",
    "NETWORK_INTERFACE = 127.0.0.1",
    `SPOOL = ${paths.spool}`,
    `SEC_PASSWORD_DIRECTORY = ${paths.passwordDirectory}`,
    `SEC_TOKEN_POOL_SIGNING_KEY_FILE = ${paths.poolKeyFile}`,
    `SEC_TOKEN_DIRECTORY = ${paths.tokenDirectory}`,
    `SEC_TOKEN_SYSTEM_DIRECTORY = ${dir}/system-tokens.d`,
    `TOKEND_ADDRESS_FILE = ${paths.addressFile}`,
    "AUTH_SSL_SERVER_CERTFILE =",
    "AUTH_SSL_SERVER_KEYFILE =",
    `AUTH_SSL_CLIENT_CAFILE = ${paths.certFile}`,
    `ALLOW_ADMINISTRATOR = ${TEST_ADMIN}`,
    "TOKEND_RATE_LIMIT = 0",
    "TOKEND_COLLECT_RATE_LIMIT = 0",
    "TOKEND_MAX_PENDING_PER_PEER = 0",
    extraConfig,
    "",
  ].join("\n");
  await Deno.writeTextFile(paths.configPath, config);
  return paths;
}

/**
 * The configuration a daemon prepared in `paths` reads, as condor_tokend
 * started with CONDOR_CONFIG and HOME set to them would, on a host named
 * `hostname`.
 */
export async function testDaemonConfig(
  paths: Pick<TestDaemonPaths, "configPath" | "home">,
  hostname = "tokend.example.org",
): Promise<CondorConfig> {
  const env: Record<string, string> = { CONDOR_CONFIG: paths.configPath, HOME: paths.home };
  return await loadConfig({ env: { get: (n) => env[n] }, hostname });
}

/** Starts a daemon in this process on 127.0.0.1, port 0. */
export async function startTestDaemon(
  options: TestDaemonOptions & { now?: () => number; log?: (line: string) => void },
): Promise<TestDaemon> {
  const paths = await prepareTestDaemonDir(options.dir, options.extraConfig);
  const baseEnv = { CONDOR_CONFIG: paths.configPath, HOME: paths.home };
  const readConfig = () =>
    loadConfig({
      env: { get: (name) => (baseEnv as Record<string, string>)[name] },
      hostname: Deno.hostname(),
    });
  const tokend = await startTokend({
    config: await readConfig(),
    port: 0,
    clock: options.now ? { now: options.now, sleep: realClock.sleep } : realClock,
    log: options.log ?? (() => {}),
    adSender: (daemonConfig) => adSender(daemonConfig, options.now ?? Date.now),
  });
  const tools = await toolsFor(paths, options.now);
  return {
    url: tokend.url,
    fingerprint: tokend.fingerprint!,
    certPem: tokend.certPem!,
    configPath: paths.configPath,
    env: { ...baseEnv, _CONDOR_COLLECTOR_HOST: hostPort(tokend.url) },
    ...tools,
    sweep: () => tokend.sweep(),
    handler: tokend.handler,
    close: () => tokend.shutdown(),
    [Symbol.asyncDispose]: () => tokend.shutdown(),
    reconfigure: async () => await tokend.reconfigure(await readConfig()),
  };
}

/** What {@link withDaemon} hands a test. */
export interface DaemonContext {
  daemon: TestDaemon;
  /** Raw calls to the daemon's HTTP API, trusting exactly its certificate. */
  api: Api;
  /** A requester's client: no credential, trusting exactly the daemon's certificate. */
  client: TokenDaemonClient;
  /** An administrator's client (TEST_ADMIN's token). */
  admin: TokenDaemonClient;
  /** The daemon's directory (configuration, keys, state, the user's home). */
  dir: string;
}

/**
 * Runs `fn` against a fresh in-process daemon in a temporary directory, and
 * stops the daemon, closes the clients and removes the directory after.
 */
export async function withDaemon(fn: (ctx: DaemonContext) => Promise<void>): Promise<void>;
export async function withDaemon(
  options: { extraConfig?: string; now?: () => number },
  fn: (ctx: DaemonContext) => Promise<void>,
): Promise<void>;
export async function withDaemon(
  ...args:
    | [(ctx: DaemonContext) => Promise<void>]
    | [{ extraConfig?: string; now?: () => number }, (ctx: DaemonContext) => Promise<void>]
): Promise<void> {
  const [options, fn] = args.length === 1 ? [{}, args[0]] : args;
  await withTempDir(async (dir) => {
    await using daemon = await startTestDaemon({ dir, ...options });
    using api = apiFor(daemon);
    using client = clientFor(daemon);
    using admin = clientFor(daemon, { admin: true });
    await fn({ daemon, api, client, admin, dir });
  });
}

/** A client that trusts exactly the test daemon's certificate, with its admin token or none. */
export function clientFor(
  daemon: Pick<TestDaemonBase, "url" | "fingerprint" | "adminToken">,
  options: { admin?: boolean; timeoutMs?: number } = {},
): TokenDaemonClient {
  return pinnedHttpsClient(daemon.url, daemon.fingerprint, {
    credential: options.admin ? () => Promise.resolve(daemon.adminToken) : undefined,
    timeoutMs: options.timeoutMs,
  });
}

/**
 * Runs `main.ts condor_tokend -port 0` with the shipped permission flags and
 * resolves once it has written its address file. Rejects (with its stderr)
 * if it exits first or takes longer than `timeoutMs`.
 */
export async function spawnTestDaemon(
  options: TestDaemonOptions & {
    timeoutMs?: number;
    childEnv?: Record<string, string>;
    /** Limit on the daemon's open files (`ulimit -n`, soft and hard). */
    fdLimit?: number;
  },
): Promise<SpawnedTestDaemon> {
  const paths = await prepareTestDaemonDir(options.dir, options.extraConfig);
  await Deno.remove(paths.addressFile).catch(() => {});
  const baseEnv = { CONDOR_CONFIG: paths.configPath, HOME: paths.home };
  const child = spawnTool("condor_tokend", ["-port", "0"], {
    env: { ...baseEnv, ...(options.childEnv ?? {}) },
    fdLimit: options.fdLimit,
  });
  let stderrText = "";
  const decoder = new TextDecoder();
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) stderrText += decoder.decode(chunk, { stream: true });
  })();
  const stdoutDone = child.stdout.cancel();
  const status = child.status;
  let exited = false;
  status.then(() => exited = true);
  const finish = async () => {
    const result = await status;
    await stderrDone;
    await stdoutDone;
    return result;
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let url: string | undefined;
  while (url === undefined) {
    try {
      const text = (await Deno.readTextFile(paths.addressFile)).trim();
      if (text !== "") url = text;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (url !== undefined) break;
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      const result = await finish();
      throw new Error(
        `condor_tokend did not start (exit code ${result.code}, signal ${result.signal}):\n${stderrText}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  // The certificate it uses: its own self-signed one, or a configured one it names.
  let certFile: string | undefined = await Deno.stat(paths.certFile).then(
    () => paths.certFile,
    () => undefined,
  );
  while (certFile === undefined) {
    certFile = /(?:using certificate|created self-signed certificate) (\S+)/.exec(stderrText)?.[1];
    if (certFile !== undefined) break;
    if (exited || Date.now() > deadline) throw new Error(`no certificate line:\n${stderrText}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const certPem = await Deno.readTextFile(certFile);
  const tools = await toolsFor(paths);
  const kill = async (signal: Deno.Signal) => {
    if (!exited) {
      try {
        child.kill(signal);
      } catch (err) {
        if (!(err instanceof TypeError)) throw err; // already exited
      }
    }
    return await finish();
  };
  return {
    url,
    fingerprint: await pemFingerprint(certPem),
    certPem,
    configPath: paths.configPath,
    env: { ...baseEnv, _CONDOR_COLLECTOR_HOST: hostPort(url) },
    child,
    stderr: () => stderrText,
    kill,
    stop: () => kill("SIGTERM"),
    [Symbol.asyncDispose]: async () => {
      await kill("SIGTERM");
    },
    ...tools,
  };
}

async function toolsFor(paths: TestDaemonPaths, now?: () => number) {
  const key = await readSigningKey(POOL_KEY_ID, {
    poolKeyFile: paths.poolKeyFile,
    passwordDirectory: paths.passwordDirectory,
  });
  const mintToken = async (identity: string, authz: Authorization[] = [], lifetime?: number) =>
    (await mint(key, {
      identity,
      issuer: TEST_TRUST_DOMAIN,
      now: Math.floor((now ?? Date.now)() / 1000),
      lifetime,
      authz,
    })).token;
  return { mintToken, adminToken: await mintToken(TEST_ADMIN, [], 3600) };
}

function hostPort(url: string): string {
  return new URL(url).host;
}
