import assert from "node:assert/strict";
import type { Clock } from "../../src/clock.ts";
import { withRetries } from "../../src/client/retry.ts";
import { isFirstContactFailure } from "../../src/client/connect.ts";
import { DAEMON_ERRORS } from "../../src/client/daemon_client.ts";
import { DaemonError } from "../../src/errors.ts";

/** A clock that only moves when slept on. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

const unreachable = () => new DaemonError(DAEMON_ERRORS.UNREACHABLE, "Cannot connect: refused");

Deno.test("withRetries() retries what its predicate accepts, reports each retry and the recovery", async () => {
  const clock = fakeClock();
  const seen: string[] = [];
  let calls = 0;
  const result = await withRetries((attempt) => {
    calls++;
    return attempt < 3 ? Promise.reject(unreachable()) : Promise.resolve("answered");
  }, {
    deadline: clock.now() + 60_000,
    signal: new AbortController().signal,
    clock,
    random: () => 1,
    retry: { baseMs: 100, capMs: 250 },
    onRetry: (err, attempt, delayMs) => void seen.push(`${err.code} ${attempt} ${delayMs}`),
    onRecovered: (downMs) => void seen.push(`recovered ${downMs}`),
  });
  assert.equal(result, "answered");
  assert.equal(calls, 4);
  assert.deepEqual(seen, [
    "DAEMON_UNREACHABLE 0 100",
    "DAEMON_UNREACHABLE 1 200",
    "DAEMON_UNREACHABLE 2 250",
    "recovered 550",
  ]);
});

Deno.test("withRetries() gives up at the deadline saying for how long, and not at all on a final failure", async () => {
  const clock = fakeClock();
  await assert.rejects(
    withRetries(() => Promise.reject(unreachable()), {
      deadline: clock.now() + 5_000,
      signal: new AbortController().signal,
      clock,
      random: () => 1,
    }),
    (err) =>
      err instanceof DaemonError && err.code === DAEMON_ERRORS.UNREACHABLE &&
      /still failing after \d+ s of retries; giving up\)$/.test(err.message),
  );
  let calls = 0;
  await assert.rejects(
    withRetries(() => {
      calls++;
      return Promise.reject(unreachable());
    }, {
      deadline: clock.now() + 60_000,
      signal: new AbortController().signal,
      clock,
      retryable: () => false,
    }),
    (err) => err instanceof DaemonError && !err.message.includes("giving up"),
  );
  assert.equal(calls, 1);
});

Deno.test("withRetries() resolves to undefined when the signal aborts while it waits", async () => {
  const controller = new AbortController();
  const result = await withRetries(() => Promise.reject(unreachable()), {
    deadline: Date.now() + 600_000,
    signal: controller.signal,
    retry: { baseMs: 60_000, capMs: 60_000 },
    random: () => 1,
    onRetry: () => controller.abort("SIGINT"),
  });
  assert.equal(result, undefined);
});

Deno.test("isFirstContactFailure() retries the unreachable and hang-ups on TLS, not other protocols or refusals", () => {
  const hangUp = new DaemonError(DAEMON_ERRORS.NOT_TLS, "hung up", undefined, {
    cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
  });
  const plainHttp = new DaemonError(DAEMON_ERRORS.NOT_TLS, "answered HTTP", undefined, {
    cause: Object.assign(new Error("wrong version number"), {
      code: "ERR_SSL_WRONG_VERSION_NUMBER",
    }),
  });
  assert.equal(isFirstContactFailure(unreachable()), true);
  assert.equal(isFirstContactFailure(new DaemonError(DAEMON_ERRORS.TIMEOUT, "slow")), true);
  assert.equal(isFirstContactFailure(new DaemonError("TOO_MANY_REQUESTS", "busy", 503)), true);
  assert.equal(isFirstContactFailure(hangUp), true);
  assert.equal(isFirstContactFailure(plainHttp), false);
  assert.equal(isFirstContactFailure(new DaemonError(DAEMON_ERRORS.TLS, "bad certificate")), false);
  assert.equal(isFirstContactFailure(new DaemonError("NOT_AUTHORIZED", "no", 403)), false);
});
