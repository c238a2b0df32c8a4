import assert from "node:assert/strict";
import {
  authzToScope,
  parseAuthorization,
  scopeAllows,
  scopeToAuthz,
} from "../../src/token/authz.ts";

Deno.test("scopeAllows() follows HTCondor's hierarchy: WRITE grants READ, never the reverse", () => {
  assert.equal(scopeAllows(["WRITE"], "READ"), true);
  assert.equal(scopeAllows(["READ"], "WRITE"), false);
  assert.equal(scopeAllows(["ADMINISTRATOR"], "READ"), true);
  assert.equal(scopeAllows(["ADMINISTRATOR"], "WRITE"), true);
  assert.equal(scopeAllows(["DAEMON"], "WRITE"), true);
  assert.equal(scopeAllows(["DAEMON"], "ADMINISTRATOR"), false);
  assert.equal(scopeAllows(["WRITE"], "ADMINISTRATOR"), false);
  assert.equal(scopeAllows(["ADVERTISE_STARTD"], "READ"), true);
  assert.equal(scopeAllows(["ADVERTISE_STARTD"], "ADVERTISE_SCHEDD"), false);
  assert.equal(scopeAllows(["CONFIG"], "WRITE"), false);
});

Deno.test("scopeAllows() lets ALLOW through any scope and any level through no scope", () => {
  assert.equal(scopeAllows(["READ"], "ALLOW"), true);
  assert.equal(scopeAllows([], "ADMINISTRATOR"), true);
});

Deno.test("authzToScope() and scopeToAuthz() round-trip, ignoring other systems' scopes", () => {
  assert.equal(authzToScope(["READ", "WRITE"]), "condor:/READ condor:/WRITE");
  assert.deepEqual(scopeToAuthz("condor:/READ storage.read:/ condor:/WRITE"), ["READ", "WRITE"]);
  assert.equal(parseAuthorization("advertise_startd"), "ADVERTISE_STARTD");
  assert.equal(parseAuthorization("OWNER"), undefined);
});
