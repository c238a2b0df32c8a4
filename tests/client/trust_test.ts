import assert from "node:assert/strict";
import { TrustError } from "../../src/errors.ts";
import {
  certificateCoversHost,
  fingerprintOf,
  knownHostKey,
  parseFingerprint,
  readKnownHosts,
  rememberKnownHost,
} from "../../src/client/trust.ts";
import { withTempDir } from "../_support/temp.ts";

const FP = "sha256:" +
  Array.from({ length: 32 }, (_, i) => (i * 7 % 256).toString(16).padStart(2, "0").toUpperCase())
    .join(":");

Deno.test("parseFingerprint() accepts a fingerprint with or without prefix, colons and case", () => {
  const bare = FP.slice("sha256:".length);
  for (
    const text of [FP, FP.toLowerCase(), bare, bare.replace(/:/g, ""), `SHA256:${bare}`, ` ${FP} `]
  ) {
    assert.equal(parseFingerprint(text), FP, text);
  }
});

Deno.test("parseFingerprint() refuses anything that is not 32 hex bytes", () => {
  for (
    const text of [
      "",
      "sha256:",
      "sha256:AB:CD",
      FP + ":00",
      FP.replace(/.$/, "G"),
      "md5:" + FP.slice(7),
    ]
  ) {
    assert.equal(parseFingerprint(text), undefined, text);
  }
});

Deno.test("fingerprintOf() is the upper-case colon-separated SHA-256 of the DER bytes", async () => {
  // SHA-256 of the empty string.
  assert.equal(
    await fingerprintOf(new Uint8Array()),
    parseFingerprint("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
  );
});

Deno.test("certificateCoversHost() matches names, addresses and one wildcard label", () => {
  const names = ["cm.example.org", "*.pool.example.org", "127.0.0.1", "::1"];
  assert.equal(certificateCoversHost(names, "CM.example.org"), true);
  assert.equal(certificateCoversHost(names, "node1.pool.example.org"), true);
  assert.equal(certificateCoversHost(names, "a.b.pool.example.org"), false);
  assert.equal(certificateCoversHost(names, "pool.example.org"), false);
  assert.equal(certificateCoversHost(names, "127.0.0.1"), true);
  assert.equal(certificateCoversHost(names, "[::1]"), true);
  assert.equal(certificateCoversHost(names, "[0:0:0:0:0:0:0:1]"), true);
  assert.equal(certificateCoversHost(names, "10.0.0.1"), false);
  assert.equal(certificateCoversHost(names, "other.example.org"), false);
});

Deno.test("knownHostKey() is host:port with the host lower-case and IPv6 bracketed", () => {
  assert.equal(knownHostKey(new URL("https://CM.Example.org:9618")), "cm.example.org:9618");
  assert.equal(knownHostKey(new URL("https://[::1]:9618/")), "[::1]:9618");
  assert.equal(knownHostKey(new URL("https://cm.example.org")), "cm.example.org:443");
});

Deno.test("rememberKnownHost() writes a 0600 file in a 0700 directory and replaces only its own line", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/home/.condor/known_hosts`;
    const other = parseFingerprint("11".repeat(32))!;
    await rememberKnownHost(file, "a.example.org:9618", other);
    await rememberKnownHost(file, "b.example.org:9618", other);
    await rememberKnownHost(file, "a.example.org:9618", FP);
    const hosts = await readKnownHosts(file);
    assert.deepEqual([...hosts], [["b.example.org:9618", other], ["a.example.org:9618", FP]]);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/home/.condor`)).mode! & 0o777, 0o700);
    const text = await Deno.readTextFile(file);
    assert.match(text, /^# /);
    assert.equal(text.split("\n").filter((l) => l.startsWith("a.example.org")).length, 1);
  });
});

Deno.test("readKnownHosts() ignores comments and malformed lines, and a missing file is empty", async () => {
  await withTempDir(async (dir) => {
    assert.equal((await readKnownHosts(`${dir}/missing`)).size, 0);
    await Deno.writeTextFile(
      `${dir}/kh`,
      `# comment\n\nbad-line\nx.example.org:1 not-a-fingerprint\nY.example.org:2 ${FP.toLowerCase()}\n`,
    );
    assert.deepEqual([...await readKnownHosts(`${dir}/kh`)], [["y.example.org:2", FP]]);
  });
});

Deno.test("rememberKnownHost() refuses to write through a symlink", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/target`, "keep\n");
    await Deno.symlink(`${dir}/target`, `${dir}/kh`);
    await assert.rejects(
      rememberKnownHost(`${dir}/kh`, "a:1", FP),
      (err) => err instanceof TrustError && err.code === "TRUST_KNOWN_HOSTS_IO",
    );
    assert.equal(await Deno.readTextFile(`${dir}/target`), "keep\n");
  });
});
