/**
 * A daemon that is not the collector advertises itself in the collector's
 * directory, where `-name`/`-type` find it, and drops out when it stops.
 */
import assert from "node:assert/strict";
import { adSender } from "../../src/client/ad_sender.ts";
import { startTokend } from "../../src/server/tokend.ts";
import {
  prepareTestDaemonDir,
  startTestDaemon,
  testDaemonConfig,
  testDaemonPaths,
} from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { apiFor, FakeClock } from "../_support/api.ts";

Deno.test("condor_tokend of another type advertises itself to the collector until it stops", async () => {
  await withTempDir(async (dir) => {
    const clock = new FakeClock();
    const collector = await startTestDaemon({ dir: `${dir}/cm`, now: clock.now });
    const api = apiFor(collector);
    try {
      // One pool, one POOL key.
      await Deno.mkdir(`${dir}/schedd/passwords.d`, { recursive: true, mode: 0o700 });
      await Deno.copyFile(
        testDaemonPaths(`${dir}/cm`).poolKeyFile,
        testDaemonPaths(`${dir}/schedd`).poolKeyFile,
      );
      const schedd = await startTestDaemon({
        dir: `${dir}/schedd`,
        extraConfig: [
          "TOKEND_DAEMON_TYPE = SCHEDD",
          "TOKEND_DAEMON_NAME = schedd.tokend-test.example.org",
          `TOKEND_COLLECTOR_URL = ${collector.url}`,
          `AUTH_SSL_CLIENT_CAFILE = ${testDaemonPaths(`${dir}/cm`).certFile}`,
          "TOKEND_DAEMON_AD_LIFETIME = 60",
        ].join("\n"),
      });
      let listed: { name: string; address: string }[] = [];
      try {
        for (let i = 0; i < 100 && listed.length === 0; i++) {
          listed = (await api.get("/v1/daemons?type=SCHEDD")).body.daemons;
          if (listed.length === 0) await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await schedd.close();
      }
      assert.deepEqual(listed, [{
        name: "schedd.tokend-test.example.org",
        type: "SCHEDD",
        address: schedd.url,
        lifetime: 60,
      }]);
      clock.advance(61);
      assert.deepEqual((await api.get("/v1/daemons?type=SCHEDD")).body.daemons, []);
    } finally {
      api.close();
      await collector.close();
    }
  });
});

Deno.test("condor_tokend says once, without failing, when it cannot reach the collector", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(
      dir,
      "TOKEND_DAEMON_TYPE = STARTD\nTOKEND_COLLECTOR_URL = https://127.0.0.1:1",
    );
    const config = await testDaemonConfig(paths, "node.example.org");
    const logs: string[] = [];
    const tokend = await startTokend({
      config,
      port: 0,
      log: (line) => logs.push(line),
      adSender: (c) => adSender(c, Date.now),
    });
    try {
      for (let i = 0; i < 100 && !logs.some((l) => l.startsWith("cannot advertise")); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(
        logs.filter((l) => l.startsWith("cannot advertise to the collector at https://127.0.0.1:1"))
          .length,
        1,
      );
    } finally {
      await tokend.shutdown();
    }
  });
});
