/**
 * Our tools speaking HTCondor's native protocol (CEDAR) to an unmodified
 * HTCondor collector, on loopback: the requester over anonymous SSL (checked
 * against the collector's own CA, or trusted on first use), the
 * administrator's tools over FS (as root) and IDTOKENS, each against the
 * real tools on the other side, and one clear error for each way it can go
 * wrong.
 *
 * Runs only when CONDOR_TOKEN_HTCONDOR_PREFIX names an HTCondor install prefix
 * (see docs/interop.md); otherwise every test is registered as ignored, with
 * the reason in its name. The collector's host certificate names this
 * machine, so clients using SSL address it by host name (`pool.hostAddress`).
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { cedarDaemonClient } from "../../src/client/cedar/cedar_client.ts";
import type { Clock } from "../../src/clock.ts";
import { TrustSessions } from "../../src/client/trust.ts";
import { startCommand } from "../../src/client/cedar/handshake.ts";
import { PacketStream } from "../../src/client/cedar/packet_stream.ts";
import { DaemonError } from "../../src/errors.ts";
import { createSelfSigned } from "../../src/server/certificate.ts";
import {
  assertAllowed,
  assertRefused,
  exists,
  interopTest,
  ping,
  type Pool,
  preparePool,
  runReal,
  spawnReal,
  withMaster,
} from "../_support/htcondor_pool.ts";
import { finish, runTool, spawnTool, type ToolResult } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";
import { ENQUEUED, withRequester } from "../e2e/_token_request.ts";

const TRUST_DOMAIN = "htcondor.test";
/** What the collector maps a client to that authenticated by SSL without a certificate. */
const ANONYMOUS = "unauthenticated@unmapped";

interopTest(
  "our condor_token_request over SSL gets a token approved by the real condor_token_request_approve",
  async () => {
    await withPool(async (pool) => {
      const alice = `alice@${TRUST_DOMAIN}`;
      await withRequester(
        [
          ...["-pool", pool.hostAddress, "-identity", alice],
          ...["-authz", "READ", "-lifetime", "600", "-token", "alice"],
        ],
        sslOnly(pool),
        async (requester) => {
          const id = await requester.requestId();
          const listed = await runReal("bin/condor_token_request_list", [
            "-pool",
            pool.address,
          ], pool.env);
          assert.equal(listed.code, 0, listed.stderr);
          assert.match(listed.stdout, adLine("RequestId", id));
          assert.match(listed.stdout, adLine("RequestedIdentity", alice));
          assert.match(listed.stdout, adLine("AuthenticatedIdentity", ANONYMOUS));

          const approved = await runReal(
            "bin/condor_token_request_approve",
            ["-pool", pool.address, "-reqid", id],
            pool.env,
            { stdin: "yes\n" },
          );
          assert.equal(approved.code, 0, approved.stdout + approved.stderr);
          assert.match(approved.stdout, adLine("AuthenticatedIdentity", ANONYMOUS));
          assert.match(approved.stdout, new RegExp(`Request ${id} approved successfully\\.`));

          const r = await requester.done;
          assert.equal(r.code, EXIT.OK, r.stderr);
          assert.equal(r.stdout, "", "the token went to its file");
        },
      );
      const file = `${pool.tokenDirectory}/alice`;
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      assert.equal(tokenPayload(await Deno.readTextFile(file)).sub, alice);
      const rows = await ping(pool, pool.tokenDirectory, ["READ", "WRITE"]);
      assertAllowed(rows, "READ", alice);
      assertRefused(rows, "WRITE");
    });
  },
);

