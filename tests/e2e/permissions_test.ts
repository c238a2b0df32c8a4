/**
 * Least privilege: under the flags the binaries are compiled with
 * (scripts/permissions.ts), subprocesses, FFI, environment variables outside
 * the declared list, system information other than the host name, and
 * interactive prompts all stay denied, and the real programs ask for nothing
 * beyond what they declare. A probe script run with exactly those flags
 * shows the denials (and, given broader flags, that it would notice them
 * being granted); Deno's permission audit log of real tool runs shows what
 * the programs themselves touch.
 */
import assert from "node:assert/strict";
import { FULL_FLAGS, REQUESTER_FLAGS } from "../../scripts/permissions.ts";
import { spawnTestDaemon } from "../_support/daemon.ts";
import { withTestDatabase } from "../_support/postgres.ts";
import { runTool } from "../_support/run_tool.ts";
import { VECTOR_KEY_FILE, withTempDir, writeKeyFile } from "../_support/temp.ts";
import { adminClient, withRequester } from "./_token_request.ts";

/** Tries each capability and prints `{name: "allowed" | error class}` as JSON. */
const PROBE = `
async function attempt(fn) {
  try {
    await fn();
    return "allowed";
  } catch (err) {
    return err?.name ?? String(err);
  }
}
const { execFileSync } = await import("node:child_process");
console.log(JSON.stringify({
  spawn: await attempt(() => new Deno.Command(Deno.execPath(), { args: ["--version"] }).output()),
  nodeSpawn: await attempt(() => execFileSync(Deno.execPath(), ["--version"], { env: {} })),
  ffi: await attempt(() => Deno.dlopen(Deno.build.os === "darwin" ? "libSystem.dylib" : "libc.so.6", {})),
  envOutside: await attempt(() => Deno.env.get("AWS_SECRET_ACCESS_KEY")),
  envAll: await attempt(() => Deno.env.toObject()),
  envPath: await attempt(() => Deno.env.get("PATH")),
  envListed: Deno.env.get("_CONDOR_PROBE_KNOB") ?? "unset",
  sysOther: await attempt(() => Deno.osRelease()),
  sysInterfaces: await attempt(() => Deno.networkInterfaces()),
  hostname: await attempt(() => Deno.hostname()),
}));
`;

/** Environment for every probe: a secret the programs must never see. */
const PROBE_ENV = {
  AWS_SECRET_ACCESS_KEY: "not-for-condor",
  PATH: "/usr/bin:/bin",
  _CONDOR_PROBE_KNOB: "visible",
};

/** Runs the probe the way e2e tests run a program, with `flags` or else the shipped ones. */
async function probe(
  dir: string,
  options: { requesterFlags?: boolean; flags?: readonly string[] },
): Promise<Record<string, string>> {
  const path = `${dir}/probe.js`;
  await Deno.writeTextFile(path, PROBE);
  let r;
  if (options.flags) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...options.flags, path],
      env: { NO_COLOR: "1", ...PROBE_ENV },
      clearEnv: true,
    }).output();
    r = { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  } else {
    r = await runTool(undefined, [], { entry: path, env: PROBE_ENV, ...options });
  }
  assert.equal(r.code, 0, r.stdout);
  return JSON.parse(r.stdout);
}

const DENIED = {
  spawn: "NotCapable",
  nodeSpawn: "NotCapable",
  ffi: "NotCapable",
  envOutside: "NotCapable",
  envAll: "NotCapable",
  envPath: "NotCapable",
  envListed: "visible",
  sysOther: "NotCapable",
  sysInterfaces: "NotCapable",
  hostname: "allowed",
};

for (const [label, requesterFlags] of [["requester", true], ["full binary", false]] as const) {
  Deno.test(`${label} flags deny subprocesses, FFI, unlisted env and other system info`, async () => {
    await withTempDir(async (dir) => {
      assert.deepEqual(await probe(dir, { requesterFlags }), DENIED);
    });
  });
}

Deno.test("the permission probe reports capabilities as allowed when broader flags grant them", async () => {
  await withTempDir(async (dir) => {
    // Deno keeps the first --allow-env/--allow-sys it sees, so widen them in place.
    const flags = REQUESTER_FLAGS.map((f) => f.replace(/^(--allow-(?:env|sys))=.*$/, "$1"));
    const report = await probe(dir, { flags: [...flags, "--allow-run", "--allow-ffi"] });
    for (const key of ["spawn", "nodeSpawn", "envOutside", "envAll", "envPath", "sysOther"]) {
      assert.equal(report[key], "allowed", key);
    }
    // dlopen of libc succeeds, or fails for a reason other than permission.
    assert.notEqual(report.ffi, "NotCapable");
  });
});

