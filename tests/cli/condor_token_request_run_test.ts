import { REMOTE } from "../e2e/_token_request.ts";
/**
 * condor_token_request in-process against a real daemon over HTTPS on
 * loopback: memoryIo for the terminal, short injected intervals.
 */
import assert from "node:assert/strict";
import {
  condorTokenRequest,
  parseRequestOptions,
  type RequesterDeps,
  runRequest,
} from "../../src/cli/condor_token_request.ts";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { type CapturedIo, memoryIo } from "../../src/cli/io.ts";
import { decodeToken } from "../../src/token/idtoken.ts";
import type { TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { testDaemonPaths, withDaemon } from "../_support/daemon.ts";
import { DaemonGate } from "../_support/daemon_gate.ts";

const FAST: RequesterDeps = { statusIntervalMs: 50, retry: { baseMs: 10, capMs: 50 } };
const ENQUEUED =
  /Token request enqueued\. {2}Ask an administrator to please approve request (\d{7})\.\n/;

/** Resolves with the match once `io`'s stderr matches `pattern`. */
async function stderrMatch(io: CapturedIo, pattern: RegExp, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = io.stderr.join("").match(pattern);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`stderr never matched ${pattern}: ${JSON.stringify(io.stderr.join(""))}`);
}

/** Advertises a daemon ad in the test daemon's directory, as its administrator. */
async function advertise(
  daemon: { url: string; certPem: string; adminToken: string },
  ad: { name: string; type: string; address: string },
) {
  const client = Deno.createHttpClient({ caCerts: [daemon.certPem] });
  try {
    const response = await fetch(`${daemon.url}/v1/daemons`, {
      method: "POST",
      client,
      headers: { authorization: `Bearer ${daemon.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(ad),
    });
    await response.body?.cancel();
    assert.equal(response.ok, true);
  } finally {
    client.close();
  }
}

function run(args: string[], io: CapturedIo, deps: RequesterDeps = FAST) {
  return runRequest(parseRequestOptions(args), io, deps);
}

Deno.test("condor_token_request prints the request id on stderr, then the approved token alone on stdout", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    const io = memoryIo({ env: daemon.env });
    const running = run(["-identity", "alice", "-authz", "READ", "-lifetime", "600"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.equal(io.stdout.length, 1);
    const token = io.stdout[0].slice(0, -1);
    assert.equal(io.stdout[0], token + "\n");
    const { payload } = decodeToken(token) as { payload: Record<string, unknown> };
    assert.equal(payload.sub, "alice@tokend-test.example.org");
    assert.equal(payload.scope, "condor:/READ");
    assert.equal((payload.exp as number) - (payload.iat as number), 600);
    assert.ok(!io.stderr.join("").includes(token), "the token never reaches stderr");
  });
});

Deno.test("condor_token_request says it is still waiting, now and then, without a terminal", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    const io = memoryIo({ env: daemon.env });
    const running = run([], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await stderrMatch(
      io,
      new RegExp(`Still waiting for approval of request ${id} \\(\\d+s elapsed\\)\\n`),
    );
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.ok(!io.stderr.join("").includes("\r"), "no terminal control without a terminal");
  });
});

Deno.test("condor_token_request keeps a one-line live status on a terminal", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    const io = memoryIo({ env: daemon.env, terminal: true });
    const running = run([], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await stderrMatch(
      io,
      new RegExp(
        `\\r\\x1b\\[KWaiting for approval of request ${id}: \\d+s elapsed, expires in \\d+m\\d\\ds`,
      ),
    );
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.ok(io.stderr.join("").endsWith("\r\x1b[K"), "the status line is cleared at the end");
    assert.equal(io.stdout.length, 1);
  });
});

Deno.test("condor_token_request shows the wait for a daemon that does not answer yet: live on a terminal, 'Still waiting' lines otherwise", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    // A gate that lets nothing through yet: connections are refused until it opens.
    const gate = new DaemonGate(daemon.url, 0);
    await gate.close();
    try {
      for (const terminal of [false, true]) {
        const io = memoryIo({ env: daemon.env, terminal });
        const running = run(["-pool", gate.hostPort, "-timeout", "60"], io);
        if (terminal) {
          await stderrMatch(
            io,
            new RegExp(
              `\\r\\x1b\\[KWaiting for the daemon at ${gate.hostPort.replaceAll(".", "\\.")} ` +
                `to answer: \\d+s elapsed \\[not answering, retrying\\] \\(Ctrl-C cancels\\)`,
            ),
          );
        } else {
          await stderrMatch(io, /retrying until it answers, within -timeout \(Ctrl-C stops\)\n/);
          await stderrMatch(
            io,
            new RegExp(
              `Still waiting for the daemon at ${
                gate.hostPort.replaceAll(".", "\\.")
              } to answer \\(\\d+s elapsed\\)\\n`,
            ),
          );
        }
        gate.reopen();
        const [, id] = await stderrMatch(io, ENQUEUED);
        await admin.approve(id);
        assert.equal(await running, EXIT.OK);
        if (!terminal) {
          assert.match(io.stderr.join(""), /\nThe daemon answered after \d+ s\.\n/);
          assert.ok(!io.stderr.join("").includes("\r"), "no terminal control without a terminal");
        }
        await gate.close();
      }
    } finally {
      await gate.close();
    }
  });
});

Deno.test("condor_token_request -token stores the token 0600 in SEC_TOKEN_DIRECTORY and prints nothing", async () => {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    const io = memoryIo({ env: daemon.env });
    const running = run(["-token", "friend"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.deepEqual(io.stdout, []);
    const path = `${testDaemonPaths(dir).tokenDirectory}/friend`;
    assert.match(await Deno.readTextFile(path), /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(testDaemonPaths(dir).tokenDirectory)).mode! & 0o777, 0o700);
  });
});

Deno.test("condor_token_request -json prints one object per outcome: approved with token, denied with reason", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    const io = memoryIo({ env: daemon.env });
    const running = run(["-json"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.equal(io.stdout.length, 1);
    const approved = JSON.parse(io.stdout[0]);
    assert.deepEqual(Object.keys(approved).sort(), [
      "autoApproved",
      "daemon",
      "exitCode",
      "identity",
      "outcome",
      "requestId",
      "token",
    ]);
    assert.deepEqual([
      approved.outcome,
      approved.exitCode,
      approved.requestId,
      approved.autoApproved,
    ], [
      "approved",
      0,
      id,
      false,
    ]);

    const io2 = memoryIo({ env: daemon.env });
    const running2 = run(["-json"], io2);
    const [, id2] = await stderrMatch(io2, ENQUEUED);
    await admin.deny(id2, "who are you?");
    assert.equal(await running2, EXIT.DENIED);
    const denied = JSON.parse(io2.stdout.join(""));
    assert.deepEqual([denied.outcome, denied.exitCode, denied.reason], [
      "denied",
      3,
      "who are you?",
    ]);
    assert.match(
      io2.stderr.join(""),
      /Request \d{7} was denied by the administrator: "who are you\?"\n/,
    );
  });
});

Deno.test("condor_token_request -json reports a failure as an error object with its code", async () => {
  const io = memoryIo({ env: { _CONDOR_COLLECTOR_HOST: "127.0.0.1:1", HOME: "/nonexistent" } });
  assert.equal(await condorTokenRequest.main(["-json"], io), EXIT.UNREACHABLE);
  const error = JSON.parse(io.stdout.join(""));
  assert.deepEqual([error.outcome, error.exitCode, error.code], ["error", 7, "DAEMON_UNREACHABLE"]);
  assert.match(io.stderr.join(""), /127\.0\.0\.1:1/);
});

Deno.test("condor_token_request -timeout withdraws the request and exits 6", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    const io = memoryIo({ env: daemon.env });
    assert.equal(await run(["-timeout", "1"], io), EXIT.TIMED_OUT);
    const [, id] = io.stderr.join("").match(ENQUEUED)!;
    assert.match(
      io.stderr.join(""),
      /Gave up waiting for approval of request \d{7} after 1 s \(-timeout\); it was withdrawn\n/,
    );
    assert.deepEqual(
      (await admin.list()).filter((r) => r.requestId === id && r.state === "pending"),
      [],
    );
  });
});

Deno.test("condor_token_request -json reports a timeout: withdrawn, or kept in its -state file", async () => {
  await withDaemon({}, async ({ daemon, dir }) => {
    const plain = memoryIo({ env: daemon.env });
    assert.equal(await run(["-timeout", "1", "-json"], plain), EXIT.TIMED_OUT);
    const withdrawn = JSON.parse(plain.stdout.join(""));
    assert.equal(withdrawn.outcome, "timed_out");
    assert.equal(withdrawn.exitCode, EXIT.TIMED_OUT);
    assert.match(withdrawn.requestId, /^\d{7}$/);
    assert.equal(withdrawn.withdrawn, true);
    assert.equal(withdrawn.stateFile, undefined);
    assert.equal(withdrawn.token, undefined);

    const state = `${dir}/request.json`;
    const saved = memoryIo({ env: daemon.env });
    assert.equal(await run(["-timeout", "0", "-json", "-state", state], saved), EXIT.TIMED_OUT);
    const kept = JSON.parse(saved.stdout.join(""));
    assert.equal(kept.outcome, "timed_out");
    assert.equal(kept.withdrawn, false);
    assert.equal(kept.stateFile, state);
    assert.equal(kept.requestId, JSON.parse(await Deno.readTextFile(state)).requestId);
  });
});

Deno.test("condor_token_request withdraws its request on SIGTERM and exits 143", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    const controller = new AbortController();
    const io = memoryIo({ env: daemon.env, signal: controller.signal });
    const running = run([], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    controller.abort("SIGTERM");
    assert.equal(await running, EXIT.SIGTERM);
    assert.match(
      io.stderr.join(""),
      new RegExp(`Interrupted by SIGTERM; request ${id} was cancelled at the daemon\\n`),
    );
    await assert.rejects(
      admin.approve(id),
      (err: Error & { status?: number }) => err.status === 409,
    );
  });
});

Deno.test("condor_token_request -state survives a lost process: the same request continues", async () => {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    const state = `${dir}/boot/request.json`;
    const first = memoryIo({ env: daemon.env });
    assert.equal(await run(["-state", state, "-timeout", "0"], first), EXIT.TIMED_OUT);
    const [, id] = first.stderr.join("").match(ENQUEUED)!;
    assert.match(
      first.stderr.join(""),
      /it is still pending; run again with -state .*request\.json to keep waiting/,
    );
    assert.equal((await Deno.stat(state)).mode! & 0o777, 0o600);
    assert.ok(!first.stderr.join("").includes(JSON.parse(await Deno.readTextFile(state)).secret));

    const second = memoryIo({ env: daemon.env });
    const running = run(["-state", state, "-json"], second);
    await stderrMatch(second, new RegExp(`Continuing to wait for approval of request ${id}\\.`));
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.equal(JSON.parse(second.stdout.join("")).requestId, id);
    await assert.rejects(Deno.stat(state), Deno.errors.NotFound);
  });
});

Deno.test("condor_token_request -state refuses to resume a request made for another identity", async () => {
  await withDaemon({}, async ({ daemon, dir }) => {
    const state = `${dir}/request.json`;
    assert.equal(
      await run(["-state", state, "-timeout", "0"], memoryIo({ env: daemon.env })),
      EXIT.TIMED_OUT,
    );
    const io = memoryIo({ env: daemon.env });
    assert.equal(
      await condorTokenRequest.main(["-state", state, "-identity", "bob@elsewhere"], io),
      EXIT.FAILURE,
    );
    assert.match(
      io.stderr.join(""),
      /Cannot resume from .*request\.json: it holds a request with identity "condor@tokend-test\.example\.org", not "bob@elsewhere"/,
    );
  });
});

Deno.test("condor_token_request asks on a terminal before trusting a self-signed daemon, and remembers a yes", async () => {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    const env = { ...daemon.env, ...REMOTE };
    const io = memoryIo({ env, terminal: true, stdin: ["yes"] });
    const running = run([], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    const stderr = io.stderr.join("");
    assert.ok(stderr.includes(`SHA-256 fingerprint: ${daemon.fingerprint}`));
    assert.match(stderr, /Type 'yes' to continue: /);
    const knownHosts = await Deno.readTextFile(`${testDaemonPaths(dir).home}/.condor/known_hosts`);
    assert.ok(knownHosts.includes(`${new URL(daemon.url).host} ${daemon.fingerprint}\n`));

    const no = memoryIo({
      env: { ...env, HOME: `${dir}/other-home` },
      terminal: true,
      stdin: ["no"],
    });
    assert.equal(await condorTokenRequest.main([], no), EXIT.UNTRUSTED);
  });
});

Deno.test("condor_token_request finds a daemon by -name and -type in the collector's directory", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    // Advertise the same daemon as a SCHEDD named "sched.example.org".
    await advertise(daemon, { name: "sched.example.org", type: "SCHEDD", address: daemon.url });

    const io = memoryIo({ env: daemon.env });
    const running = run(["-name", "SCHED.example.org", "-type", "schedd", "-debug"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.match(
      io.stderr.join(""),
      /DEBUG: the collector lists SCHEDD "sched\.example\.org" at https:\/\/127\.0\.0\.1:\d+/,
    );

    const missing = memoryIo({ env: daemon.env });
    assert.equal(
      await condorTokenRequest.main(["-name", "nosuch", "-type", "STARTD"], missing),
      EXIT.FAILURE,
    );
    assert.match(
      missing.stderr.join(""),
      /Cannot find a STARTD named "nosuch" in the pool of the collector at https:\/\/127\.0\.0\.1:\d+: it lists COLLECTOR .*SCHEDD "sched\.example\.org"/,
    );
  });
});

Deno.test("condor_token_request -name HOST finds a daemon advertised as name@HOST", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    await advertise(daemon, {
      name: "schedd@bird.example.org",
      type: "SCHEDD",
      address: daemon.url,
    });

    const io = memoryIo({ env: daemon.env });
    const running = run(["-name", "bird.example.org", "-type", "SCHEDD", "-debug"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.match(
      io.stderr.join(""),
      /DEBUG: the collector lists SCHEDD "schedd@bird\.example\.org" at /,
    );
  });
});

Deno.test("condor_token_request exits 5 when its request is cancelled at the daemon by another holder of its secret", async () => {
  await withDaemon({}, async ({ daemon, client, dir }) => {
    const state = `${dir}/request.json`;
    const io = memoryIo({ env: daemon.env });
    const running = run(["-state", state, "-json"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    const { secret } = JSON.parse(await Deno.readTextFile(state));
    await client.cancel(id, secret);
    assert.equal(await running, EXIT.CANCELLED);
    assert.match(io.stderr.join(""), new RegExp(`Request ${id} was cancelled at the daemon\\n$`));
    assert.equal(JSON.parse(io.stdout.join("")).outcome, "cancelled");
    await assert.rejects(Deno.stat(state), Deno.errors.NotFound);
  });
});

Deno.test("condor_token_request exits 9 when the daemon refuses token requests", async () => {
  await withDaemon({ extraConfig: "SEC_ENABLE_TOKEN_REQUEST = false" }, async ({ daemon }) => {
    const io = memoryIo({ env: daemon.env });
    assert.equal(await condorTokenRequest.main([], io), EXIT.NOT_AUTHORIZED);
    assert.match(
      io.stderr.join(""),
      /^condor_token_request: Cannot enqueue token request at https:\/\/127\.0\.0\.1:\d+: /,
    );
  });
});

Deno.test("condor_token_request -file stores the token 0600 at the path given", async () => {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    const io = memoryIo({ env: daemon.env });
    const running = run(["-file", `${dir}/boot.token`, "-json"], io);
    const [, id] = await stderrMatch(io, ENQUEUED);
    await admin.approve(id);
    assert.equal(await running, EXIT.OK);
    assert.match(await Deno.readTextFile(`${dir}/boot.token`), /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal((await Deno.stat(`${dir}/boot.token`)).mode! & 0o777, 0o600);
    const out = JSON.parse(io.stdout.join(""));
    assert.equal(out.tokenFile, `${dir}/boot.token`);
    assert.equal(out.token, undefined, "a stored token is not printed");
  });
});

Deno.test("condor_token_request -file into a missing directory fails before asking the daemon", async () => {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    const io = memoryIo({ env: daemon.env });
    assert.equal(
      await condorTokenRequest.main(["-file", `${dir}/no/such/dir/t`], io),
      EXIT.FAILURE,
    );
    assert.match(io.stderr.join(""), /directory .*\/no\/such\/dir does not exist/);
    assert.deepEqual(await admin.list(), []);
  });
});

Deno.test("condor_token_request refuses a -file or -token target it could not write, before asking the daemon", async () => {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    await Deno.mkdir(`${dir}/a-directory`);
    await Deno.writeTextFile(`${dir}/elsewhere`, "keep\n");
    await Deno.symlink(`${dir}/elsewhere`, `${dir}/a-link`);
    const tokens = testDaemonPaths(dir).tokenDirectory;
    await Deno.mkdir(`${tokens}/taken`, { recursive: true });
    const cases: [string[], RegExp][] = [
      [["-file", `${dir}/a-directory`], /a-directory: it exists and is not a regular file/],
      [["-file", `${dir}/a-link`], /a-link: it is a symbolic link/],
      [["-file", `${dir}/`], /it names no file/],
      [["-token", "taken"], /taken: it exists and is not a regular file/],
    ];
    for (const [args, message] of cases) {
      const io = memoryIo({ env: daemon.env });
      // A short -timeout: were the request made, the run would end 6, not 1.
      assert.equal(
        await condorTokenRequest.main([...args, "-timeout", "1"], io),
        EXIT.FAILURE,
        args.join(" "),
      );
      assert.match(io.stderr.join(""), message);
    }
    // Nothing was asked, so no token was handed over with nowhere to go.
    assert.deepEqual(await admin.list(), []);
    assert.equal(await Deno.readTextFile(`${dir}/elsewhere`), "keep\n");
  });
});

Deno.test("condor_token_request -debug shows the TOOL_DEBUG categories asked for", async () => {
  await withDaemon({}, async ({ daemon }) => {
    const debugRun = async (toolDebug: string) => {
      const io = memoryIo({ env: { ...daemon.env, _CONDOR_TOOL_DEBUG: toolDebug } });
      assert.equal(await run(["-debug", "-timeout", "0"], io), EXIT.TIMED_OUT);
      return io.stderr.join("");
    };
    const security = await debugRun("D_SECURITY");
    assert.match(security, /DEBUG: trying the collector at/); // D_ALWAYS: always shown
    assert.match(security, /DEBUG: trusting 127\.0\.0\.1:\d+ \(sha256:/);
    const network = await debugRun("D_NETWORK:2");
    assert.match(network, /DEBUG: trying the collector at/);
    assert.doesNotMatch(network, /DEBUG: trusting/);
    const none = memoryIo({ env: daemon.env });
    assert.equal(await run(["-timeout", "0"], none), EXIT.TIMED_OUT);
    assert.doesNotMatch(none.stderr.join(""), /DEBUG/);
  });
});

Deno.test("condor_token_request remembers trusted daemons in the TOKEND_KNOWN_HOSTS file", async () => {
  await withDaemon({}, async ({ daemon, dir }) => {
    const env = {
      ...daemon.env,
      ...REMOTE,
      _CONDOR_TOKEND_KNOWN_HOSTS: `${dir}/etc/known_hosts`,
    };
    const io = memoryIo({ env });
    assert.equal(await run(["-trust", daemon.fingerprint, "-timeout", "0"], io), EXIT.TIMED_OUT);
    assert.equal(
      await Deno.readTextFile(`${dir}/etc/known_hosts`).then((t) => t.split("\n")[1]),
      `${new URL(daemon.url).host} ${daemon.fingerprint}`,
    );
  });
});

/**
 * The requester reads the daemon's certificate over a connection of its own
 * before it asks for anything, so a daemon unreachable from the start fails
 * that trust check (exit 7) and no enqueue is ever tried. To reach the
 * enqueue's retries, a gate in front of the daemon lets that first
 * connection through and then refuses every other: the enqueue fails with
 * "connection refused" and is retried with (here, ~10 s) backoff.
 */
async function withGatedDaemon(
  fn: (ctx: {
    gate: DaemonGate;
    env: Record<string, string>;
    admin: TokenDaemonClient;
    dir: string;
  }) => Promise<void>,
) {
  await withDaemon({}, async ({ daemon, admin, dir }) => {
    const gate = new DaemonGate(daemon.url);
    try {
      await fn({ gate, env: { ...daemon.env, _CONDOR_COLLECTOR_HOST: gate.hostPort }, admin, dir });
    } finally {
      await gate.close();
    }
  });
}

/** Retries ~10 s apart: only an interrupt can end the wait within the test. */
const LONG_BACKOFF: RequesterDeps = {
  statusIntervalMs: 50,
  retry: { baseMs: 10_000, capMs: 10_000 },
  random: () => 0.999,
};

function lostContact(gate: DaemonGate): RegExp {
  return new RegExp(
    `^Lost contact with the daemon at https://127\\.0\\.0\\.1:${gate.port} \\(DAEMON_UNREACHABLE\\); retrying until it answers\\.\\n`,
  );
}

/** Fires `reason` on `controller` and resolves to how long `running` then took, with its code. */
async function interrupt(
  controller: AbortController,
  reason: string,
  running: Promise<number>,
): Promise<{ code: number; ms: number }> {
  await new Promise((r) => setTimeout(r, 50)); // well into the backoff's sleep
  const start = Date.now();
  controller.abort(reason);
  const code = await running;
  return { code, ms: Date.now() - start };
}

Deno.test("condor_token_request -state keeps the saved secret when SIGINT cuts short the enqueue's retries, and the next run makes that request", async () => {
  await withGatedDaemon(async ({ gate, env, admin, dir }) => {
    const state = `${dir}/var/request.json`;
    const controller = new AbortController();
    const io = memoryIo({ env, signal: controller.signal });
    const running = run(["-state", state], io, LONG_BACKOFF);
    await stderrMatch(io, lostContact(gate));
    const { code, ms } = await interrupt(controller, "SIGINT", running);
    assert.equal(code, EXIT.SIGINT);
    assert.ok(ms < 1_000, `ended ${ms} ms after SIGINT; the backoff was ~10 s`);
    assert.deepEqual(io.stdout, []);
    assert.match(
      io.stderr.join(""),
      new RegExp(
        lostContact(gate).source +
          "condor_token_request: Interrupted by SIGINT; the daemon never confirmed the request\\n$",
      ),
    );
    // Kept: the daemon might have made the request, and only this secret finds it.
    assert.equal((await Deno.stat(state)).mode! & 0o777, 0o600);
    const saved = JSON.parse(await Deno.readTextFile(state));
    assert.equal(saved.daemon, gate.url);
    assert.match(saved.secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(saved.requestId, undefined);
    assert.deepEqual(await admin.list(), [], "the enqueue never reached the daemon");

    // The daemon is back: the next run sends the saved secret, and that request completes.
    gate.reopen();
    const again = memoryIo({ env });
    const resumed = run(["-state", state], again);
    const [, id] = await stderrMatch(again, ENQUEUED);
    const now = JSON.parse(await Deno.readTextFile(state));
    assert.deepEqual(now, { ...saved, requestId: id });
    await admin.approve(id);
    assert.equal(await resumed, EXIT.OK);
    assert.match(again.stdout.join(""), /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    await assert.rejects(Deno.stat(state), Deno.errors.NotFound);
  });
});

Deno.test("condor_token_request without -state leaves nothing behind when SIGTERM cuts short the enqueue's retries", async () => {
  await withGatedDaemon(async ({ gate, env, admin, dir }) => {
    const home = testDaemonPaths(dir).home;
    const before = await listTree(home);
    const controller = new AbortController();
    const io = memoryIo({ env, signal: controller.signal });
    const running = run(["-json"], io, LONG_BACKOFF);
    await stderrMatch(io, lostContact(gate));
    const { code, ms } = await interrupt(controller, "SIGTERM", running);
    assert.equal(code, EXIT.SIGTERM);
    assert.ok(ms < 1_000, `ended ${ms} ms after SIGTERM; the backoff was ~10 s`);
    assert.match(
      io.stderr.join(""),
      new RegExp(
        lostContact(gate).source +
          "condor_token_request: Interrupted by SIGTERM; the daemon never confirmed the request\\n$",
      ),
    );
    assert.equal(io.stdout.length, 1);
    assert.deepEqual(JSON.parse(io.stdout[0]), {
      outcome: "interrupted",
      exitCode: EXIT.SIGTERM,
      requestId: null,
      daemon: gate.url,
      identity: "condor@tokend-test.example.org",
      signal: "SIGTERM",
      withdrawn: false,
    });
    assert.deepEqual(await listTree(home), before);
    assert.deepEqual(await admin.list(), []);
  });
});

/** Every path under `dir`, sorted. */
async function listTree(dir: string): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    paths.push(path);
    if (entry.isDirectory) paths.push(...await listTree(path));
  }
  return paths.sort();
}

Deno.test("condor_token_request says when this host's clock is more than a minute off the daemon's, and still stores the token", async () => {
  await withDaemon({}, async ({ daemon, admin }) => {
    await admin.autoApprove("127.0.0.1/32", 600);
    const behind = memoryIo({ env: daemon.env, now: () => Date.now() - 10 * 60_000 });
    assert.equal(await run(["-authz", "ADVERTISE_STARTD"], behind), EXIT.OK);
    assert.match(behind.stdout.join(""), /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.match(
      behind.stderr.join(""),
      /condor_token_request: WARNING: this host's clock is (9m5\ds|10m0\ds) behind the daemon's .*fix the clock/,
    );
    const ahead = memoryIo({ env: daemon.env, now: () => Date.now() + 5 * 60_000 });
    assert.equal(await run(["-authz", "ADVERTISE_STARTD"], ahead), EXIT.OK);
    assert.match(ahead.stderr.join(""), /clock is \d+m\d+s ahead of the daemon's/);
    const right = memoryIo({ env: daemon.env });
    assert.equal(await run(["-authz", "ADVERTISE_STARTD"], right), EXIT.OK);
    assert.doesNotMatch(right.stderr.join(""), /clock/);
  });
});