interopTest(
  "a rule installed by our condor_token_request_auto_approve approves our SSL requester at once",
  async () => {
    await withPool(async (pool) => {
      const rule = await autoApproveLoopback(pool, pool.ourEnv);
      assert.equal(rule.code, 0, rule.stderr);
      assert.match(
        rule.stdout,
        /^Successfully installed auto-approval rule for netblock 127\.0\.0\.0\/8/,
      );

      const condor = `condor@${TRUST_DOMAIN}`;
      const r = await runTool("condor_token_request", [
        "-pool",
        pool.hostAddress,
        "-identity",
        condor,
        "-authz",
        "ADVERTISE_STARTD",
        "-lifetime",
        "600",
        "-timeout",
        "5",
      ], { env: sslOnly(pool), requesterFlags: true });
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.match(r.stderr, /^Token request \d{7} was approved automatically\.\n$/);
      assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const payload = tokenPayload(r.stdout);
      assert.equal(payload.sub, condor);
      assert.equal(payload.iss, TRUST_DOMAIN);
      assert.equal(payload.scope, "condor:/ADVERTISE_STARTD");
      assert.equal(payload.exp - payload.iat, 600);
    });
  },
);

interopTest(
  "-type MASTER finds the pool's master through the collector's query, for the requester and the list",
  async () => {
    await withPool(async (pool) => {
      await masterAdvertised(pool);
      const r = await runTool("condor_token_request", [
        ...["-pool", pool.hostAddress, "-type", "master", "-name", pool.hostName],
        ...["-identity", `bob@${TRUST_DOMAIN}`, "-authz", "READ", "-timeout", "1"],
        "-debug",
        // A master started before the collector made the host certificate offers no SSL: use FS.
      ], { env: pool.ourEnv, requesterFlags: true });
      assert.equal(r.code, EXIT.TIMED_OUT, r.stderr);
      assert.match(
        r.stderr,
        /the collector lists MASTER ".*" at cedar:\/\/127\.0\.0\.1:\d+\?alias=/,
      );
      const id = r.stderr.match(ENQUEUED)?.[1];
      assert.ok(id, r.stderr);

      // The request lives at the master, not at the collector.
      const atMaster = await runTool("condor_token_request_list", [
        ...["-pool", pool.hostAddress, "-type", "MASTER", "-reqid", id],
      ], { env: pool.ourEnv });
      assert.equal(atMaster.code, EXIT.OK, atMaster.stderr);
      assert.match(atMaster.stdout, adLine("RequestId", id));
      const atCollector = await runTool("condor_token_request_list", [
        ...["-pool", pool.hostAddress, "-reqid", id],
      ], { env: pool.ourEnv });
      assert.doesNotMatch(atCollector.stdout, adLine("RequestId", id));

      const missing = await runTool("condor_token_request_list", [
        ...["-pool", pool.hostAddress, "-type", "SCHEDD"],
      ], { env: pool.ourEnv });
      assert.equal(missing.code, EXIT.FAILURE);
      assert.match(missing.stderr, /Cannot find a SCHEDD .* it lists COLLECTOR ".*", MASTER ".*"/);
    });
  },
);

interopTest(
  "our condor_token_request_list and _approve serve a request from the real condor_token_request",
  async () => {
    await withPool(async (pool) => {
      const dave = `dave@${TRUST_DOMAIN}`;
      await approveRealRequest(pool, dave, pool.ourEnv);
    });
  },
);

interopTest(
  "with IDTOKENS alone our condor_token_request_approve mints a condor@ token from the POOL key",
  async () => {
    await withPool(async (pool) => {
      const erin = `erin@${TRUST_DOMAIN}`;
      await approveRealRequest(pool, erin, {
        ...pool.ourEnv,
        _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "IDTOKENS",
      });
      // The collector saw the token's identity, not FS's (nobody@ as root).
      const log = await Deno.readTextFile(`${pool.dir}/log/CollectorLog`);
      assert.match(
        log,
        new RegExp(
          `PERMISSION GRANTED to condor@${TRUST_DOMAIN} from host \\S+ for approve request`,
        ),
      );
      assert.doesNotMatch(log, /PERMISSION GRANTED to nobody@/);
    });
  },
);

