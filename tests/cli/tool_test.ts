import assert from "node:assert/strict";
import { debugLog } from "../../src/cli/_tool.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { TOOLS } from "../../src/cli/tools.ts";

/** The DEBUG lines a log with TOOL_DEBUG `toolDebug` writes for one line in each category. */
async function shown(enabled: boolean, toolDebug: string | undefined): Promise<string> {
  const io = memoryIo();
  const debug = debugLog(io, enabled, toolDebug);
  await debug("always");
  await debug("security", "D_SECURITY");
  await debug("network", "D_NETWORK");
  await debug("full", "D_FULLDEBUG");
  return io.stderr.join("");
}

Deno.test("debugLog() writes nothing without -debug, whatever TOOL_DEBUG says", async () => {
  assert.equal(await shown(false, undefined), "");
  assert.equal(await shown(false, "D_ALL"), "");
});

Deno.test("debugLog() shows every category when TOOL_DEBUG is unset, empty or asks for all", async () => {
  const all = "DEBUG: always\nDEBUG: security\nDEBUG: network\nDEBUG: full\n";
  for (const toolDebug of [undefined, "", "  ", "D_ALL", "d_any", "D_FULLDEBUG"]) {
    assert.equal(await shown(true, toolDebug), all, String(toolDebug));
  }
});

Deno.test("debugLog() shows D_ALWAYS plus the categories TOOL_DEBUG names, in HTCondor's spellings", async () => {
  assert.equal(await shown(true, "D_SECURITY"), "DEBUG: always\nDEBUG: security\n");
  assert.equal(await shown(true, "d_network:2"), "DEBUG: always\nDEBUG: network\n");
  assert.equal(
    await shown(true, "D_NETWORK, D_SECURITY:1"),
    "DEBUG: always\nDEBUG: security\nDEBUG: network\n",
  );
  assert.equal(await shown(true, "D_COMMAND"), "DEBUG: always\n");
});

Deno.test("every tool prints its usage on stdout and exits 0 for -help, -h and --help", async () => {
  for (const tool of TOOLS) {
    for (const flag of ["-help", "-h", "--help"]) {
      const io = memoryIo();
      assert.equal(await tool.main([flag], io), 0, `${tool.name} ${flag}`);
      assert.equal(io.stdout.join(""), tool.usage, `${tool.name} ${flag}`);
      assert.deepEqual(io.stderr, [], `${tool.name} ${flag}`);
    }
  }
});

Deno.test("a tool takes -help given as an option's value as that value, not as a request for help", async () => {
  const create = TOOLS.find((t) => t.name === "condor_token_create")!;
  const dir = await Deno.makeTempDir();
  try {
    // The identity is literally "-help"; minting then fails for want of a key, not with usage.
    const io = memoryIo({
      env: { CONDOR_CONFIG: "ONLY_ENV", _CONDOR_SEC_PASSWORD_DIRECTORY: dir },
    });
    const code = await create.main(["-identity", "-help"], io);
    assert.equal(code, 1, io.stderr.join(""));
    assert.equal(io.stdout.join(""), "");
    assert.match(io.stderr.join(""), /signing key "POOL"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("-token without HOME or SEC_TOKEN_DIRECTORY says which to set, and writes nothing", async () => {
  const create = TOOLS.find((t) => t.name === "condor_token_create")!;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/POOL`, crypto.getRandomValues(new Uint8Array(32)), {
      mode: 0o600,
    });
    const env = {
      CONDOR_CONFIG: "ONLY_ENV",
      _CONDOR_SEC_PASSWORD_DIRECTORY: dir,
      _CONDOR_TRUST_DOMAIN: "pool.example.org",
    };
    const extras: Record<string, string>[] = [
      {},
      { _CONDOR_SEC_TOKEN_DIRECTORY: "$(HOME)/.condor/tokens.d" },
    ];
    for (const extra of extras) {
      const io = memoryIo({ env: { ...env, ...extra } });
      assert.equal(await create.main(["-identity", "a@b", "-token", "t"], io), 1);
      assert.deepEqual(io.stdout, []);
      assert.match(io.stderr.join(""), /HOME is not set; set SEC_TOKEN_DIRECTORY or HOME\n$/);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["POOL"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
