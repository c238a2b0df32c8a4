/**
 * The trust rules against a real HTCondor collector that does not prove
 * itself the way the user asked: one that authenticates with FS alone
 * (which proves us, never the daemon) while a certificate fingerprint was
 * given, and one whose certificate is not the pinned one. Our tools refuse
 * with exit 8 and one line, and the collector never receives the command's
 * payload: its own list of pending requests says so, next to a control
 * request that did go out.
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix
 * (see docs/interop.md); otherwise every test is registered as ignored.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import {
  assertOneLineFailure,
  interopTest,
  type Pool,
  runReal,
  withReadyPool,
} from "../_support/htcondor_pool.ts";
import { runTool } from "../_support/run_tool.ts";
import { ENQUEUED } from "../e2e/_token_request.ts";

const TRUST_DOMAIN = "trust.test";
/** A well-formed fingerprint of no certificate in these pools. */
const OTHER_PIN = `sha256:${"AB:".repeat(31)}AB`;

/** The requests the collector holds, as HTCondor's own condor_token_request_list -json shows them. */
async function pending(pool: Pool): Promise<{ RequestedIdentity: string }[]> {
  const r = await runReal("bin/condor_token_request_list", [
    ...["-pool", pool.address, "-json"],
  ], pool.env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout === "" ? [] : JSON.parse(r.stdout);
}

interopTest(
  "a collector that proves itself with FS alone gets nothing from our requester or fetch pinned with -trust",
  async () => {
    await withReadyPool({
      trustDomain: TRUST_DOMAIN,
      extraConfig: ["SEC_DEFAULT_AUTHENTICATION_METHODS = FS"],
    }, async (pool) => {
      const request = (identity: string, extra: string[]) =>
        runTool("condor_token_request", [
          ...["-pool", pool.hostAddress, "-identity", identity, "-timeout", "1", ...extra],
        ], { env: pool.ourEnv, requesterFlags: true });

      const [pinned, fetched] = await Promise.all([
        request(`alice@${TRUST_DOMAIN}`, ["-trust", OTHER_PIN]),
        runTool("condor_token_fetch", [...["-pool", pool.hostAddress, "-trust", OTHER_PIN]], {
          env: pool.ourEnv,
        }),
      ]);
      assertOneLineFailure(pinned, EXIT.UNTRUSTED);
      assert.match(
        pinned.stderr,
        /fingerprint was given .* authenticated with FS .*nothing was sent/,
      );
      assertOneLineFailure(fetched, EXIT.UNTRUSTED);
      assert.match(
        fetched.stderr,
        /fingerprint was given .* authenticated with FS .*nothing was sent/,
      );

      // Control: without a pin FS on this host's loopback is enough, and the request goes out.
      const local = await request(`bob@${TRUST_DOMAIN}`, []);
      assert.equal(local.code, EXIT.TIMED_OUT, local.stderr);
      assert.match(local.stderr, ENQUEUED);
      assert.deepEqual(
        (await pending(pool)).map((r) => r.RequestedIdentity),
        [`bob@${TRUST_DOMAIN}`],
        "alice's request never reached the collector",
      );
    });
  },
);

interopTest(
  "a collector whose certificate is not the -trust pin gets nothing from our requester, list or fetch",
  async () => {
    await withReadyPool({ trustDomain: TRUST_DOMAIN }, async (pool) => {
      // SSL only, no CA: the pin alone decides.
      const env = {
        ...pool.ourEnv,
        _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
        _CONDOR_AUTH_SSL_SERVER_CERTFILE: "",
      };
      const target = ["-pool", pool.hostAddress, "-trust", OTHER_PIN];
      const runs = [
        ["condor_token_request", ["-identity", `carol@${TRUST_DOMAIN}`, "-timeout", "1"]],
        ["condor_token_request_list", []],
        ["condor_token_fetch", []],
      ] as const;
      // Independent runs, side by side: the suite must stay short.
      await Promise.all(runs.map(async ([tool, args]) => {
        const r = await runTool(tool, [...target, ...args], {
          env,
          requesterFlags: tool === "condor_token_request",
        });
        assertOneLineFailure(r, EXIT.UNTRUSTED);
        assert.ok(r.stderr.includes(OTHER_PIN), `${tool}: ${r.stderr}`);
      }));
      assert.deepEqual(await pending(pool), [], "carol's request never reached the collector");
    });
  },
);
