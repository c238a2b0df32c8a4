/**
 * A daemon's ad carries a DAEMON credential for the pool (condor@DOMAIN),
 * so the connection to the collector is judged by the tools' trust rules
 * before anything is written: an explicit TOKEND_TRUST pin outranks an
 * authority (AUTH_SSL_CLIENT_CAFILE) that vouches for an impostor, and a
 * pinned self-signed collector is reached without any authority.
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
import { startImpostorHttps } from "../_support/impostor_https.ts";

/** A schedd-type condor_tokend in `dir` advertising to `collectorUrl` with `extra` knobs. */
async function startAdvertisingDaemon(
  dir: string,
  collectorUrl: string,
  extra: string[],
  logs: string[],
) {
  const paths = await prepareTestDaemonDir(
    dir,
    [
      "TOKEND_DAEMON_TYPE = SCHEDD",
      "TOKEND_DAEMON_NAME = schedd.tokend-test.example.org",
      `TOKEND_COLLECTOR_URL = ${collectorUrl}`,
      "TOKEND_DAEMON_AD_LIFETIME = 60",
      ...extra,
    ].join("\n"),
  );
  const config = await testDaemonConfig(paths, "node.example.org");
  return await startTokend({
    config,
    port: 0,
    log: (line) => logs.push(line),
    adSender: (c) => adSender(c, Date.now),
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), what);
}

Deno.test("condor_tokend sends its DAEMON credential to no collector but the pinned one, whatever an authority vouches for", async () => {
  await withTempDir(async (dir) => {
    const real = await startTestDaemon({ dir: `${dir}/cm` });
    const impostor = await startImpostorHttps({
      caFile: `${dir}/impostor-ca.pem`,
      record: (req) =>
        `${req.method} ${new URL(req.url).pathname} ${req.headers.get("authorization")}`,
      answer: {},
    });
    const logs: string[] = [];
    try {
      const tokend = await startAdvertisingDaemon(
        `${dir}/schedd`,
        `https://127.0.0.1:${impostor.port}`,
        [`TOKEND_TRUST = ${real.fingerprint}`, `AUTH_SSL_CLIENT_CAFILE = ${impostor.caFile}`],
        logs,
      );
      try {
        await until(() => logs.some((l) => l.startsWith("cannot advertise")), "a refusal logged");
      } finally {
        await tokend.shutdown();
      }
      assert.deepEqual(impostor.seen, [], "the impostor received nothing");
      const refusals = logs.filter((l) => l.startsWith("cannot advertise"));
      assert.equal(refusals.length, 1, JSON.stringify(logs));
      assert.match(refusals[0], /matches none of the trusted fingerprints/);
      assert.match(refusals[0], /although an authority this host trusts signed it/);
    } finally {
      await impostor.close();
      await real.close();
    }
  });
});

Deno.test("condor_tokend advertises to a self-signed collector pinned with TOKEND_TRUST", async () => {
  await withTempDir(async (dir) => {
    const collector = await startTestDaemon({ dir: `${dir}/cm` });
    try {
      // One pool, one POOL key.
      await Deno.mkdir(`${dir}/schedd/passwords.d`, { recursive: true, mode: 0o700 });
      await Deno.copyFile(
        testDaemonPaths(`${dir}/cm`).poolKeyFile,
        testDaemonPaths(`${dir}/schedd`).poolKeyFile,
      );
      const logs: string[] = [];
      const tokend = await startAdvertisingDaemon(
        `${dir}/schedd`,
        collector.url,
        [`TOKEND_TRUST = ${collector.fingerprint}`],
        logs,
      );
      try {
        await until(() => logs.some((l) => l.startsWith("advertised")), JSON.stringify(logs));
      } finally {
        await tokend.shutdown();
      }
      assert.deepEqual(logs.filter((l) => l.startsWith("cannot advertise")), []);
    } finally {
      await collector.close();
    }
  });
});

Deno.test("condor_tokend refuses an unknown self-signed collector: nobody is asked, nothing is sent", async () => {
  await withTempDir(async (dir) => {
    const collector = await startTestDaemon({ dir: `${dir}/cm` });
    try {
      const logs: string[] = [];
      const tokend = await startAdvertisingDaemon(`${dir}/schedd`, collector.url, [], logs);
      try {
        await until(() => logs.some((l) => l.startsWith("cannot advertise")), "a refusal logged");
      } finally {
        await tokend.shutdown();
      }
      assert.ok(!logs.some((l) => l.startsWith("advertised")), JSON.stringify(logs));
    } finally {
      await collector.close();
    }
  });
});

Deno.test("condor_tokend that must advertise but has no trusted sender refuses to start", async () => {
  await withTempDir(async (dir) => {
    const paths = await prepareTestDaemonDir(
      dir,
      "TOKEND_DAEMON_TYPE = STARTD\nTOKEND_COLLECTOR_URL = https://127.0.0.1:1",
    );
    const config = await testDaemonConfig(paths, "node.example.org");
    await assert.rejects(
      startTokend({ config, port: 0, log: () => {} }),
      /Cannot advertise to the collector at https:\/\/127\.0\.0\.1:1: no trusted way/,
    );
  });
});
