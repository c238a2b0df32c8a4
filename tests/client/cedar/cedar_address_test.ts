import assert from "node:assert/strict";
import {
  type CedarAddress,
  cedarAddressOf,
  cedarHostKey,
  certificateHost,
  parseSinful,
  sinfulOf,
} from "../../../src/client/cedar/cedar_address.ts";

Deno.test("parseSinful() keeps host, port, alias and sock, and drops the other parameters", () => {
  const cases: [string, string][] = [
    ["<127.0.0.1:29618?addrs=127.0.0.1-29618&alias=vm>", "cedar://127.0.0.1:29618?alias=vm"],
    ["<127.0.0.1:29618?alias=vm>", "cedar://127.0.0.1:29618?alias=vm"],
    ["<10.0.0.1:9618>", "cedar://10.0.0.1:9618"],
    ["<10.0.0.1:9618?addrs=10.0.0.1-9618&noUDP>", "cedar://10.0.0.1:9618"],
    ["<[::1]:9618>", "cedar://[::1]:9618"],
    [
      "<[2001:db8::5]:9618?alias=cm.example.org>",
      "cedar://[2001:db8::5]:9618?alias=cm.example.org",
    ],
    ["<cm.example.org:9618>", "cedar://cm.example.org:9618"],
    ["  <10.0.0.1:9618>\n", "cedar://10.0.0.1:9618"],
    [
      "<10.0.0.1:9618?addrs=10.0.0.1-9618&alias=cm&sock=collector>",
      "cedar://10.0.0.1:9618?alias=cm&sock=collector",
    ],
    // An alias or sock that is no plain name is dropped rather than trusted.
    ["<10.0.0.1:9618?alias=evil/path>", "cedar://10.0.0.1:9618"],
    ["<10.0.0.1:9618?alias=>", "cedar://10.0.0.1:9618"],
    ["<10.0.0.1:9618?sock=../x y>", "cedar://10.0.0.1:9618"],
  ];
  for (const [text, href] of cases) assert.equal(parseSinful(text)?.href, href, text);
});

Deno.test("parseSinful() returns undefined for what is no sinful string", () => {
  const garbage = [
    "",
    "garbage",
    "127.0.0.1:9618",
    "<127.0.0.1>",
    "<127.0.0.1:>",
    "<127.0.0.1:9618",
    "127.0.0.1:9618>",
    "<127.0.0.1:70000>",
    "<127.0.0.1:123456>",
    "<::1:9618>",
    "<[::1]>",
    "<host name:9618>",
    "<user@host:9618>",
    "<10.0.0.1:9618>trailing",
  ];
  for (const text of garbage) assert.equal(parseSinful(text), undefined, text);
});

Deno.test("cedarAddressOf() reads host, port, alias and sock back from a parsed sinful string", () => {
  assert.deepEqual(
    addressOf("<127.0.0.1:29618?addrs=127.0.0.1-29618&alias=vm>"),
    at("127.0.0.1", 29618, "vm"),
  );
  assert.deepEqual(addressOf("<[::1]:9618>"), at("::1", 9618));
  assert.deepEqual(
    addressOf("<10.0.0.1:9618?sock=collector>"),
    at("10.0.0.1", 9618, undefined, "collector"),
  );
  assert.deepEqual(cedarAddressOf(new URL("cedar://cm.example.org")), at("cm.example.org", 9618));
});

Deno.test("sinfulOf() writes the ConnectSinful form, brackets around IPv6", () => {
  assert.equal(sinfulOf(at("127.0.0.1", 29618, "vm")), "<127.0.0.1:29618?alias=vm>");
  assert.equal(sinfulOf(at("10.0.0.1", 9618)), "<10.0.0.1:9618>");
  assert.equal(sinfulOf(at("::1", 9618)), "<[::1]:9618>");
  assert.equal(
    sinfulOf(at("10.0.0.1", 9618, "cm", "collector")),
    "<10.0.0.1:9618?alias=cm&sock=collector>",
  );
  for (const text of ["<127.0.0.1:29618?alias=vm>", "<[2001:db8::5]:9618?alias=cm>"]) {
    assert.equal(sinfulOf(addressOf(text)), text);
  }
});

Deno.test("certificateHost() is the alias when there is one, else the host", () => {
  assert.equal(certificateHost(at("127.0.0.1", 29618, "vm")), "vm");
  assert.equal(certificateHost(at("cm.example.org", 9618)), "cm.example.org");
  assert.equal(certificateHost(at("::1", 9618)), "::1");
});

Deno.test("cedarHostKey() is the checked name in lower case and the port, IPv6 in brackets", () => {
  const cases: [CedarAddress, string][] = [
    [at("127.0.0.1", 29618, "vm"), "vm:29618"],
    [at("10.0.0.1", 9618, "CM.Example.ORG"), "cm.example.org:9618"],
    [at("CM.example.org", 9620), "cm.example.org:9620"],
    [at("2001:DB8::5", 9618), "[2001:db8::5]:9618"],
  ];
  for (const [address, key] of cases) assert.equal(cedarHostKey(address), key);
});

function at(host: string, port: number, alias?: string, sharedPortId?: string): CedarAddress {
  return { host, port, alias, sharedPortId };
}

function addressOf(sinful: string): CedarAddress {
  const url = parseSinful(sinful);
  assert.ok(url, sinful);
  return cedarAddressOf(url);
}
