/**
 * Interoperability with a real HTCondor: tokens we mint, verify, list and
 * issue against HTCondor's own collector and tools, on loopback.
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix
 * (`sbin/condor_master`, `sbin/condor_collector`, `bin/condor_ping`,
 * `bin/condor_token_create`, `bin/condor_token_list`); otherwise every test is
 * registered as ignored, with the reason in its name. docs/interop.md says how
 * to set up such a peer.
 */
import assert from "node:assert/strict";
import { verifyToken } from "../../src/token/idtoken.ts";
import {
  createKeyFileIfMissing,
  type KeyLocations,
  POOL_KEY_ID,
  readSigningKey,
} from "../../src/token/signing_key.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN } from "../_support/daemon.ts";
import { finish, runTool, type ToolResult } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { withRequester } from "../e2e/token_request_support.ts";

/** The environment variable naming the HTCondor install prefix. */
const PREFIX_VAR = "CONDOR_TOKEN_HTCONDOR_PREFIX";
const PREFIX = Deno.env.get(PREFIX_VAR) ?? "";
const SKIPPED = ` (skipped: set ${PREFIX_VAR} to a real HTCondor 25.x install prefix)`;

/** The trust domain of the pools that do not share a key with our condor_tokend. */
const TRUST_DOMAIN = "interop.example.org";
/** HTCondor's service account, the daemons' user when the tests run as root. */
const NOBODY = 65534;
/** Upper bound for the master to start the collector, and to stop. */
const DAEMON_WAIT_MS = 20_000;
/** Upper bound for one run of a real HTCondor tool. */
const TOOL_WAIT_MS = 20_000;

/** Registers a test that needs a real HTCondor; ignored (and saying why) without one. */
function interopTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name: PREFIX ? name : name + SKIPPED, ignore: !PREFIX, fn });
}