Deno.test("both flag sets carry --no-prompt and grant no run, ffi or blanket env", () => {
  for (const flags of [REQUESTER_FLAGS, FULL_FLAGS]) {
    assert.ok(flags.includes("--no-prompt"));
    for (const flag of flags) {
      assert.doesNotMatch(flag, /^--allow-(run|ffi|all)|^-A$|^--allow-env$|^--allow-sys$/, flag);
    }
  }
});

/** `script` gives the child a terminal, where Deno would otherwise prompt. */
const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
});

/**
 * Runs the probe-like `code` on a terminal with `flags`, answering "n" to a
 * permission prompt if one appears; returns everything the terminal showed.
 */
async function onTerminal(dir: string, flags: readonly string[], code: string): Promise<string> {
  const path = `${dir}/on_terminal.js`;
  await Deno.writeTextFile(path, code);
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = [Deno.execPath(), "run", "--quiet", ...flags, path].map(quote).join(" ");
  const child = new Deno.Command(SCRIPT!, {
    args: ["-qec", line, "/dev/null"],
    env: { NO_COLOR: "1", TERM: "dumb" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const writer = child.stdin.getWriter();
  let shown = "";
  let answering: ReturnType<typeof setInterval> | undefined;
  try {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      shown += decoder.decode(chunk, { stream: true });
      // Deno discards input typed before it reads the answer, so keep
      // answering "n" until the prompt goes away.
      if (answering === undefined && shown.includes("Allow?")) {
        answering = setInterval(() => {
          writer.write(new TextEncoder().encode("n\r")).catch(() => {});
        }, 200);
      }
    }
    await child.status;
    await child.stderr.cancel();
  } finally {
    clearTimeout(timer);
    clearInterval(answering);
    await writer.close().catch(() => {});
  }
  return shown;
}

const SPAWN_ON_TERMINAL = `
console.log("terminal:", Deno.stdin.isTerminal());
try {
  await new Deno.Command(Deno.execPath(), { args: ["--version"] }).output();
  console.log("spawn: allowed");
} catch (err) {
  console.log("spawn:", err.name);
}
`;

Deno.test({
  name: "requester flags refuse a subprocess on a terminal without prompting",
  ignore: SCRIPT === undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const shown = await onTerminal(dir, REQUESTER_FLAGS, SPAWN_ON_TERMINAL);
      assert.match(shown, /terminal: true/);
      assert.match(shown, /spawn: NotCapable/);
      assert.doesNotMatch(shown, /Deno requests|Allow\?/);
    });
  },
});

Deno.test({
  name: "without --no-prompt the same flags would prompt on a terminal (the control)",
  ignore: SCRIPT === undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const flags = REQUESTER_FLAGS.filter((f) => f !== "--no-prompt");
      const shown = await onTerminal(dir, flags, SPAWN_ON_TERMINAL);
      assert.match(shown, /Deno requests run access/);
      assert.match(shown, /spawn: NotCapable/);
    });
  },
});

/** The env names and wildcard prefixes a flag set allows. */
function allowedEnv(flags: readonly string[]): (name: string) => boolean {
  const list = flags.find((f) => f.startsWith("--allow-env="))!.slice("--allow-env=".length)
    .split(",");
  return (name) =>
    list.some((entry) =>
      entry.endsWith("*") ? name.startsWith(entry.slice(0, -1)) : name === entry
    );
}

/** The system information names (`--allow-sys=...`) a flag set allows. */
function allowedSys(flags: readonly string[]): (name: string) => boolean {
  const list = flags.find((f) => f.startsWith("--allow-sys="))!.slice("--allow-sys=".length)
    .split(",");
  return (name) => list.includes(name);
}

/** Every permission check Deno logged for the runs in `audit` that falls outside `flags`. */
async function undeclared(
  audit: string,
  flags: readonly string[],
  mayBeEmpty = false,
): Promise<string[]> {
  const envOk = allowedEnv(flags);
  const sysOk = allowedSys(flags);
  let text = "";
  try {
    text = await Deno.readTextFile(audit);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const records = text.split("\n").filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { permission: string; value: string | null });
  assert.ok(mayBeEmpty || records.length > 0, "the audit log is empty");
  return records.filter(({ permission, value }) => {
    if (permission === "read" || permission === "write" || permission === "net") return false;
    if (permission === "env") return value === null || !envOk(value);
    if (permission === "sys") return value === null || !sysOk(value);
    return true;
  }).map(({ permission, value }) => `${permission} ${JSON.stringify(value)}`);
}

