import assert from "node:assert/strict";
import { certificateHostNames } from "../../src/client/_certificate_names.ts";
import { createTestCa } from "../_support/test_ca.ts";

function der(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

Deno.test("certificateHostNames() reads DNS names and IPv4/IPv6 addresses from the DER", async () => {
  const ca = await createTestCa();
  const id = await ca.issue({ dns: ["CM.Example.org", "localhost"], ips: ["127.0.0.1", "::1"] });
  assert.deepEqual(certificateHostNames(der(id.certPem)), [
    "cm.example.org",
    "localhost",
    "127.0.0.1",
    "::1",
  ]);
  // The CA's own certificate has no subjectAltName: no names.
  assert.deepEqual(certificateHostNames(der(ca.certPem)), []);
});

Deno.test("certificateHostNames() returns nothing for bytes that are not a certificate", () => {
  for (const bytes of [new Uint8Array(0), new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])]) {
    assert.deepEqual(certificateHostNames(bytes), []);
  }
  const truncated = new Uint8Array(200).fill(0x30);
  assert.deepEqual(certificateHostNames(truncated), []);
});
