/** The advertiser on its own: what it logs when the collector cannot be reached. */
import assert from "node:assert/strict";
import { startAdvertiser } from "../../src/server/advertiser.ts";

Deno.test("startAdvertiser() says once, not on every retry, that it cannot reach the collector", async () => {
  const collectorUrl = "https://127.0.0.1:1";
  const logs: string[] = [];
  const advertiser = startAdvertiser({
    collectorUrl,
    ad: () => ({ name: "node.example.org", type: "STARTD", address: "https://node:9618" }),
    // Long enough that the timer never fires during the test: every attempt is one we make.
    lifetime: 3600,
    credential: () => Promise.resolve("not-a-real-token"),
    send: () => Promise.reject(new Error("connection refused")),
    log: (line) => logs.push(line),
  });
  try {
    // The first attempt starts on its own; these two queue behind it.
    assert.equal(await advertiser.advertise(), false);
    assert.equal(await advertiser.advertise(), false);
    const complaints = logs.filter((l) => l.startsWith("cannot advertise"));
    assert.equal(complaints.length, 1, JSON.stringify(logs));
    assert.ok(
      complaints[0].startsWith(`cannot advertise to the collector at ${collectorUrl}: `),
      complaints[0],
    );
    assert.deepEqual(logs, complaints, "nothing but the one complaint");
  } finally {
    await advertiser.stop();
  }
});