interopTest(
  "our condor_token_request refuses a collector whose CA is not AUTH_SSL_CLIENT_CAFILE's, naming the fingerprint",
  async () => {
    await withPool(async (pool, dir) => {
      const { certPem } = await createSelfSigned({
        dnsNames: ["other-ca.example.org"],
        ipAddresses: [],
        now: Date.now(),
      });
      const otherCa = `${dir}/other_ca.pem`;
      await Deno.writeTextFile(otherCa, certPem);
      const r = await runTool(
        "condor_token_request",
        ["-pool", pool.hostAddress, "-identity", `alice@${TRUST_DOMAIN}`, "-timeout", "2"],
        {
          env: { ...sslOnly(pool), _CONDOR_AUTH_SSL_CLIENT_CAFILE: otherCa },
          requesterFlags: true,
        },
      );
      assertOneLineError(r, EXIT.UNTRUSTED);
      assert.ok(r.stderr.includes(await certificateFingerprint(pool.hostCertFile)), r.stderr);
    });
  },
);

interopTest(
  "our condor_token_request refuses the collector addressed by IP, saying which host its certificate is for",
  async () => {
    await withPool(async (pool) => {
      const r = await runTool(
        "condor_token_request",
        ["-pool", pool.address, "-identity", `alice@${TRUST_DOMAIN}`, "-timeout", "2"],
        { env: sslOnly(pool), requesterFlags: true },
      );
      assertOneLineError(r, EXIT.UNTRUSTED);
      assert.ok(r.stderr.includes(`is for "${pool.hostName}"`), r.stderr);
    });
  },
);

interopTest(
  "our condor_token_request_auto_approve over anonymous SSL is refused by the collector: not authorized",
  async () => {
    await withPool(async (pool) => {
      const r = await autoApproveLoopback(pool, sslOnly(pool));
      assertOneLineError(r, EXIT.NOT_AUTHORIZED);
      assert.ok(r.stderr.includes(`"${ANONYMOUS}"`), r.stderr);
    });
  },
);

interopTest(
  "our condor_token_request_list over anonymous SSL says the command needs an identity when the collector hangs up",
  async () => {
    await withPool(async (pool) => {
      const r = await runTool("condor_token_request_list", ["-pool", pool.hostAddress], {
        env: sslOnly(pool),
      });
      // The collector aborts DC_LIST_TOKEN_REQUEST for an unmapped identity after
      // authentication: a refusal, as the auto-approve test's DENIED is.
      assertOneLineError(r, EXIT.NOT_AUTHORIZED);
      assert.match(r.stderr, /needs an identity/);
    });
  },
);

interopTest(
  "our condor_token_request trusts the collector on first use with -trust and remembers it in known_hosts",
  async () => {
    await withPool(async (pool) => {
      const fingerprint = await certificateFingerprint(pool.hostCertFile);
      const knownHosts = `${pool.home}/.condor/known_hosts`;
      const request = (extra: string[]) =>
        runTool(
          "condor_token_request",
          [
            "-pool",
            pool.hostAddress,
            "-identity",
            `alice@${TRUST_DOMAIN}`,
            "-timeout",
            "2",
            ...extra,
          ],
          { env: sslOnly(pool, null), requesterFlags: true },
        );

      const unknown = await request([]);
      assertOneLineError(unknown, EXIT.UNTRUSTED);
      assert.ok(unknown.stderr.includes(`-trust ${fingerprint}`), unknown.stderr);
      assert.equal(await exists(knownHosts), false, "nothing remembered without -trust");

      const pinned = await request(["-trust", fingerprint]);
      assert.equal(pinned.code, EXIT.TIMED_OUT, pinned.stderr);
      assert.match(pinned.stderr, ENQUEUED);
      assert.ok(
        (await Deno.readTextFile(knownHosts)).includes(`${pool.hostAddress} ${fingerprint}\n`),
      );

      const remembered = await request([]);
      assert.equal(remembered.code, EXIT.TIMED_OUT, remembered.stderr);
      assert.match(remembered.stderr, ENQUEUED);

      // Another certificate remembered for this host:port: refused, and nothing is sent.
      const other = `sha256:${"AB:".repeat(31)}AB`;
      await Deno.writeTextFile(knownHosts, `${pool.hostAddress} ${other}\n`, { mode: 0o600 });
      const changed = await request([]);
      assertOneLineError(changed, EXIT.UNTRUSTED);
      assert.match(changed.stderr, /CERTIFICATE HAS CHANGED/);
      assert.ok(changed.stderr.includes(fingerprint), changed.stderr);
      assert.doesNotMatch(changed.stderr, ENQUEUED);
    });
  },
);

