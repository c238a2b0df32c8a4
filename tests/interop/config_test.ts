/**
 * The configuration language against a real HTCondor: the same `if version`
 * conditions read by HTCondor's condor_config_val and by our reader give the
 * same answer (tests/_support/version_conditions.ts holds the table that
 * tests/config/ checks ours against).
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix.
 */
import assert from "node:assert/strict";
import { configFromText } from "../../src/config/condor_config.ts";
import { ConfigError } from "../../src/errors.ts";
import { interopTest, runReal } from "../_support/htcondor_pool.ts";
import { withTempDir } from "../_support/temp.ts";
import { VERSION_CONDITIONS } from "../_support/version_conditions.ts";

/** What our reader makes of `if CONDITION`: true, false, or "error". */
function ours(text: string): boolean | "error" {
  try {
    const config = configFromText(text, {
      env: { get: () => undefined },
      hostname: "node1.example.org",
      source: "/test/condor_config",
    });
    return config.get("X") === "yes";
  } catch (err) {
    if (err instanceof ConfigError) return "error";
    throw err;
  }
}

interopTest(
  "if version conditions mean the same to HTCondor's condor_config_val and to us",
  async () => {
    await withTempDir(async (dir) => {
      const file = `${dir}/condor_config`;
      const env = { CONDOR_CONFIG: file, HOME: dir, PATH: "/usr/bin:/bin" };
      for (const [condition, expected] of VERSION_CONDITIONS) {
        const text = `if ${condition}\nX = yes\nelse\nX = no\nendif\n`;
        await Deno.writeTextFile(file, text);
        const r = await runReal("bin/condor_config_val", ["X"], env);
        const real = r.code !== 0 ? "error" : r.stdout.trim() === "yes";
        assert.equal(real, expected, `HTCondor: if ${condition}: ${r.stdout}${r.stderr}`);
        assert.equal(ours(text), real, `ours: if ${condition}`);
      }
    });
  },
);
