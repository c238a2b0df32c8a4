/**
 * Attack: TOKEND_NOTIFY_CA_FILE is documented as the certificates trusted
 * for the webhook receiver "instead of the runtime's roots". Deno's fetch
 * adds the certificates it is given to the runtime's roots, so a server
 * whose certificate any root vouches for (DENO_CERT stands in for a CA in
 * the system's store) took the POSTs, and with them the webhook's URL,
 * whose path is often its secret, and the HMAC-signed events.
 */
import assert from "node:assert/strict";
import { spawnTestDaemon } from "../_support/daemon.ts";
import { apiFor } from "../_support/api.ts";
import { createTestCa } from "../_support/test_ca.ts";
import { withTempDir } from "../_support/temp.ts";
import { until } from "../_support/until.ts";
import { startWebhookReceiver } from "../_support/webhook_receiver.ts";

Deno.test("attack: a receiver whose certificate only the runtime's roots vouch for gets no notification when TOKEND_NOTIFY_CA_FILE is set", async () => {
  // The impostor: a certificate from a CA the runtime trusts.
  const impostor = await startWebhookReceiver();
  try {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/runtime_roots.pem`, impostor.caPem!);
      const ours = await createTestCa("Our webhook CA");
      await Deno.writeTextFile(`${dir}/notify_ca.pem`, ours.certPem);
      await using daemon = await spawnTestDaemon({
        dir: `${dir}/d`,
        extraConfig: [
          `TOKEND_NOTIFY_URL = ${impostor.url}`,
          `TOKEND_NOTIFY_CA_FILE = ${dir}/notify_ca.pem`,
          "TOKEND_NOTIFY_RETRY_TIME = 0",
        ].join("\n"),
        childEnv: { DENO_CERT: `${dir}/runtime_roots.pem` },
      });
      using api = apiFor(daemon);
      assert.equal((await api.enqueue()).status, 201);
      // The attempt ends in a POST to the impostor, or (given up at once) in a log line.
      await until(
        "the attempt's end",
        () => impostor.arrived > 0 || daemon.stderr().includes("cannot notify"),
      );
      assert.equal(impostor.arrived, 0, "the impostor received a POST");
    });
  } finally {
    await impostor.close();
  }
});
