import assert from "node:assert/strict";
import { ConfigError, UsageError } from "../../src/errors.ts";
import {
  collectorAddresses,
  parseDaemonAddress,
  parseDaemonType,
} from "../../src/client/locate.ts";

Deno.test("parseDaemonAddress(): a bare host is either protocol, a sinful string HTCondor's, a URL its scheme's", () => {
  const cases: [string, string][] = [
    ["cm.example.org", "condor://cm.example.org:9618"],
    ["cm.example.org:9619", "condor://cm.example.org:9619"],
    ["127.0.0.1", "condor://127.0.0.1:9618"],
    ["[::1]:1234", "condor://[::1]:1234"],
    ["<10.0.0.1:9618?addrs=10.0.0.1-9618&alias=cm>", "cedar://10.0.0.1:9618?alias=cm"],
    ["<10.0.0.1:9618>", "cedar://10.0.0.1:9618"],
    ["cedar://cm.example.org", "cedar://cm.example.org:9618"],
    ["cedar://10.0.0.1:9620?alias=cm.example.org", "cedar://10.0.0.1:9620?alias=cm.example.org"],
    ["https://cm.example.org", "https://cm.example.org/"],
    ["https://cm.example.org:443", "https://cm.example.org/"],
    ["https://cm.example.org:8443/condor", "https://cm.example.org:8443/condor"],
  ];
  for (const [text, href] of cases) assert.equal(parseDaemonAddress(text)?.href, href, text);
});

Deno.test("parseDaemonAddress() refuses plain http, credentials and garbage", () => {
  for (
    const text of [
      "",
      "http://cm.example.org",
      "https://u:p@cm.example.org",
      "cm example",
      "cm:port",
      "a/b",
      "::1",
      "cedar://cm/path",
      "cedar://u:p@cm",
      "<cm>",
      "<cm:99999>",
    ]
  ) {
    assert.equal(parseDaemonAddress(text), undefined, text);
  }
});

Deno.test("parseDaemonType() is case-insensitive and knows HTCondor's daemon types only", () => {
  assert.equal(parseDaemonType("schedd"), "SCHEDD");
  assert.equal(parseDaemonType("Collector"), "COLLECTOR");
  assert.equal(parseDaemonType("credd"), "CREDD");
  assert.equal(parseDaemonType("toaster"), undefined);
  assert.equal(parseDaemonType(""), undefined);
});

Deno.test("collectorAddresses() prefers -pool, else lists every COLLECTOR_HOST entry", () => {
  assert.deepEqual(collectorAddresses("other:1", "cm").map((c) => c.url.host), ["other:1"]);
  const list = collectorAddresses(undefined, "cm1.example.org, cm2.example.org:9620");
  assert.deepEqual(list.map((c) => c.url.host), ["cm1.example.org:9618", "cm2.example.org:9620"]);
  assert.match(list[1].source, /COLLECTOR_HOST "cm2.example.org:9620"/);
});

Deno.test("collectorAddresses() gives an address without a port COLLECTOR_PORT, as HTCondor does", () => {
  const hosts = (pool: string | undefined, host: string) =>
    collectorAddresses(pool, host, 9620).map((c) => c.url.host);
  assert.deepEqual(hosts(undefined, "cm1, cm2:9700, <10.0.0.1:9800>"), [
    "cm1:9620",
    "cm2:9700",
    "10.0.0.1:9800",
  ]);
  assert.deepEqual(hosts("other", "cm"), ["other:9620"]);
  assert.deepEqual(hosts("cedar://other", "cm"), ["other:9620"]);
  // -pool may list several daemons, as COLLECTOR_HOST may.
  assert.deepEqual(hosts("a b", "cm"), ["a:9620", "b:9620"]);
  assert.deepEqual(hosts("a:1,b:2", "cm"), ["a:1", "b:2"]);
  assert.throws(() => collectorAddresses("a http://b", "cm"), UsageError);
  assert.throws(() => collectorAddresses(" , ", "cm"), UsageError);
});

Deno.test("collectorAddresses() refuses an unset or unusable COLLECTOR_HOST with a ConfigError", () => {
  assert.throws(
    () => collectorAddresses(undefined, undefined),
    (e) => e instanceof ConfigError && e.code === "CONFIG_MISSING",
  );
  assert.throws(
    () => collectorAddresses(undefined, "  "),
    (e) => e instanceof ConfigError && e.code === "CONFIG_MISSING",
  );
  assert.throws(
    () => collectorAddresses(undefined, "http://cm"),
    (e) => e instanceof ConfigError && e.code === "CONFIG_BAD_VALUE",
  );
});
