/**
 * Our tools' command lines next to HTCondor's own tools: the same options,
 * spelled the same ways, given to both against the same real collector (or
 * the same token files), are taken by both and mean the same.
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix
 * (see docs/interop.md); otherwise every test is registered as ignored.
 */
import assert from "node:assert/strict";
import {
  exists,
  interopTest,
  type Pool,
  preparePool,
  runReal,
  withMaster,
} from "../_support/htcondor_pool.ts";
import { runTool } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";

const TRUST_DOMAIN = "options.test";

/** Runs `fn` with a fresh pool whose collector is up and has written its CA; always stops it. */
async function withPool(fn: (pool: Pool) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
    await withMaster(pool, async () => {
      const deadline = Date.now() + 10_000;
      while (!(await exists(pool.hostCertFile) && await exists(pool.caFile))) {
        if (Date.now() > deadline) throw new Error("The collector wrote no host certificate");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await fn(pool);
    });
  });
}

interopTest(
  "-d, -de, -deb and -debug:CATEGORIES are -debug to HTCondor's tool and to ours",
  async () => {
    await withPool(async (pool) => {
      for (const spelling of ["-d", "-de", "-deb", "-debug", "-debug:D_SECURITY,D_FULLDEBUG"]) {
        const real = await runReal(
          "bin/condor_token_request_list",
          ["-pool", pool.address, spelling],
          pool.env,
        );
        assert.equal(real.code, 0, `HTCondor ${spelling}: ${real.stderr}`);
        const ours = await runTool(
          "condor_token_request_list",
          ["-pool", pool.hostAddress, spelling],
          { env: pool.ourEnv },
        );
        assert.equal(ours.code, 0, `ours ${spelling}: ${ours.stderr}`);
        assert.match(ours.stderr, /^DEBUG: /m, `ours ${spelling}`);
      }
      // Asked for by name, security lines show on both sides.
      const real = await runReal("bin/condor_token_request_list", [
        ...["-pool", pool.address, "-debug:D_SECURITY"],
      ], pool.env);
      assert.match(real.stderr, /AUTHENTICATE|SECMAN/);
      const ours = await runTool("condor_token_request_list", [
        ...["-pool", pool.hostAddress, "-debug:D_SECURITY"],
      ], { env: { ...pool.ourEnv, _CONDOR_TOOL_DEBUG: "D_NETWORK" } });
      assert.match(ours.stderr, /^DEBUG: trusting /m);
    });
  },
);