interopTest(
  "our condor_token_request trusts a collector that HTCondor's own tool recorded as trusted in known_hosts",
  async () => {
    await withPool(async (pool) => {
      // Run as root, HTCondor's tools use SEC_KNOWN_HOSTS (else a system file) and write it as
      // the condor user (nobody here): a directory both can write.
      const shared = `${pool.dir}/known`;
      await Deno.mkdir(shared, { mode: 0o777 });
      await Deno.chmod(shared, 0o777);
      const knownHosts = `${shared}/known_hosts`;
      // HTCondor's requester, told to trust on first use, records the collector's CA there.
      const real = spawnReal("bin/condor_token_request", [
        ...["-pool", `<${pool.address}?alias=${pool.hostName}>`, "-authz", "READ"],
      ], {
        ...pool.env,
        _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
        _CONDOR_BOOTSTRAP_SSL_SERVER_TRUST: "true",
        _CONDOR_SEC_KNOWN_HOSTS: knownHosts,
      });
      try {
        const deadline = Date.now() + 10_000;
        while (!(await exists(knownHosts))) {
          if (Date.now() > deadline) throw new Error("HTCondor's tool wrote no known_hosts");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        killIfRunning(real);
        await finish(real, { timeoutMs: 5_000 });
      }
      assert.match(
        await Deno.readTextFile(knownHosts),
        new RegExp(`^${pool.hostName} SSL \\S+$`, "m"),
      );

      const r = await runTool("condor_token_request", [
        ...[
          "-pool",
          pool.hostAddress,
          "-identity",
          `dave@${TRUST_DOMAIN}`,
          "-timeout",
          "1",
          "-debug",
        ],
      ], {
        env: { ...sslOnly(pool, null), _CONDOR_SEC_KNOWN_HOSTS: knownHosts },
        requesterFlags: true,
      });
      assert.equal(r.code, EXIT.TIMED_OUT, r.stderr);
      assert.match(r.stderr, ENQUEUED);
      assert.match(r.stderr, /its certificate matches the known-hosts entry/);
    });
  },
);

interopTest(
  "our condor_token_request_approve -watch -json lists the real collector's requests as they come, and condor_token_request_list -issued says HTCondor keeps no such list",
  async () => {
    await withPool(async (pool) => {
      const issued = await runTool("condor_token_request_list", [
        "-pool",
        pool.hostAddress,
        "-issued",
      ], { env: pool.ourEnv });
      assert.equal(issued.code, EXIT.FAILURE, issued.stderr);
      assert.match(
        issued.stderr,
        /^condor_token_request_list: Cannot list issued tokens at \S+: HTCondor daemons do not keep a list of the tokens they issue [^\n]*\n$/,
      );
      const watcher = spawnTool("condor_token_request_approve", [
        "-pool",
        pool.hostAddress,
        "-watch",
        "-json",
      ], { env: pool.ourEnv });
      const stdout = watcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const stderr = new Response(watcher.stderr).text();
      const gina = `gina@${TRUST_DOMAIN}`;
      const requester = spawnReal("bin/condor_token_request", [
        "-pool",
        `<${pool.address}?alias=${pool.hostName}>`,
        "-identity",
        gina,
        "-authz",
        "READ",
      ], {
        ...pool.env,
        _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
        _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
      });
      const requested = finish(requester, { timeoutMs: 30_000 });
      try {
        // HTCondor daemons are listed every 5 s: the request shows within that.
        let text = "";
        const deadline = Date.now() + 15_000;
        while (!text.includes("\n")) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const chunk = await Promise.race([
            stdout.read(),
            new Promise<never>((_, reject) =>
              timer = setTimeout(
                () => reject(new Error(`no line in time; had ${JSON.stringify(text)}`)),
                Math.max(0, deadline - Date.now()),
              )
            ),
          ]).finally(() => clearTimeout(timer));
          if (chunk.done) throw new Error(`stdout ended: ${await stderr}`);
          text += chunk.value;
        }
        const shown = JSON.parse(text.slice(0, text.indexOf("\n")));
        assert.equal(shown.RequestedIdentity, gina);
        assert.match(shown.RequestId, /^\d{7}$/);
        watcher.kill("SIGINT");
        const status = await watcher.status;
        const said = await stderr;
        assert.equal(status.code, 0, said);
        assert.match(said, /\(listing them every 5 seconds\); press Ctrl-C to stop\.\n/);
        assert.match(said, /Stopped watching\.\n$/);
      } finally {
        killIfRunning(watcher);
        killIfRunning(requester);
        await watcher.status;
        await stdout.cancel().catch(() => {});
        await requested;
      }
    });
  },
);