/** One personal HTCondor pool on 127.0.0.1: where its files are and how to address it. */
interface Pool {
  dir: string;
  /** `127.0.0.1:PORT` of the collector. */
  address: string;
  configPath: string;
  poolKeyFile: string;
  passwordDirectory: string;
  /** SEC_TOKEN_DIRECTORY of the configuration. */
  tokenDirectory: string;
  /** Environment for real HTCondor tools: this configuration only. */
  env: Record<string, string>;
  /** Environment for our tools: the same configuration. */
  ourEnv: Record<string, string>;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Writes a pool's configuration under `dir/condor` as spec'd in
 * htcondor-reference.md: one collector on a free loopback port, the version's
 * recommended security, the given trust domain and POOL key file. The key is
 * not created here: HTCondor's collector creates a missing one itself.
 */
async function preparePool(
  dir: string,
  options: { trustDomain?: string; poolKeyFile?: string },
): Promise<Pool> {
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
  const address = `127.0.0.1:${freePort()}`;
  const configPath = `${base}/condor_config`;
  await Deno.writeTextFile(
    configPath,
    [
      "# A one-collector HTCondor pool on loopback, written by tests/interop/htcondor_test.ts",
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
      "",
    ].join("\n"),
  );
  const home = `${dir}/home`;
  return {
    dir: base,
    address,
    configPath,
    poolKeyFile,
    passwordDirectory,
    tokenDirectory,
    env: { CONDOR_CONFIG: configPath, HOME: home, PATH: "/usr/bin:/bin" },
    ourEnv: { CONDOR_CONFIG: configPath, HOME: home },
  };
}

/** Runs a real HTCondor program from the prefix with exactly `env`; kills it after TOOL_WAIT_MS. */
async function runReal(
  program: string,
  args: string[],
  env: Record<string, string>,
): Promise<ToolResult> {
  const child = new Deno.Command(`${PREFIX}/${program}`, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return await finish(child, { timeoutMs: TOOL_WAIT_MS });
}

/** The last lines of the collector's log, for failure messages. */
async function collectorLog(pool: Pool, lines = 40): Promise<string> {
  try {
    return (await Deno.readTextFile(`${pool.dir}/log/CollectorLog`)).split("\n").slice(-lines)
      .join("\n");
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "(no CollectorLog)";
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
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
async function withMaster(pool: Pool, fn: () => Promise<void>): Promise<void> {
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

async function stopMaster(
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
interface PingRow {
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
async function ping(
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
function assertAllowed(rows: Map<string, PingRow>, level: string, identity: string) {
  assert.deepEqual(rows.get(level), { method: "IDTOKENS", decision: "ALLOW", identity }, level);
}

/** Asserts that the collector refused `level`. */
function assertRefused(rows: Map<string, PingRow>, level: string) {
  assert.equal(rows.get(level)?.decision, "FAIL", level);
}

/** Runs our condor_token_create storing the token as `tokenDirectory/token`; returns the token. */
async function ourToken(
  pool: Pool,
  tokenDirectory: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const r = await runTool("condor_token_create", [...args, "-token", "token"], {
    env: { ...pool.ourEnv, _CONDOR_SEC_TOKEN_DIRECTORY: tokenDirectory, ...env },
  });
  assert.equal(r.code, 0, r.stderr);
  return (await Deno.readTextFile(`${tokenDirectory}/token`)).trim();
}

/** How many times `text` occurs in the collector's whole log. */
async function countInCollectorLog(pool: Pool, text: string): Promise<number> {
  return (await Deno.readTextFile(`${pool.dir}/log/CollectorLog`)).split(text).length - 1;
}

const LIMITED = "successful but resulted in a limited authorization which did not include";

interopTest(
  "condor_token_create (ours) mints tokens the real collector accepts, scope honoured",
  async () => {
    await withTempDir(async (dir) => {
      // The collector creates the POOL key; we mint with the key file it wrote.
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      await withMaster(pool, async () => {
        const alice = `alice@${TRUST_DOMAIN}`;
        const plain = `${dir}/alice-tokens`;
        await ourToken(pool, plain, ["-identity", alice, "-lifetime", "600"]);
        const all = await ping(pool, plain, ["READ", "WRITE"]);
        assertAllowed(all, "READ", alice);
        assertAllowed(all, "WRITE", alice);

        // A READ-only token is refused WRITE, which ALLOW_WRITE = * would grant.
        const bob = `bob@${TRUST_DOMAIN}`;
        const readOnly = `${dir}/bob-tokens`;
        await ourToken(pool, readOnly, ["-identity", bob, "-authz", "READ", "-lifetime", "600"]);
        const limitedBefore = await countInCollectorLog(pool, LIMITED);
        const narrowed = await ping(pool, readOnly, ["READ", "WRITE"]);
        assertAllowed(narrowed, "READ", bob);
        assertRefused(narrowed, "WRITE");
        assert.equal(await countInCollectorLog(pool, LIMITED), limitedBefore + 1);

        // condor@ is an administrator by the recommended policy; scope WRITE takes that away.
        // In HTCondor WRITE implies READ, so a WRITE-only token still may READ.
        const condor = `condor@${TRUST_DOMAIN}`;
        const admin = `${dir}/condor-tokens`;
        await ourToken(pool, admin, ["-identity", condor, "-lifetime", "600"]);
        assertAllowed(await ping(pool, admin, ["ADMINISTRATOR"]), "ADMINISTRATOR", condor);
        const writeOnly = `${dir}/condor-write-tokens`;
        await ourToken(pool, writeOnly, [
          "-identity",
          condor,
          "-authz",
          "WRITE",
          "-lifetime",
          "600",
        ]);
        const write = await ping(pool, writeOnly, ["READ", "WRITE", "ADMINISTRATOR"]);
        assertAllowed(write, "READ", condor);
        assertAllowed(write, "WRITE", condor);
        assertRefused(write, "ADMINISTRATOR");
        assert.equal(await countInCollectorLog(pool, LIMITED), limitedBefore + 2);

        // Control: the same claims signed with another key are refused outright.
        const otherKeys = `${dir}/other-keys`;
        await createKeyFileIfMissing(`${otherKeys}/POOL`);
        const forged = `${dir}/forged-tokens`;
        await ourToken(pool, forged, ["-identity", alice, "-lifetime", "600"], {
          _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${otherKeys}/POOL`,
        });
        const failedBefore = await countInCollectorLog(
          pool,
          "Failed to authenticate using IDTOKENS",
        );
        assertRefused(await ping(pool, forged, ["READ"]), "READ");
        assert.ok(
          await countInCollectorLog(pool, "Failed to authenticate using IDTOKENS") > failedBefore,
        );
      });
    });
  },
);

interopTest(
  "tokens from the real condor_token_create verify in verifyToken and show in our condor_token_list",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      // Our key files, read by the real tool: POOL (doubled) and a named key (not doubled).
      await createKeyFileIfMissing(pool.poolKeyFile);
      await createKeyFileIfMissing(`${pool.passwordDirectory}/SITE`);
      const locations: KeyLocations = {
        poolKeyFile: pool.poolKeyFile,
        passwordDirectory: pool.passwordDirectory,
      };
      const verify = (token: string) =>
        verifyToken(token, (kid) => readSigningKey(kid, locations), {
          issuer: TRUST_DOMAIN,
          now: Math.floor(Date.now() / 1000),
        });

      const carol = `carol@${TRUST_DOMAIN}`;
      const created = await runReal("bin/condor_token_create", [
        "-identity",
        carol,
        "-authz",
        "READ",
        "-authz",
        "WRITE",
        "-lifetime",
        "600",
      ], pool.env);
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();
      // HTCondor escapes "/" in JSON strings; the HMAC covers those exact bytes.
      assert.ok(base64UrlDecode(token.split(".")[1]).includes('"scope":"condor:\\/READ'));
      const verified = await verify(token);
      assert.equal(verified.kid, POOL_KEY_ID);
      assert.equal(verified.claims.sub, carol);
      assert.equal(verified.claims.iss, TRUST_DOMAIN);
      assert.deepEqual(verified.authz, ["READ", "WRITE"]);
      assert.equal(verified.claims.exp! - verified.claims.iat, 600);
      assert.match(verified.claims.jti, /^[0-9a-f]{32}$/);

      const named = await runReal(
        "bin/condor_token_create",
        ["-identity", carol, "-key", "SITE"],
        pool.env,
      );
      assert.equal(named.code, 0, named.stderr);
      const site = await verify(named.stdout.trim());
      assert.equal(site.kid, "SITE");
      assert.equal(site.claims.exp, undefined);
      assert.deepEqual(site.authz, []);

      // Control: the same token with one signature character changed is refused.
      const [h, p, s] = token.split(".");
      const tampered = `${h}.${p}.${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
      await assert.rejects(verify(tampered), { code: "TOKEN_BAD_SIGNATURE" });

      const stored = await runReal(
        "bin/condor_token_create",
        ["-identity", `dave@${TRUST_DOMAIN}`, "-lifetime", "60", "-token", "real"],
        pool.env,
      );
      assert.equal(stored.code, 0, stored.stderr);
      const file = `${pool.tokenDirectory}/real`;
      const written = (await Deno.readTextFile(file)).trim();
      assert.equal((await verify(written)).claims.sub, `dave@${TRUST_DOMAIN}`);
      const listed = await runTool("condor_token_list", [], { env: pool.ourEnv });
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stderr, "");
      const [headerText, payloadText] = written.split(".").slice(0, 2).map(base64UrlDecode);
      assert.equal(listed.stdout, `Header: ${headerText} Payload: ${payloadText} File: ${file}\n`);
    });
  },
);

interopTest(
  "the real condor_token_list shows a token file our condor_token_create wrote",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      await createKeyFileIfMissing(pool.poolKeyFile);
      const r = await runTool("condor_token_create", [
        "-identity",
        `erin@${TRUST_DOMAIN}`,
        "-authz",
        "READ",
        "-authz",
        "ADVERTISE_STARTD",
        "-lifetime",
        "600",
        "-token",
        "ours",
      ], { env: pool.ourEnv });
      assert.equal(r.code, 0, r.stderr);
      const file = `${pool.tokenDirectory}/ours`;
      const token = (await Deno.readTextFile(file)).trim();
      const [headerText, payloadText] = token.split(".").slice(0, 2).map(base64UrlDecode);
      const listed = await runReal("bin/condor_token_list", [], pool.env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout, `Header: ${headerText} Payload: ${payloadText} File: ${file}\n`);
      const payload = JSON.parse(payloadText);
      assert.equal(payload.sub, `erin@${TRUST_DOMAIN}`);
      assert.equal(payload.iss, TRUST_DOMAIN);
      assert.equal(payload.scope, "condor:/READ condor:/ADVERTISE_STARTD");
      assert.equal(payload.exp - payload.iat, 600);
    });
  },
);

interopTest(
  "a token our condor_tokend issues to an approved condor_token_request works in the real pool",
  async () => {
    await withTempDir(async (dir) => {
      // Our daemon creates the POOL key; the real collector signs and checks with that file.
      const daemon = await startTestDaemon({ dir: `${dir}/tokend` });
      try {
        const pool = await preparePool(dir, {
          trustDomain: TEST_TRUST_DOMAIN,
          poolKeyFile: `${dir}/tokend/passwords.d/POOL`,
        });
        await withMaster(pool, async () => {
          const frank = `frank@${TEST_TRUST_DOMAIN}`;
          const token = await withRequester(
            ["-identity", frank, "-authz", "READ", "-lifetime", "600"],
            daemon.env,
            async (requester) => {
              const id = await requester.requestId();
              const approved = await runTool(
                "condor_token_request_approve",
                ["-reqid", id, "-yes"],
                { env: daemon.env },
              );
              assert.equal(approved.code, 0, approved.stderr);
              const r = await requester.done;
              assert.equal(r.code, 0, r.stderr);
              return r.stdout.trim();
            },
          );
          const tokens = `${dir}/frank-tokens`;
          await Deno.mkdir(tokens, { mode: 0o700 });
          await Deno.writeTextFile(`${tokens}/token`, token + "\n", { mode: 0o600 });
          const rows = await ping(pool, tokens, ["READ", "WRITE"]);
          assertAllowed(rows, "READ", frank);
          assertRefused(rows, "WRITE");
          assert.equal(await countInCollectorLog(pool, LIMITED), 1);
        });
      } finally {
        await daemon.close();
      }
    });
  },
);

interopTest(
  "without TRUST_DOMAIN our condor_token_create names the issuer the real one does",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, {});
      await createKeyFileIfMissing(pool.poolKeyFile);
      const issuers = [];
      for (
        const r of [
          await runReal("bin/condor_token_create", ["-identity", "x@example.org"], pool.env),
          await runTool("condor_token_create", ["-identity", "x@example.org"], {
            env: pool.ourEnv,
          }),
        ]
      ) {
        assert.equal(r.code, 0, r.stderr);
        issuers.push(JSON.parse(base64UrlDecode(r.stdout.trim().split(".")[1])).iss);
      }
      const real = await runReal("bin/condor_config_val", ["TRUST_DOMAIN"], pool.env);
      assert.equal(issuers[0], real.stdout.trim());
      assert.equal(issuers[1], issuers[0]);
    });
  },
);

/** Decodes one base64url segment to text. */
function base64UrlDecode(segment: string): string {
  const bin = atob(segment.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}
