import assert from "node:assert/strict";
import { configFromText } from "../../src/config/condor_config.ts";
import { ConfigError } from "../../src/errors.ts";
import { portOf, tokendSettings } from "../../src/server/settings.ts";

const settingsOf = (text: string, port?: number) =>
  tokendSettings(configFromText(text, { hostname: "cm.example.org" }), { port });

Deno.test("portOf() reads the port of HTCondor's address spellings", () => {
  assert.equal(portOf("cm.example.org:9620"), 9620);
  assert.equal(portOf("cm.example.org"), undefined);
  assert.equal(portOf("<192.0.2.1:9621?sock=collector>"), 9621);
  assert.equal(portOf("[2001:db8::1]:9622"), 9622);
  assert.equal(portOf("[2001:db8::1]"), undefined);
  assert.equal(portOf("cm:70000"), undefined);
});

Deno.test("tokendSettings() takes the port from -port, else COLLECTOR_HOST, else 9618", () => {
  assert.equal(settingsOf("COLLECTOR_HOST = cm:9700").port, 9700);
  assert.equal(settingsOf("COLLECTOR_HOST = cm:9700", 0).port, 0);
  assert.equal(settingsOf("COLLECTOR_HOST = cm").port, 9618);
  assert.equal(settingsOf("COLLECTOR_HOST = cm, cm2:9701").port, 9618);
});

Deno.test("tokendSettings() has HTCondor's defaults and ours", () => {
  const s = settingsOf("SPOOL = /var/spool/x\n");
  assert.equal(s.stateDirectory, "/var/spool/x/tokend");
  assert.equal(s.trustDomain, "cm.example.org");
  assert.equal(s.networkInterface, undefined);
  assert.equal(s.allowPlainHttp, false);
  assert.equal(s.maxPending, 1000);
  assert.equal(s.maxPendingPerPeer, 10);
  assert.equal(s.requestLifetime, 3600);
  assert.equal(s.autoApproveMaxLifetime, 3600);
  assert.equal(s.issuedTokenExpiration, undefined);
  assert.deepEqual(s.requestLimits, []);
  assert.deepEqual(s.fetchAllowedKeys, ["POOL"]);
  assert.equal(s.enableTokenRequest, true);
  assert.deepEqual([s.daemonName, s.daemonType], ["cm.example.org", "COLLECTOR"]);
  const custom = settingsOf(
    "TOKEND_STATE_DIRECTORY = /srv/tokend\nNETWORK_INTERFACE = 192.0.2.5\n" +
      "SEC_ISSUED_TOKEN_EXPIRATION = 600\nSEC_TOKEN_REQUEST_LIMITS = read advertise_startd BOGUS\n" +
      "TOKEND_DAEMON_TYPE = schedd\nTOKEND_MAX_PENDING_REQUESTS = 50\n" +
      "TOKEND_MAX_PENDING_PER_PEER = 0\n",
  );
  assert.equal(custom.stateDirectory, "/srv/tokend");
  assert.equal(custom.networkInterface, "192.0.2.5");
  assert.equal(custom.issuedTokenExpiration, 600);
  assert.deepEqual(custom.requestLimits, ["READ", "ADVERTISE_STARTD"]);
  assert.equal(custom.daemonType, "SCHEDD");
  assert.equal(custom.maxPending, 50);
  assert.equal(custom.maxPendingPerPeer, 0);
});

Deno.test("tokendSettings() refuses pending caps that are no limit and bad numbers", () => {
  for (
    const text of [
      "TOKEND_MAX_PENDING_REQUESTS = 0",
      "TOKEND_MAX_PENDING_PER_PEER = -1",
      "TOKEND_RATE_LIMIT = -1",
      "SEC_TOKEN_REQUEST_LIFETIME = 0",
      "TOKEND_ALLOW_PLAIN_HTTP = maybe",
    ]
  ) {
    assert.throws(
      () => settingsOf(`SPOOL = /s\n${text}`),
      (err) => err instanceof ConfigError,
      text,
    );
  }
});

Deno.test("tokendSettings() advertises unless this daemon is the collector or TOKEND_ADVERTISE says not to", () => {
  assert.equal(settingsOf("SPOOL = /s").advertise, false, "type COLLECTOR by default");
  assert.equal(settingsOf("SPOOL = /s\nTOKEND_DAEMON_TYPE = collector").advertise, false);
  assert.equal(settingsOf("SPOOL = /s\nTOKEND_DAEMON_TYPE = schedd").advertise, true);
  assert.equal(
    settingsOf("SPOOL = /s\nTOKEND_DAEMON_TYPE = schedd\nTOKEND_ADVERTISE = false").advertise,
    false,
  );
  assert.equal(settingsOf("SPOOL = /s\nTOKEND_ADVERTISE = true").advertise, true);
});

Deno.test("tokendSettings() advertises to https:// COLLECTOR_HOST unless TOKEND_COLLECTOR_URL is set", () => {
  assert.equal(settingsOf("SPOOL = /s\nCOLLECTOR_HOST = cm:9700").collectorUrl, "https://cm:9700");
  assert.equal(settingsOf("SPOOL = /s\nCOLLECTOR_HOST = cm").collectorUrl, "https://cm:9618");
  assert.equal(
    settingsOf("SPOOL = /s\nCOLLECTOR_HOST = cm:9700\nTOKEND_COLLECTOR_URL = https://other:443")
      .collectorUrl,
    "https://other:443",
  );
});

Deno.test("tokendSettings() reads the connection caps and deadlines, with defaults under 1024 open files", () => {
  assert.deepEqual(settingsOf("SPOOL = /s").connections, {
    maxConnections: 800,
    maxConnectionsPerPeer: 32,
    handshakeTimeout: 10,
    headerTimeout: 10,
    bodyTimeout: 10,
    idleTimeout: 30,
    writeTimeout: 10,
    maxHeaderBytes: 16384,
  });
  const custom = settingsOf(
    "SPOOL = /s\nTOKEND_MAX_CONNECTIONS = 20000\nTOKEND_MAX_CONNECTIONS_PER_PEER = 500\n" +
      "TOKEND_HANDSHAKE_TIMEOUT = 3\nTOKEND_HEADER_TIMEOUT = 4\nTOKEND_BODY_TIMEOUT = 5\n" +
      "TOKEND_IDLE_TIMEOUT = 6\nTOKEND_WRITE_TIMEOUT = 7\nTOKEND_MAX_HEADER_BYTES = 8192\n",
  ).connections;
  assert.deepEqual(Object.values(custom), [20000, 500, 3, 4, 5, 6, 7, 8192]);
  for (
    const text of [
      "TOKEND_MAX_CONNECTIONS = 0",
      "TOKEND_MAX_CONNECTIONS_PER_PEER = -1",
      "TOKEND_HEADER_TIMEOUT = 0",
      "TOKEND_MAX_HEADER_BYTES = 512",
      "TOKEND_IDLE_TIMEOUT = soon",
    ]
  ) {
    assert.throws(
      () => settingsOf(`SPOOL = /s\n${text}`),
      (err) => err instanceof ConfigError,
      text,
    );
  }
});
