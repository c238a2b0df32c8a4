import assert from "node:assert/strict";
import {
  addressInNetblock,
  canonicalPeer,
  matchingRule,
  parseNetblock,
  type RuleCandidate,
} from "../../src/server/rules.ts";

Deno.test("addressInNetblock() matches IPv4 CIDR, dotted masks, wildcards and single hosts", () => {
  const yes: [string, string][] = [
    ["192.0.2.7", "192.0.2.0/24"],
    ["192.0.2.7", "192.0.0.0/16"],
    ["192.0.2.7", "0.0.0.0/0"],
    ["192.0.2.7", "192.0.2.7/32"],
    ["192.0.2.7", "192.0.2.7"],
    ["192.0.2.7", "192.0.2.*"],
    ["192.0.2.7", "192.0.*"],
    ["192.0.2.7", "192.0."],
    ["192.0.2.7", "192.0.0.0/255.255.0.0"],
    ["192.0.2.7", "*"],
    ["2001:db8::1", "*/*"],
  ];
  for (const [address, net] of yes) {
    assert.equal(addressInNetblock(address, net), true, `${address} in ${net}`);
  }
  const no: [string, string][] = [
    ["192.0.3.7", "192.0.2.0/24"],
    ["192.0.2.8", "192.0.2.7"],
    ["192.1.2.7", "192.0.*"],
    ["10.0.0.1", "192.0.0.0/255.255.0.0"],
    ["192.0.2.7", "2001:db8::/32"],
    ["not-an-ip", "*"],
  ];
  for (const [address, net] of no) {
    assert.equal(addressInNetblock(address, net), false, `${address} in ${net}`);
  }
});

Deno.test("addressInNetblock() matches IPv6 blocks and IPv4-mapped IPv6 peers", () => {
  assert.equal(addressInNetblock("2001:db8::1", "2001:db8::/32"), true);
  assert.equal(addressInNetblock("2001:db8:0:0:0:0:0:1", "2001:db8::1"), true);
  assert.equal(addressInNetblock("2001:db9::1", "2001:db8::/32"), false);
  assert.equal(addressInNetblock("2001:db8:1::5", "2001:db8:*"), true);
  assert.equal(addressInNetblock("2001:db9:1::5", "2001:db8:*"), false);
  assert.equal(addressInNetblock("::1", "::1/128"), true);
  // An IPv4 peer seen through a dual-stack socket matches IPv4 rules...
  assert.equal(addressInNetblock("::ffff:192.0.2.7", "192.0.2.0/24"), true);
  assert.equal(addressInNetblock("::ffff:c000:207", "192.0.2.0/24"), true);
  assert.equal(addressInNetblock("[::ffff:192.0.2.7]", "192.0.2.7"), true);
  // ...and rules written for the mapped form.
  assert.equal(addressInNetblock("192.0.2.7", "::ffff:192.0.2.0/120"), true);
  assert.equal(addressInNetblock("::ffff:10.0.0.1", "192.0.2.0/24"), false);
});

Deno.test("parseNetblock() refuses what is not a netblock", () => {
  for (
    const bad of [
      "",
      "192.0.2.0/33",
      "192.0.2.0/",
      "192.0.2.0/255.0.255.0",
      "192.0.2",
      "192.0.2.256",
      "1.2.3.4.5",
      "2001:db8::/129",
      "2001:db8:*:1",
      "2001:db8::1::2",
      "host.example.org",
      "192.0.*.1",
    ]
  ) assert.equal(parseNetblock(bad), undefined, bad);
  assert.equal(parseNetblock("192.0.2.0/24")?.prefix, 24);
  assert.equal(parseNetblock("10.*")?.prefix, 8);
  assert.equal(parseNetblock("2001:db8:*")?.prefix, 32);
});

Deno.test("canonicalPeer() turns IPv4-mapped IPv6 into IPv4 and keeps others", () => {
  assert.equal(canonicalPeer("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(canonicalPeer("[::ffff:10.1.2.3]"), "10.1.2.3");
  assert.equal(canonicalPeer("2001:db8::1"), "2001:db8::1");
  assert.equal(canonicalPeer("fe80::1%eth0"), "fe80::1");
  assert.equal(canonicalPeer("192.0.2.1"), "192.0.2.1");
});

const request = (overrides: Partial<RuleCandidate> = {}): RuleCandidate => ({
  requestedIdentity: "condor@pool.example.org",
  authorizations: ["ADVERTISE_STARTD"],
  peerLocation: "192.0.2.7",
  requestedAt: 1000,
  lifetime: null,
  ...overrides,
});
const rule = { netblock: "192.0.2.0/24", issuedAt: 1000, expiresAt: 1600 };

Deno.test("matchingRule() approves only condor@ advertising requests from the netblock in the window", () => {
  assert.equal(matchingRule(request(), [rule], 1000), rule);
  assert.equal(
    matchingRule(
      request({ authorizations: ["ADVERTISE_MASTER", "ADVERTISE_SCHEDD", "ADVERTISE_STARTD"] }),
      [rule],
      1000,
    ),
    rule,
  );
  const misses: [string, Partial<RuleCandidate>, number?][] = [
    ["identity", { requestedIdentity: "alice@pool.example.org" }],
    ["identity prefix", { requestedIdentity: "condorx@pool.example.org" }],
    ["no authorizations", { authorizations: [] }],
    ["READ", { authorizations: ["ADVERTISE_STARTD", "READ"] }],
    ["peer", { peerLocation: "198.51.100.1" }],
    ["after expiry", { requestedAt: 1601 }, 1601],
    ["too old", { requestedAt: 939 }],
    ["token lifetime passed", { requestedAt: 990, lifetime: 5 }, 1000],
  ];
  for (const [name, overrides, now] of misses) {
    assert.equal(matchingRule(request(overrides), [rule], now ?? 1000), undefined, name);
  }
  assert.equal(matchingRule(request({ requestedAt: 940 }), [rule], 1000), rule, "60 s grace");
  assert.equal(matchingRule(request({ requestedAt: 1600 }), [rule], 1600), rule, "at expiry");
  assert.equal(matchingRule(request({ requestedAt: 995, lifetime: 5 }), [rule], 1000), rule);
  assert.equal(matchingRule(request(), [], 1000), undefined);
});
