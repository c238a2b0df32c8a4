import assert from "node:assert/strict";
import { allowedBy, isAdministratorIdentity, wildcardMatch } from "../../src/server/auth.ts";
import { scopeAllows } from "../../src/token/authz.ts";

Deno.test("wildcardMatch() follows HTCondor's case-insensitive wildcard rules", () => {
  const yes: [string, string][] = [
    ["alice@example.org", "Alice@Example.ORG"],
    ["*@example.org", "bob@example.org"],
    ["alice@*", "alice@anywhere"],
    ["*", "anything@at.all"],
    ["a*@example.org", "admin@example.org"],
    ["*@cs.*", "x@cs.wisc.edu"],
  ];
  for (const [p, v] of yes) assert.equal(wildcardMatch(p, v), true, `${p} ~ ${v}`);
  const no: [string, string][] = [
    ["alice@example.org", "alice@example.org.evil"],
    ["*@example.org", "bob@example.org.evil"],
    ["alice@*", "malice@anywhere"],
    ["a*@example.org", "bob@example.org"],
  ];
  for (const [p, v] of no) assert.equal(wildcardMatch(p, v), false, `${p} !~ ${v}`);
});

Deno.test("allowedBy() matches user patterns, optional host parts, and ignores host-only entries", () => {
  const entries = [
    "*@admins.org",
    "carol@*/192.0.2.0/24",
    "dave@x/10.0.0.1",
    "host.example.org",
    "127.0.0.1",
    "*",
  ];
  assert.equal(allowedBy(entries, "eve@admins.org", "198.51.100.1"), true);
  assert.equal(allowedBy(entries, "carol@y", "192.0.2.99"), true);
  assert.equal(allowedBy(entries, "carol@y", "198.51.100.1"), false);
  assert.equal(allowedBy(entries, "dave@x", "10.0.0.1"), true);
  assert.equal(allowedBy(entries, "dave@x", "10.0.0.2"), false);
  assert.equal(
    allowedBy(entries, "mallory@evil", "127.0.0.1"),
    false,
    "host-only entries never match",
  );
  assert.equal(allowedBy(["condor@pool"], "condor_pool@pool", "1.2.3.4"), true);
  assert.equal(allowedBy(["condor_pool@pool"], "condor@pool", "1.2.3.4"), true);
  assert.equal(allowedBy(["condor@pool"], "condor_pool@pool", "1.2.3.4", false), false);
  assert.equal(allowedBy(["*/*"], "anyone@anywhere", "1.2.3.4"), true, "user * from anywhere");
  assert.equal(allowedBy(["u@d/host.example.org"], "u@d", "1.2.3.4"), false, "host names need DNS");
});

Deno.test("isAdministratorIdentity() always admits condor@TRUST_DOMAIN", () => {
  const policy = {
    trustDomain: "pool.example.org",
    allowAdministrator: [],
    allowDaemon: [],
    poolUsernameEquivalent: true,
  };
  assert.equal(isAdministratorIdentity("condor@pool.example.org", "1.2.3.4", policy), true);
  assert.equal(isAdministratorIdentity("condor@other.example.org", "1.2.3.4", policy), false);
  assert.equal(isAdministratorIdentity("alice@pool.example.org", "1.2.3.4", policy), false);
});

Deno.test("scopeAllows() treats an empty scope as unrestricted", () => {
  assert.equal(scopeAllows([], "ADMINISTRATOR"), true);
  assert.equal(scopeAllows(["READ"], "ADMINISTRATOR"), false);
  assert.equal(scopeAllows(["READ", "ADMINISTRATOR"], "ADMINISTRATOR"), true);
});
