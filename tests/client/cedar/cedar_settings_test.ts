import assert from "node:assert/strict";
import { ConfigError } from "../../../src/errors.ts";
import { type CondorConfig, configFromText } from "../../../src/config/condor_config.ts";
import { cedarSettingsFromConfig } from "../../../src/client/settings.ts";

const HOST = "node1.example.org";

Deno.test("cedarSettingsFromConfig() offers FS, TOKEN, SSL when no methods knob is set", () => {
  const settings = cedarSettingsFromConfig(config(""));
  assert.deepEqual(settings.methods, ["FS", "TOKEN", "SSL"]);
  assert.deepEqual(settings.ignored, []);
  assert.equal(settings.source, "SEC_DEFAULT_AUTHENTICATION_METHODS");
});

Deno.test("cedarSettingsFromConfig() offers FS, TOKEN, SSL when both knobs are set empty", () => {
  const settings = cedarSettingsFromConfig(
    config("SEC_DEFAULT_AUTHENTICATION_METHODS =\nSEC_CLIENT_AUTHENTICATION_METHODS =\n"),
  );
  assert.deepEqual(settings.methods, ["FS", "TOKEN", "SSL"]);
  assert.equal(settings.source, "the default");
});

Deno.test("cedarSettingsFromConfig() reads the get_htcondor metaknob's list built on the default", () => {
  const settings = cedarSettingsFromConfig(
    config("SEC_CLIENT_AUTHENTICATION_METHODS = $(SEC_DEFAULT_AUTHENTICATION_METHODS),ANONYMOUS\n"),
  );
  assert.deepEqual(settings.methods, ["FS", "TOKEN", "SSL"]);
  assert.deepEqual(settings.ignored, ["ANONYMOUS"]);
});

Deno.test("cedarSettingsFromConfig() prefers SEC_CLIENT_AUTHENTICATION_METHODS to the default knob", () => {
  const settings = cedarSettingsFromConfig(config(
    "SEC_DEFAULT_AUTHENTICATION_METHODS = FS, SSL\nSEC_CLIENT_AUTHENTICATION_METHODS = SSL, TOKEN\n",
  ));
  assert.deepEqual(settings.methods, ["SSL", "TOKEN"]);
  assert.equal(settings.source, "SEC_CLIENT_AUTHENTICATION_METHODS");
});

Deno.test("cedarSettingsFromConfig() falls back to SEC_DEFAULT_AUTHENTICATION_METHODS", () => {
  for (const client of ["", "SEC_CLIENT_AUTHENTICATION_METHODS =\n"]) {
    const settings = cedarSettingsFromConfig(
      config(`${client}SEC_DEFAULT_AUTHENTICATION_METHODS = SSL FS\n`),
    );
    assert.deepEqual(settings.methods, ["SSL", "FS"], JSON.stringify(client));
    assert.equal(settings.source, "SEC_DEFAULT_AUTHENTICATION_METHODS");
  }
});

Deno.test("cedarSettingsFromConfig() reads IDTOKENS, IDTOKEN and TOKENS as TOKEN, once", () => {
  for (const name of ["IDTOKENS", "IDTOKEN", "TOKENS", "TOKEN", "idtokens", "IdTokens"]) {
    const settings = cedarSettingsFromConfig(
      config(`SEC_CLIENT_AUTHENTICATION_METHODS = ${name}\n`),
    );
    assert.deepEqual(settings.methods, ["TOKEN"], name);
    assert.deepEqual(settings.ignored, [], name);
  }
  const settings = cedarSettingsFromConfig(
    config("SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS, fs, TOKEN, ssl, FS\n"),
  );
  assert.deepEqual(settings.methods, ["TOKEN", "FS", "SSL"]);
  assert.deepEqual(settings.ignored, []);
});

Deno.test("cedarSettingsFromConfig() lists the methods it cannot use in ignored", () => {
  const settings = cedarSettingsFromConfig(config(
    "SEC_CLIENT_AUTHENTICATION_METHODS = KERBEROS, SSL,,SCITOKENS  ANONYMOUS,IDTOKENS\n",
  ));
  assert.deepEqual(settings.methods, ["SSL", "TOKEN"]);
  assert.deepEqual(settings.ignored, ["KERBEROS", "SCITOKENS", "ANONYMOUS"]);
});

Deno.test("cedarSettingsFromConfig() refuses a list without a usable method as CONFIG_VALUE", () => {
  for (const value of ["KERBEROS", "KERBEROS, PASSWORD ANONYMOUS", "CLAIMTOBE"]) {
    assert.throws(
      () => cedarSettingsFromConfig(config(`SEC_CLIENT_AUTHENTICATION_METHODS = ${value}\n`)),
      (err) => err instanceof ConfigError && err.code === "CONFIG_VALUE",
      value,
    );
  }
});

Deno.test("cedarSettingsFromConfig() reads TRUST_DOMAIN, HTCondor's default when unset", () => {
  assert.equal(
    cedarSettingsFromConfig(config("TRUST_DOMAIN = htcondor.test\n")).trustDomain,
    "htcondor.test",
  );
  assert.equal(
    cedarSettingsFromConfig(
      config("TRUST_DOMAIN = pool.example.org\nSEC_CLIENT_AUTHENTICATION_METHODS = SSL\n"),
    )
      .trustDomain,
    "pool.example.org",
  );
  // TRUST_DOMAIN defaults to $(UID_DOMAIN), which defaults to the full host name.
  assert.equal(cedarSettingsFromConfig(config("")).trustDomain, HOST);
  assert.equal(cedarSettingsFromConfig(config("UID_DOMAIN = vm\n")).trustDomain, "vm");
});

function config(text: string): CondorConfig {
  return configFromText(text, { hostname: HOST, source: "/test/condor_config" });
}