/**
 * Starts the real condor_token_request for `identity` (SSL only, trusting
 * the collector's CA, by sinful string with the host name as alias) and
 * approves its request with our condor_token_request_list and _approve run
 * with `adminEnv`; the real requester must then receive the token.
 */
async function approveRealRequest(
  pool: Pool,
  identity: string,
  adminEnv: Record<string, string>,
): Promise<void> {
  const child = spawnReal("bin/condor_token_request", [
    "-pool",
    `<${pool.address}?alias=${pool.hostName}>`,
    "-identity",
    identity,
    "-authz",
    "READ",
    "-lifetime",
    "600",
  ], {
    ...pool.env,
    _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
    _CONDOR_AUTH_SSL_CLIENT_CAFILE: pool.caFile,
  });
  // It polls every 5 s: the token arrives within that of the approval.
  const done = finish(child, { timeoutMs: 20_000 });
  try {
    // Its own stdout is block-buffered in a pipe: learn the request ID from our list.
    const listed = await listedRequest(pool, identity, adminEnv);
    const id = listed.match(/RequestId = "(\d{7})"/)![1];
    assert.match(listed, adLine("AuthenticatedIdentity", ANONYMOUS));
    assert.match(listed, new RegExp(`ClientId = "${pool.hostName}-\\d+"`));
    assert.match(listed, adLine("LimitAuthorization", "READ"));

    const approved = await runTool(
      "condor_token_request_approve",
      ["-pool", pool.hostAddress, "-reqid", id, "-yes"],
      { env: adminEnv },
    );
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`^Request ${id} approved successfully\\.$`, "m"));

    const r = await done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const token = r.stdout.trim().split("\n").at(-1)!;
    assert.equal(tokenPayload(token).sub, identity);
    assert.equal(tokenPayload(token).scope, "condor:/READ");
  } finally {
    killIfRunning(child);
    await done;
  }
}

/** SIGKILLs a child unless it has exited already. */
function killIfRunning(child: Deno.ChildProcess) {
  try {
    child.kill("SIGKILL");
  } catch (err) {
    if (!(err instanceof TypeError)) throw err; // already exited
  }
}

