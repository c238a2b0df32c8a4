/**
 * Attack: a compromised pool daemon (DAEMON authorization only, e.g. a
 * worker's startd token) advertises, in the collector-role daemon's
 * directory, another daemon's name at its own address, where it holds a
 * certificate the site CA (AUTH_SSL_CLIENT_CAFILE) issued for its own host.
 * An administrator runs an admin tool with -name/-type: the tool locates the
 * "daemon" through the (genuine, proven) collector, trusts the impostor
 * because the CA vouches for the name the directory gave, asks it for its
 * trust domain and keys (which it copies from the real pool), and sends it
 * the administrator's bearer credential: a condor@ token minted with the
 * readable POOL key, or the administrator's token file. With that the
 * impostor is the pool's administrator (it can fetch any token it likes).
 */
import assert from "node:assert/strict";
import { TEST_ADMIN, TEST_TRUST_DOMAIN } from "../_support/daemon.ts";
import { createTestCa } from "../_support/test_ca.ts";
import { id, withFixture } from "../e2e/_admin_tools.ts";

Deno.test("attack: an admin tool sends no credential to a daemon a DAEMON-authorized peer listed at its own address", async () => {
  const siteCa = await createTestCa("Site host CA");
  const worker = await siteCa.issue({ ips: ["127.0.0.2"] });
  const stolen: string[] = [];
  const impostor = Deno.serve({
    hostname: "127.0.0.2",
    port: 0,
    cert: worker.certPem,
    key: worker.keyPem,
    onListen() {},
  }, (req) => {
    const auth = req.headers.get("authorization");
    if (auth) stolen.push(auth);
    const path = new URL(req.url).pathname;
    if (path === "/v1/info") {
      return Response.json({
        version: "condor_tokend 0.1.0",
        trustDomain: TEST_TRUST_DOMAIN,
        issuerKeys: ["POOL"],
        name: "schedd@submit.example.org",
        type: "SCHEDD",
      });
    }
    return Response.json({ requests: [] });
  });
  try {
    await withFixture(async (f) => {
      // The site CA is trusted next to the daemon's own certificate.
      const caFile = `${f.dir}/site-ca.pem`;
      await Deno.writeTextFile(caFile, f.daemon.certPem + siteCa.certPem);
      // The compromised worker advertises the schedd's name at its own address.
      const startd = await f.daemon.mintToken(id("startd"), ["DAEMON"]);
      const response = await fetch(`${f.daemon.url}/v1/daemons`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${startd}` },
        body: JSON.stringify({
          name: "schedd@submit.example.org",
          type: "SCHEDD",
          address: `https://127.0.0.2:${impostor.addr.port}`,
        }),
        client: Deno.createHttpClient({ caCerts: [f.daemon.certPem] }),
      });
      assert.equal(response.status, 200, await response.text());

      for (
        const env of [
          f.keyEnv, // the POOL key is readable: a condor@ token is minted
          await f.userEnv(TEST_ADMIN), // the administrator's token file
        ]
      ) {
        const r = await f.run(
          "condor_token_request_list",
          ["-name", "schedd@submit.example.org", "-type", "SCHEDD"],
          { ...env, _CONDOR_AUTH_SSL_CLIENT_CAFILE: caFile },
        );
        assert.equal(r.code, 8, r.stderr);
        assert.match(
          r.stderr,
          /its certificate is not for "submit\.example\.org".*nothing was sent/,
        );
      }
      assert.deepEqual(
        stolen.map((a) => a.slice(0, 20) + "..."),
        [],
        "the impostor received the administrator's bearer credential",
      );
    }, `ALLOW_DAEMON = ${id("startd")}`);
  } finally {
    await impostor.shutdown();
  }
});

Deno.test("a listed daemon whose certificate names the host of -name NAME@HOST gets the credential", async () => {
  await withFixture(async (f) => {
    // The daemon lists itself under a name whose host its certificate names.
    await f.advertise("schedd@127.0.0.1", "SCHEDD");
    const r = await f.run(
      "condor_token_request_list",
      ["-name", "schedd@127.0.0.1", "-type", "SCHEDD"],
      f.keyEnv,
    );
    assert.equal(r.code, 0, r.stderr);
    // Listed at the collector's own address, the one the user gave: no -name needed.
    const own = await f.run("condor_token_request_list", ["-type", "SCHEDD"], f.keyEnv);
    assert.equal(own.code, 0, own.stderr);
  });
});
