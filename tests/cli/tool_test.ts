import assert from "node:assert/strict";
import { debugLog } from "../../src/cli/_tool.ts";
import { memoryIo } from "../../src/cli/io.ts";

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