/** Runs our condor_token_request_list until it shows a request for `identity`; returns its output. */
async function listedRequest(
  pool: Pool,
  identity: string,
  env: Record<string, string>,
): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await runTool("condor_token_request_list", ["-pool", pool.hostAddress], { env });
    assert.equal(r.code, 0, r.stderr);
    if (adLine("RequestedIdentity", identity).test(r.stdout)) return r.stdout;
    if (Date.now() > deadline) throw new Error(`No request for ${identity} listed:\n${r.stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Runs `fn` with a fresh pool (trust domain TRUST_DOMAIN) whose collector is
 * up and has written its CA and host certificate; always stops it.
 */
async function withPool(fn: (pool: Pool, dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const pool = await preparePool(dir, { trustDomain: TRUST_DOMAIN });
    await withMaster(pool, async () => {
      const deadline = Date.now() + 10_000;
      while (!(await exists(pool.hostCertFile) && await exists(pool.caFile))) {
        if (Date.now() > deadline) throw new Error("The collector wrote no host certificate");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await fn(pool, dir);
    });
  });
}

/** Runs our condor_token_request_auto_approve for 127.0.0.0/8, 600 s, with `env`. */
async function autoApproveLoopback(pool: Pool, env: Record<string, string>): Promise<ToolResult> {
  return await runTool("condor_token_request_auto_approve", [
    ...["-pool", pool.hostAddress, "-netblock", "127.0.0.0/8", "-lifetime", "600"],
  ], { env });
}

/** Waits until the collector lists the pool's master (it advertises itself soon after it starts). */
async function masterAdvertised(pool: Pool): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await runReal("bin/condor_status", [
      ...["-pool", pool.address, "-master", "-af", "Name"],
    ], pool.env);
    if (r.code === 0 && r.stdout.trim() !== "") return;
    if (Date.now() > deadline) throw new Error(`The master never advertised: ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Our tools' environment for the pool, offering SSL alone (anonymous: no
 * identity) and trusting `caFile` (the collector's CA by default; none when
 * null, so only -trust or known_hosts can vouch for the collector).
 */
function sslOnly(pool: Pool, caFile: string | null = pool.caFile): Record<string, string> {
  return {
    ...pool.ourEnv,
    _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL",
    ...(caFile === null ? {} : { _CONDOR_AUTH_SSL_CLIENT_CAFILE: caFile }),
    // As on a host other than the collector's: its certificate file is not at hand.
    _CONDOR_AUTH_SSL_SERVER_CERTFILE: "",
  };
}

/** Asserts a failure with `code`, nothing on stdout and exactly one line on stderr. */
function assertOneLineError(r: ToolResult, code: number) {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^[^\n]+\n$/, "exactly one line");
  assert.doesNotMatch(r.stderr, /\n\s+at |Uncaught|error: /, "no stack trace");
}

/** A line `NAME = "VALUE"` of a printed ClassAd. */
function adLine(name: string, value: string): RegExp {
  return new RegExp(`^${name} = "${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`, "m");
}

