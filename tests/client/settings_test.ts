/** The client's knobs, read once (src/client/settings.ts). */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { type CondorConfig, configFromText } from "../../src/config/condor_config.ts";
import { clientSettingsFromConfig } from "../../src/client/settings.ts";

function config(text: string): CondorConfig {
  return configFromText(text, { hostname: "node1.example.org", source: "/test/condor_config" });
}

Deno.test("clientSettingsFromConfig() reads the collector, credential, trust and CEDAR knobs", () => {
  const settings = clientSettingsFromConfig(config(
    "HOME = /home/alice\nSEC_TOKEN_DIRECTORY = /home/alice/tokens\nCOLLECTOR_HOST = cm.example.org\nCOLLECTOR_PORT = 9620\n" +
      "SEC_TOKEN_SYSTEM_DIRECTORY = /etc/condor/tokens.d\n" +
      "TOKEND_TRUST = sha256:" + "ab:".repeat(31) + "ab\n" +
      "AUTH_SSL_CLIENT_CAFILE = /etc/ca.pem\nSPOOL = /var/spool/condor\n" +
      "AUTH_SSL_SERVER_CERTFILE = /etc/condor/host.pem\n" +
      "SEC_CLIENT_AUTHENTICATION_METHODS = TOKEN\n",
  ));
  assert.equal(settings.collectorHost, "cm.example.org");
  assert.equal(settings.collectorPort, 9620);
  assert.equal(settings.credentials?.tokenDirectory, "/home/alice/tokens");
  assert.equal(settings.credentials?.systemTokenDirectory, "/etc/condor/tokens.d");
  assert.deepEqual(settings.trust.pins, ["sha256:" + "AB:".repeat(31) + "AB"]);
  assert.equal(settings.trust.caFile, "/etc/ca.pem");
  assert.equal(settings.trust.knownHostsFile, "/home/alice/.condor/known_hosts");
  assert.deepEqual(settings.trust.localCertificateFiles, [
    "/etc/condor/host.pem",
    "/var/spool/condor/tokend/tokend_cert.pem",
  ]);
  assert.deepEqual(settings.cedar.methods, ["TOKEN"]);
});

Deno.test("clientSettingsFromConfig() leaves the credential knobs alone for a tool that presents none", () => {
  const text = "SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD = maybe\n";
  assert.throws(
    () => clientSettingsFromConfig(config(text)),
    (err) => err instanceof ConfigError && err.code === "CONFIG_VALUE",
  );
  assert.equal(
    clientSettingsFromConfig(config(text), { credentials: false }).credentials,
    undefined,
  );
});

Deno.test("clientSettingsFromConfig() keeps a bad COLLECTOR_PORT for when a daemon is located", () => {
  const settings = clientSettingsFromConfig(config("COLLECTOR_PORT = many\n"));
  assert.ok(settings.collectorPort instanceof ConfigError);
  assert.equal(settings.collectorPort.code, "CONFIG_VALUE");
});