Deno.test("condor_token tools touch only what the full binary's flags declare", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/passwords.d`, { mode: 0o700 });
    await writeKeyFile(`${dir}/passwords.d/POOL`, VECTOR_KEY_FILE);
    await Deno.writeTextFile(
      `${dir}/condor_config`,
      `SEC_PASSWORD_DIRECTORY = ${dir}/passwords.d\nTRUST_DOMAIN = pool.example.org\n` +
        `SEC_TOKEN_DIRECTORY = ${dir}/tokens.d\n`,
    );
    const runs: [string | undefined, string[]][] = [
      ["condor_token_create", ["-identity", "alice@example.org", "-token", "mine"]],
      ["condor_token_list", []],
      ["condor_token_create", ["-help"]],
      [undefined, ["-version"]],
    ];
    const audit = `${dir}/audit.jsonl`;
    for (const [tool, args] of runs) {
      // Each run rewrites the log: read it after every run.
      const env = {
        CONDOR_CONFIG: `${dir}/condor_config`,
        HOME: `${dir}/home`,
        DENO_AUDIT_PERMISSIONS: audit,
      };
      const r = await runTool(tool, args, { env });
      assert.equal(r.code, 0, `${tool} ${args.join(" ")}: ${r.stderr}`);
      const quiet = args[0] === "-help" || args[0] === "-version"; // may touch nothing
      assert.deepEqual(await undeclared(audit, FULL_FLAGS, quiet), [], `${tool} ${args.join(" ")}`);
    }
    assert.ok(await Deno.readTextFile(`${dir}/tokens.d/mine`));
  });
});

Deno.test("condor_token_request and condor_tokend touch only what they declare through a whole request", async () => {
  await withTempDir(async (dir) => {
    const daemonAudit = `${dir}/tokend_audit.jsonl`;
    const requesterAudit = `${dir}/requester_audit.jsonl`;
    const daemon = await spawnTestDaemon({
      dir,
      childEnv: { DENO_AUDIT_PERMISSIONS: daemonAudit },
    });
    const admin = adminClient(daemon);
    try {
      for (const args of [["-help"], ["-version"]]) {
        const env = { ...daemon.env, DENO_AUDIT_PERMISSIONS: requesterAudit };
        const r = await runTool("condor_token_request", args, { env, requesterFlags: true });
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        assert.deepEqual(await undeclared(requesterAudit, REQUESTER_FLAGS, true), [], args[0]);
      }
      const env = { ...daemon.env, DENO_AUDIT_PERMISSIONS: requesterAudit };
      await withRequester(["-identity", "probe", "-token", "probe"], env, async (requester) => {
        await admin.approve(await requester.requestId());
        const r = await requester.done;
        assert.equal(r.code, 0, r.stderr);
      });
      assert.deepEqual(await undeclared(requesterAudit, REQUESTER_FLAGS), []);
    } finally {
      admin.close();
      await daemon.stop();
    }
    assert.deepEqual(await undeclared(daemonAudit, FULL_FLAGS), []);
  });
});

Deno.test("condor_tokend on PostgreSQL touches only what the full binary's flags declare, and never logs the password", async () => {
  await withTestDatabase(async (url) => {
    await withTempDir(async (dir) => {
      const audit = `${dir}/tokend_audit.jsonl`;
      // The server trusts this connection whatever its password: one to look for in the log.
      const withPassword = url.replace("://postgres@", "://postgres:pw-Secret-41@");
      const daemon = await spawnTestDaemon({
        dir,
        extraConfig: `TOKEND_DATABASE = ${withPassword}`,
        childEnv: { DENO_AUDIT_PERMISSIONS: audit, PGCONNECT_TIMEOUT: "5" },
      });
      const admin = adminClient(daemon);
      try {
        assert.match(daemon.stderr(), /using state database postgresql:\/\/postgres@/);
        assert.deepEqual(await admin.list(), []);
      } finally {
        admin.close();
        await daemon.stop();
      }
      assert.ok(withPassword.includes("pw-Secret-41"));
      assert.ok(!daemon.stderr().includes("pw-Secret-41"), "the password is never logged");
      const records = await undeclared(audit, FULL_FLAGS);
      assert.deepEqual(records, []);
    });
  });
});
