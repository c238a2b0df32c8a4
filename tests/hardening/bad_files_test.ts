/**
 * Malformed configuration, key, token and state files, end to end: every
 * shipped tool that reads them (run as a subprocess with the shipped
 * permission flags) must fail with one clear line on stderr that says what
 * is wrong and where, never a stack trace, an uncaught exception or a hang;
 * or, for token files it only scans, warn and carry on. The parsers' own
 * unit tests (tests/config, tests/token) cover each rule in detail; this
 * proves the tools turn every such failure into a message.
 */
import assert from "node:assert/strict";
import { prepareTestDaemonDir, type TestDaemonPaths } from "../_support/daemon.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";

interface BadFileCase {
  name: string;
  tool: string;
  args?: string[];
  /** Breaks something in the prepared directory; returns extra environment if any. */
  setup: (paths: TestDaemonPaths, dir: string) => Promise<Record<string, string> | void>;
  /** What the last line of stderr must say. */
  message: RegExp;
  requesterFlags?: boolean;
}

const appendConfig = async (paths: TestDaemonPaths, text: string) =>
  await Deno.writeTextFile(paths.configPath, `\n${text}\n`, { append: true });

const CASES: BadFileCase[] = [
  {
    name: "binary garbage as the configuration",
    tool: "condor_token_request",
    requesterFlags: true,
    setup: async (paths) => {
      const noise = crypto.getRandomValues(new Uint8Array(512)).map((b) => b === 10 ? 0 : b);
      await Deno.writeFile(paths.configPath, noise);
    },
    message: /^condor_token_request: Cannot parse configuration: ".*condor_config" line 1: /,
  },
  {
    name: "an if without endif",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: (paths) => appendConfig(paths, "if true\nFOO = 1"),
    message:
      /^condor_tokend: Cannot parse configuration: ".*condor_config" line \d+: if without endif$/,
  },
  {
    name: "a multi-line value that never ends",
    tool: "condor_token_request_list",
    setup: (paths) => appendConfig(paths, "FOO @=END\nnever ends"),
    message: /^condor_token_request_list: Cannot parse configuration: .* missing "@END"/,
  },
  {
    name: "a boolean knob that is no boolean",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: (paths) => appendConfig(paths, "TOKEND_ALLOW_PLAIN_HTTP = maybe"),
    message: /knob "TOKEND_ALLOW_PLAIN_HTTP" is "maybe", expected a boolean/,
  },
  {
    name: "a number knob that is no number",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: (paths) => appendConfig(paths, "TOKEND_MAX_PENDING_REQUESTS = lots"),
    message: /knob "TOKEND_MAX_PENDING_REQUESTS" is "lots", expected an integer/,
  },
  {
    name: "a macro loop in TRUST_DOMAIN",
    tool: "condor_token_create",
    args: ["-identity", "alice@example.org"],
    setup: (paths) => appendConfig(paths, "A = $(B)\nB = $(A)\nTRUST_DOMAIN = $(A)"),
    message: /^condor_token_create: Cannot .*\b(A|B)\b.*\b(A|B)\b/,
  },
  {
    name: "CONDOR_CONFIG naming a directory",
    tool: "condor_token_fetch",
    setup: (_paths, dir) => Promise.resolve({ CONDOR_CONFIG: dir }),
    message: /^condor_token_fetch: Cannot read configuration: ".*" is a directory/,
  },
  {
    name: "a COLLECTOR_HOST that is no address",
    tool: "condor_token_request",
    requesterFlags: true,
    setup: (paths) => appendConfig(paths, "COLLECTOR_HOST = [::1\nAUTH_SSL_CLIENT_CAFILE ="),
    message: /^condor_token_request: Cannot use COLLECTOR_HOST "\[::1"/,
  },
  {
    name: "a file where the state directory should be",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: (paths) => appendConfig(paths, `TOKEND_STATE_DIRECTORY = ${paths.configPath}`),
    message:
      /^condor_tokend: Cannot use TOKEND_STATE_DIRECTORY: .*condor_config is not a directory$/,
  },
  {
    name: "a state directory other users can write",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: async (paths) => {
      await Deno.mkdir(paths.stateDirectory, { recursive: true });
      await Deno.chmod(paths.stateDirectory, 0o777);
    },
    message:
      /^condor_tokend: Cannot use TOKEND_STATE_DIRECTORY: (\S+) has mode 0777, writable by other users; run "chmod 0700 \1"$/,
  },
  {
    name: "a dangling symbolic link as the state database",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: async (paths, dir) => {
      await Deno.mkdir(paths.stateDirectory, { recursive: true, mode: 0o700 });
      await Deno.symlink(`${dir}/planted`, `${paths.stateDirectory}/tokend.sqlite`);
    },
    message:
      /^condor_tokend: Cannot use state database: \S+\/tokend\.sqlite is a symbolic link, which is not followed here; replace it with the file itself$/,
  },
  {
    name: "an emptied state database",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: async (paths) => {
      await Deno.mkdir(paths.stateDirectory, { recursive: true, mode: 0o700 });
      await Deno.writeFile(`${paths.stateDirectory}/tokend.sqlite`, new Uint8Array(0), {
        mode: 0o600,
      });
    },
    message:
      /^condor_tokend: Cannot use state database \S+\/tokend\.sqlite: it is empty \(0 bytes\), .*; restore it from a backup, or remove it .* to start with an empty state$/,
  },
  {
    name: "a state database of another program",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: async (paths) => {
      await Deno.mkdir(paths.stateDirectory, { recursive: true, mode: 0o700 });
      const { DatabaseSync } = await import("node:sqlite");
      const db = new DatabaseSync(`${paths.stateDirectory}/tokend.sqlite`);
      db.exec("CREATE TABLE notes (x)");
      db.close();
    },
    message: /^condor_tokend: Cannot use state database .*: it holds tables but no condor_tokend/,
  },
  {
    name: "a NETWORK_INTERFACE that is no address of this host",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: (paths) => appendConfig(paths, "NETWORK_INTERFACE = 192.0.2.77"),
    message: /^condor_tokend: Cannot listen on 192\.0\.2\.77:\d+: no such local address/,
  },
  {
    name: "a mistyped SEC_TOKEN_POOL_SIGNING_KEY_FILE",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: (paths, dir) =>
      appendConfig(paths, `SEC_TOKEN_POOL_SIGNING_KEY_FILE = ${dir}/passwrods.d/POOL`),
    message:
      /^condor_tokend: Cannot create SEC_TOKEN_POOL_SIGNING_KEY_FILE \S+\/passwrods\.d\/POOL: its directory \S+ does not exist; correct the knob/,
  },
  {
    name: "an empty POOL key",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: async (paths) => await Deno.writeFile(paths.poolKeyFile, new Uint8Array(0)),
    message: /^condor_tokend: Cannot use signing key "POOL": the key file is empty/,
  },
  {
    name: "a directory as the POOL key",
    tool: "condor_token_create",
    args: ["-identity", "alice@example.org"],
    setup: async (paths) => {
      await Deno.remove(paths.poolKeyFile);
      await Deno.mkdir(paths.poolKeyFile);
    },
    message: /^condor_token_create: Cannot use signing key "POOL": .*POOL is not a file/,
  },
  {
    name: "the POOL key a link to an endless device",
    tool: "condor_tokend",
    args: ["-port", "0"],
    setup: async (paths) => {
      await Deno.remove(paths.poolKeyFile);
      await Deno.symlink("/dev/zero", paths.poolKeyFile);
    },
    message: /^condor_tokend: Cannot use signing key "POOL": .*POOL is not a file/,
  },
  {
    name: "a -state file that is not JSON",
    tool: "condor_token_request",
    requesterFlags: true,
    args: ["-state", "STATE"],
    setup: async (_paths, dir) =>
      await Deno.writeFile(`${dir}/state`, crypto.getRandomValues(new Uint8Array(64)), {
        mode: 0o600,
      }),
    message: /^condor_token_request: Cannot resume from .*state: it is not JSON/,
  },
  {
    name: "a -state file of another format",
    tool: "condor_token_request",
    requesterFlags: true,
    args: ["-state", "STATE"],
    setup: async (_paths, dir) =>
      await Deno.writeTextFile(`${dir}/state`, '{"requestId":12,"secret":[]}', { mode: 0o600 }),
    message: /^condor_token_request: Cannot resume from .*state: its format is not/,
  },
];

