import assert from "node:assert/strict";
import type { EnqueueResponse } from "../../src/api/protocol.ts";
import { DAEMON_ERRORS, type TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { httpsClient, TrustSessions } from "../../src/client/connect.ts";
import {
  backoffDelay,
  newRequesterSecret,
  type RequestEvent,
  requestToken,
  type TokenRequestSpec,
} from "../../src/client/request_flow.ts";
import { realClock } from "../../src/clock.ts";
import { DaemonError } from "../../src/errors.ts";
import { closedPort } from "../_support/ports.ts";

Deno.test("backoffDelay() grows exponentially up to the cap, with full jitter", () => {
  const policy = { baseMs: 100, capMs: 1000 };
  const top = () => 0.999999;
  assert.deepEqual([0, 1, 2, 3, 4, 10, 100].map((a) => backoffDelay(a, policy, top)), [
    99,
    199,
    399,
    799,
    999,
    999,
    999,
  ]);
  assert.equal(backoffDelay(5, policy, () => 0), 0);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, policy);
    assert.ok(d >= 0 && d < 800, String(d));
  }
});

Deno.test("newRequesterSecret() is 32 random bytes in base64url", () => {
  const a = newRequesterSecret();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, newRequesterSecret());
});

Deno.test("realClock.sleep() ends early when its signal aborts", async () => {
  const controller = new AbortController();
  const start = Date.now();
  setTimeout(() => controller.abort(), 10);
  await realClock.sleep(10_000, controller.signal);
  await realClock.sleep(10_000, controller.signal); // already aborted: at once
  // Both sleeps together, so a second sleep that ignored the aborted signal fails here too.
  const elapsed = Date.now() - start;
  assert.ok(elapsed < 5_000, `slept ${elapsed} ms`);
});

const SPEC: TokenRequestSpec = {
  identity: "alice@tokend-test.example.org",
  authz: [],
  lifetime: null,
  clientId: "test-1",
};

/** A backoff so long that only an interrupt can end it within the test: ~10 s every time. */
const LONG_BACKOFF = { retry: { baseMs: 10_000, capMs: 10_000 }, random: () => 0.999 };

for (const reason of ["SIGINT", "SIGTERM"]) {
  Deno.test(`requestToken() returns "interrupted" at once when ${reason} cuts short the enqueue's backoff (daemon unreachable)`, async () => {
    const client = httpsClient(
      `https://127.0.0.1:${closedPort()}`,
      new TrustSessions({ pins: [], knownHostsFile: undefined, now: Date.now }),
    );
    const controller = new AbortController();
    const events: RequestEvent[] = [];
    let abortedAt = 0;
    const started = Date.now();
    try {
      const outcome = await requestToken({
        client,
        request: SPEC,
        secret: newRequesterSecret(),
        deadline: Date.now() + 60_000,
        cancelOnTimeout: true,
        signal: controller.signal,
        ...LONG_BACKOFF,
        onEvent: (event) => {
          events.push(event);
          // Fire during the backoff's sleep, not before it.
          if (event.type === "retrying") {
            setTimeout(() => {
              abortedAt = Date.now();
              controller.abort(reason);
            }, 50);
          }
        },
      });
      const now = Date.now();
      assert.deepEqual(outcome, {
        outcome: "interrupted",
        requestId: undefined,
        signal: reason,
        withdrawn: false,
      });
      assert.ok(abortedAt > 0, "the interrupt fired");
      assert.ok(now - abortedAt < 1_000, `returned ${now - abortedAt} ms after the interrupt`);
      assert.ok(now - started < 3_000, `took ${now - started} ms; the backoff was ~10 s`);
      // One failed enqueue, one backoff announced, nothing else: no request was made.
      assert.deepEqual(events.map((e) => e.type), ["retrying"]);
      const [retrying] = events as Extract<RequestEvent, { type: "retrying" }>[];
      assert.equal(retrying.requestId, undefined);
      assert.equal(retrying.attempt, 0);
      assert.equal(retrying.delayMs, 9_990);
      assert.equal(retrying.error.code, DAEMON_ERRORS.UNREACHABLE);
    } finally {
      client.close();
    }
  });
}

/** A client whose enqueue is `enqueue` and whose cancel is recorded; nothing else is called. */
function fakeClient(
  enqueue: () => Promise<EnqueueResponse>,
  cancelled: string[],
): TokenDaemonClient {
  const unexpected = () => Promise.reject(new Error("not expected in this test"));
  return {
    address: "https://fake.example.org:9618",
    trusted: () => undefined,
    authenticatedAs: () => undefined,
    info: unexpected,
    enqueue,
    collect: unexpected,
    cancel: (requestId: string) => {
      cancelled.push(requestId);
      return Promise.resolve({ requestId, state: "cancelled" as const });
    },
    list: unexpected,
    approve: unexpected,
    deny: unexpected,
    autoApprove: unexpected,
    rules: unexpected,
    removeRule: unexpected,
    resumeRule: unexpected,
    issued: unexpected,
    watch: unexpected,
    fetchToken: unexpected,
    daemons: unexpected,
    close: () => {},
    [Symbol.dispose]: () => {},
  };
}

Deno.test("requestToken() does not retry an enqueue that fails after the interrupt: interrupted, nothing to withdraw", async () => {
  const controller = new AbortController();
  let attempts = 0;
  const cancelled: string[] = [];
  const events: RequestEvent[] = [];
  const outcome = await requestToken({
    client: fakeClient(() => {
      attempts++;
      controller.abort("SIGINT"); // arrives while the attempt is on its way
      return Promise.reject(
        new DaemonError(DAEMON_ERRORS.UNREACHABLE, "Cannot enqueue: connection refused"),
      );
    }, cancelled),
    request: SPEC,
    secret: newRequesterSecret(),
    deadline: Date.now() + 60_000,
    cancelOnTimeout: true,
    signal: controller.signal,
    ...LONG_BACKOFF,
    onEvent: (event) => void events.push(event),
  });
  assert.deepEqual(outcome, {
    outcome: "interrupted",
    requestId: undefined,
    signal: "SIGINT",
    withdrawn: false,
  });
  assert.equal(attempts, 1);
  assert.deepEqual(events, []);
  assert.deepEqual(cancelled, []);
});

Deno.test("requestToken() withdraws a request whose enqueue completed after the interrupt", async () => {
  // The enqueue is deliberately not aborted: had it reached the daemon, only
  // its answer names the request to withdraw.
  const controller = new AbortController();
  const cancelled: string[] = [];
  const outcome = await requestToken({
    client: fakeClient(() => {
      controller.abort("SIGTERM");
      return Promise.resolve({ requestId: "0000042", state: "pending", expiresAt: 2e9 });
    }, cancelled),
    request: SPEC,
    secret: newRequesterSecret(),
    deadline: Date.now() + 60_000,
    cancelOnTimeout: true,
    signal: controller.signal,
    ...LONG_BACKOFF,
  });
  assert.deepEqual(outcome, {
    outcome: "interrupted",
    requestId: "0000042",
    signal: "SIGTERM",
    withdrawn: true,
  });
  assert.deepEqual(cancelled, ["0000042"]);
});