/** The `sha256:AB:CD:...` fingerprint of the first certificate in a PEM file, by WebCrypto. */
async function certificateFingerprint(pemFile: string): Promise<string> {
  const pem = await Deno.readTextFile(pemFile);
  const base64 = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem)![1];
  const der = Uint8Array.from(atob(base64.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return "sha256:" +
    Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The claims of an IDTOKEN that the tests look at. */
interface Claims {
  sub: string;
  iss: string;
  scope?: string;
  iat: number;
  exp: number;
}

/** The claims of a token (its payload, decoded). */
function tokenPayload(token: string): Claims {
  const segment = token.trim().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(segment), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

interopTest(
  "collect() over CEDAR polls every second for a minute, then every 5 s (fake clock)",
  async () => {
    await withPool(async (pool) => {
      // Time moves only when the client sleeps: 90 s of polling in a few real seconds.
      let now = Date.now();
      const slept: number[] = [];
      const clock: Clock = {
        now: () => now,
        sleep: (ms) => {
          slept.push(ms);
          now += ms;
          return Promise.resolve();
        },
      };
      const client = cedarDaemonClient({
        url: new URL(`cedar://${pool.hostAddress}`),
        trust: new TrustSessions({
          caPem: await Deno.readTextFile(pool.caFile),
          pins: [],
          knownHostsFile: undefined,
          now: Date.now,
        }),
        methods: ["SSL"],
        clock,
      });
      const request = {
        identity: `dave@${TRUST_DOMAIN}`,
        authz: ["READ"],
        lifetime: null,
        clientId: "interop",
        secret: crypto.randomUUID(),
      };
      try {
        const { requestId } = await client.enqueue(request);
        const polled = await client.collect(requestId, request.secret, 90);
        assert.equal(polled.state, "pending");
        assert.deepEqual(slept, [...Array(60).fill(1000), ...Array(6).fill(5000)]);
      } finally {
        client.close();
      }
    });
  },
);

interopTest(
  "a session the collector does not know is refused as SESSION_UNKNOWN, and a known one resumes",
  async () => {
    await withPool(async (pool) => {
      const client = cedarDaemonClient({
        url: new URL(`cedar://${pool.hostAddress}`),
        trust: new TrustSessions({
          caPem: await Deno.readTextFile(pool.caFile),
          pins: [],
          knownHostsFile: undefined,
          now: Date.now,
        }),
        methods: ["SSL"],
        trace: (line) => void steps.push(line),
      });
      const steps: string[] = [];
      const request = {
        identity: `carol@${TRUST_DOMAIN}`,
        authz: ["READ"],
        lifetime: null,
        clientId: "interop",
        secret: crypto.randomUUID(),
      };
      try {
        const { requestId } = await client.enqueue(request);
        // Polls resume the session the request was made in: no new authentication.
        const polled = await client.collect(requestId, request.secret, 0);
        assert.equal(polled.state, "pending");
        assert.equal(steps.filter((line) => line.startsWith("authenticating with")).length, 1);
        assert.ok(
          steps.some((line) => /^resuming session .* for DC_FINISH_TOKEN_REQUEST$/.test(line)),
        );
      } finally {
        client.close();
      }

      const conn = await Deno.connect({ hostname: "127.0.0.1", port: pool.port });
      const stream = new PacketStream(conn, { peer: pool.hostAddress });
      try {
        await assert.rejects(
          startCommand(stream, {
            command: 60048,
            commandName: "DC_FINISH_TOKEN_REQUEST",
            connectSinful: `<${pool.address}?alias=${pool.hostName}>`,
            methods: [],
            now: Date.now,
            resume: {
              id: `${pool.hostName}:1:1:1`,
              key: new Uint8Array(32),
              user: ANONYMOUS,
              validCommands: new Set([60048]),
              expiresAt: Date.now() + 60_000,
              daemon: { trustDomain: TRUST_DOMAIN, issuerKeys: [], version: undefined },
            },
          }),
          (err) => {
            assert.ok(err instanceof DaemonError);
            assert.equal(err.code, "SESSION_UNKNOWN");
            return true;
          },
        );
      } finally {
        stream.close();
      }
    });
  },
);

interopTest(
  "on the collector's host, our condor_token_request trusts the collector's own certificate file",
  async () => {
    await withPool(async (pool) => {
      const r = await runTool("condor_token_request", [
        ...["-pool", pool.hostAddress, "-identity", `erin@${TRUST_DOMAIN}`, "-timeout", "1"],
        "-debug",
      ], {
        // No CA file, no pin, no known_hosts: the pool's AUTH_SSL_SERVER_CERTFILE vouches.
        env: { ...pool.ourEnv, _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS: "SSL" },
        requesterFlags: true,
      });
      assert.equal(r.code, EXIT.TIMED_OUT, r.stderr);
      assert.match(r.stderr, ENQUEUED);
      assert.match(
        r.stderr,
        /its certificate is the one in \S*hostcert\.pem, the daemon's own file/,
      );
    });
  },
);
