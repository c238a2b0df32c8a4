import assert from "node:assert/strict";
import { backoffDelay, newRequesterSecret, realClock } from "../../src/client/request_flow.ts";

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
  assert.ok(Date.now() - start < 5_000);
  await realClock.sleep(10_000, controller.signal); // already aborted: at once
});