for (const c of CASES) {
  Deno.test(`bad files: ${c.tool} fails with one clear line for ${c.name}`, async () => {
    await withTempDir(async (dir) => {
      const paths = await prepareTestDaemonDir(dir);
      const extraEnv = await c.setup(paths, dir) ?? {};
      const args = (c.args ?? []).map((a) => a === "STATE" ? `${dir}/state` : a);
      const result = await runTool(c.tool, args, {
        env: { CONDOR_CONFIG: paths.configPath, HOME: paths.home, ...extraEnv },
        requesterFlags: c.requesterFlags,
        timeoutMs: 20_000,
      });
      assert.notEqual(result.code, 0, result.stderr);
      assert.equal(result.stdout, "");
      assert.doesNotMatch(result.stderr, /Uncaught|\n\s+at .*:\d+:\d+|panicked/, result.stderr);
      const last = result.stderr.trimEnd().split("\n").at(-1) ?? "";
      assert.match(last, c.message);
    });
  });
}

Deno.test("bad files: condor_token_list warns about each unusable token file and carries on", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(dir);
    const tokens = paths.tokenDirectory;
    await Deno.mkdir(tokens, { recursive: true, mode: 0o700 });
    await Deno.writeFile(`${tokens}/binary`, crypto.getRandomValues(new Uint8Array(4096)), {
      mode: 0o600,
    });
    await Deno.writeTextFile(`${tokens}/huge`, "A".repeat(4 * 1024 * 1024), { mode: 0o600 });
    await Deno.writeTextFile(`${tokens}/dots`, "a.b.c\n....\n\u0000\n", { mode: 0o600 });
    // A FIFO would block a reader forever: it must be skipped, not opened.
    const fifo = await new Deno.Command("mkfifo", { args: [`${tokens}/fifo`] }).output();
    assert.ok(fifo.success);
    const result = await runTool("condor_token_list", [], {
      env: { CONDOR_CONFIG: paths.configPath, HOME: paths.home },
      timeoutMs: 20_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Uncaught|\n\s+at .*:\d+:\d+/);
    for (const name of ["binary", "huge", "dots"]) {
      assert.match(result.stderr, new RegExp(`Ignoring ${tokens}/${name}\\b`), name);
    }
    assert.doesNotMatch(result.stderr, /fifo/);
  });
});
