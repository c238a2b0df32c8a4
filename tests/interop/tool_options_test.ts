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
import { createKeyFileIfMissing } from "../../src/token/signing_key.ts";
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

interopTest(
  "condor_token_list -file, -dir, -d and -pool/-name/-type mean the same to HTCondor's tool and ours",
  async () => {
    await withTempDir(async (dir) => {
      const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
      await createKeyFileIfMissing(pool.poolKeyFile);
      const created = await runReal("bin/condor_token_create", [
        ...["-identity", `alice@${TRUST_DOMAIN}`, "-authz", "READ", "-file", `${dir}/alice.token`],
      ], pool.env);
      assert.equal(created.code, 0, created.stderr);
      await runReal("bin/condor_token_create", [
        ...["-identity", `bob@${TRUST_DOMAIN}`, "-token", "bob"],
      ], pool.env);
      for (
        const args of [
          ["-file", `${dir}/alice.token`],
          ["-f", `${dir}/alice.token`],
          ["-dir", pool.tokenDirectory],
          ["-di", pool.tokenDirectory, "-d"],
          [
            "-pool",
            "cm.example.org",
            "-name",
            "schedd@x",
            "-type",
            "schedd",
            "-fi",
            `${dir}/alice.token`,
          ],
        ]
      ) {
        const real = await runReal("bin/condor_token_list", args, pool.env);
        assert.equal(real.code, 0, `HTCondor ${args.join(" ")}: ${real.stderr}`);
        const ours = await runTool("condor_token_list", args, { env: pool.ourEnv });
        assert.equal(ours.code, 0, `ours ${args.join(" ")}: ${ours.stderr}`);
        assert.notEqual(real.stdout, "");
        assert.equal(ours.stdout, real.stdout, args.join(" "));
      }
    });
  },
);
