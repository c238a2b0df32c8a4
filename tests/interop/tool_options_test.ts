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
  spawnReal,
  withMaster,
} from "../_support/htcondor_pool.ts";
import { createKeyFileIfMissing } from "../../src/token/signing_key.ts";
import { startTestDaemon } from "../_support/daemon.ts";
import { finish, runTool } from "../_support/run_tool.ts";
import { withRequester } from "../e2e/_token_request.ts";
import { withTempDir } from "../_support/temp.ts";

const TRUST_DOMAIN = "options.test";

/** SIGKILLs a child unless it has exited already. */
function killIfRunning(child: Deno.ChildProcess) {
  try {
    child.kill("SIGKILL");
  } catch (err) {
    if (!(err instanceof TypeError)) throw err; // already exited
  }
}

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

/** Runs the real condor_token_request_list -json until it lists `count` requests; returns it. */
async function realListJson(pool: Pool, count: number): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await runReal(
      "bin/condor_token_request_list",
      ["-pool", pool.address, "-json"],
      pool.env,
    );
    assert.equal(r.code, 0, r.stderr);
    if (r.stdout !== "" && JSON.parse(r.stdout).length === count) return r.stdout;
    if (Date.now() > deadline) throw new Error(`Not ${count} requests listed:\n${r.stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interopTest(
  "condor_token_request_list -json prints what HTCondor's prints, byte for byte, and nothing when none is pending",
  async () => {
    await withPool(async (pool) => {
      const emptyReal = await runReal(
        "bin/condor_token_request_list",
        ["-pool", pool.address, "-json"],
        pool.env,
      );
      const emptyOurs = await runTool(
        "condor_token_request_list",
        ["-pool", pool.hostAddress, "-json"],
        { env: pool.ourEnv },
      );
      assert.deepEqual([emptyReal.code, emptyReal.stdout], [0, ""]);
      assert.deepEqual([emptyOurs.code, emptyOurs.stdout], [0, ""]);
      assert.match(emptyOurs.stderr, /^Remote daemon reports no requests pending/m);

      const requesters = [
        [
          "-identity",
          `alice@${TRUST_DOMAIN}`,
          "-authz",
          "READ",
          "-authz",
          "WRITE",
          "-lifetime",
          "600",
        ],
        ["-identity", `bob@${TRUST_DOMAIN}`],
      ].map((args) =>
        spawnReal("bin/condor_token_request", [
          ...["-pool", `<${pool.address}?alias=${pool.hostName}>`, ...args],
        ], {
          ...pool.env,
          _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
          _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
        })
      );
      try {
        const real = await realListJson(pool, 2);
        const ours = await runTool(
          "condor_token_request_list",
          ["-pool", pool.hostAddress, "-json"],
          { env: pool.ourEnv },
        );
        assert.equal(ours.code, 0, ours.stderr);
        assert.equal(ours.stdout, real);
        const [first] = JSON.parse(real);
        const one = await Promise.all([
          runReal("bin/condor_token_request_list", [
            ...["-pool", pool.address, "-json", "-reqid", first.RequestId],
          ], pool.env),
          runTool("condor_token_request_list", [
            ...["-pool", pool.hostAddress, "-json", "-reqid", first.RequestId],
          ], { env: pool.ourEnv }),
        ]);
        assert.equal(one[0].code, 0, one[0].stderr);
        assert.equal(one[1].stdout, one[0].stdout);
      } finally {
        for (const child of requesters) {
          killIfRunning(child);
          await finish(child, { timeoutMs: 5_000 });
        }
      }
    });
  },
);

interopTest(
  "condor_token_request_list -json at condor_tokend has HTCondor's shape for the same request, then our two times",
  async () => {
    await withPool(async (pool) => {
      await withTempDir(async (dir) => {
        const daemon = await startTestDaemon({ dir });
        try {
          const args = ["-authz", "READ", "-authz", "WRITE", "-lifetime", "600", "-timeout", "20"];
          const real = spawnReal("bin/condor_token_request", [
            ...["-pool", `<${pool.address}?alias=${pool.hostName}>`, "-identity", "carol@x.test"],
            ...args.slice(0, 6),
          ], {
            ...pool.env,
            _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
            _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
          });
          try {
            await withRequester(["-identity", "carol@x.test", ...args], daemon.env, async (r) => {
              await r.requestId();
              const [htcondor] = JSON.parse(await realListJson(pool, 1));
              const listed = await runTool("condor_token_request_list", ["-json"], {
                env: daemon.env,
              });
              assert.equal(listed.code, 0, listed.stderr);
              const [ours] = JSON.parse(listed.stdout);
              assert.deepEqual(Object.keys(ours), [
                ...Object.keys(htcondor),
                "requestedAt",
                "expiresAt",
              ]);
              for (const key of ["RequestedIdentity", "LimitAuthorization", "TokenLifetime"]) {
                assert.equal(ours[key], htcondor[key], key);
              }
              assert.equal(typeof ours.requestedAt, "number");
            });
          } finally {
            killIfRunning(real);
            await finish(real, { timeoutMs: 5_000 });
          }
        } finally {
          await daemon.close();
        }
      });
    });
  },
);

interopTest(
  "condor_token_request_deny and condor_token_request_auto_approve -list, -remove and -resume say in one line that an HTCondor daemon cannot",
  async () => {
    await withPool(async (pool) => {
      // HTCondor has no command to deny: refused before anything is asked of the collector.
      const id = "1234567";
      const r = await runTool("condor_token_request_deny", [
        ...["-pool", pool.hostAddress, "-reqid", id, "-reason", "no"],
      ], { env: pool.ourEnv });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        new RegExp(
          `^condor_token_request_deny: Cannot deny request ${id} at \\S+: HTCondor daemons have no command to deny a request; it expires by itself \\(within 60 minutes\\) unless approved\n$`,
        ),
      );
      for (const args of [["-list"], ["-list", "-json"], ["-remove", "1"], ["-resume", "1"]]) {
        const r = await runTool("condor_token_request_auto_approve", [
          ...["-pool", pool.hostAddress, ...args],
        ], { env: pool.ourEnv });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stdout, "");
        assert.match(
          r.stderr,
          args[0] === "-resume"
            ? /^condor_token_request_auto_approve: Cannot resume auto-approval rule 1 at \S+: HTCondor daemons have no circuit breaker on auto-approval, and no command to resume a rule\n$/
            : /^condor_token_request_auto_approve: Cannot (list auto-approval rules|remove auto-approval rule 1) at \S+: HTCondor daemons keep auto-approval rules in memory and have no command to list or remove them \(a condor_reconfig of the daemon drops them all\)\n$/,
        );
      }
      // Installing still works there, and -json says so without a rule ID HTCondor does not give.
      const installed = await runTool("condor_token_request_auto_approve", [
        ...["-pool", pool.hostAddress, "-netblock", "127.0.0.0/8", "-lifetime", "60", "-json"],
      ], { env: pool.ourEnv });
      assert.equal(installed.code, 0, installed.stderr);
      assert.deepEqual(Object.keys(JSON.parse(installed.stdout)), [
        "outcome",
        "exitCode",
        "netblock",
        "lifetime",
        "expiresAt",
        "approved",
      ]);
    });
  },
);
