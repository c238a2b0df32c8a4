import assert from "node:assert/strict";
import { trustPolicyFromConfig } from "../../src/client/connect.ts";
import { configFromText } from "../../src/config/condor_config.ts";

Deno.test("trustPolicyFromConfig() finds the known-hosts file as HTCondor does, ours first", async () => {
  const file = async (text: string) =>
    (await trustPolicyFromConfig(
      configFromText(`HOME = /home/u\n${text}`, { hostname: "node1.example.org" }),
      { now: Date.now },
    ))
      .knownHostsFile;
  assert.equal(await file(""), "/home/u/.condor/known_hosts");
  assert.equal(
    await file("SEC_KNOWN_HOSTS = /etc/condor/known_hosts\n"),
    "/etc/condor/known_hosts",
  );
  assert.equal(
    await file("SEC_KNOWN_HOSTS = /etc/condor/known_hosts\nTOKEND_KNOWN_HOSTS = /srv/kh\n"),
    "/srv/kh",
  );
});
