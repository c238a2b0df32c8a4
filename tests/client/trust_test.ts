import assert from "node:assert/strict";
import { DaemonError, TrustError } from "../../src/errors.ts";
import { withDaemon } from "../_support/daemon.ts";
import { certificateCoversHost } from "../../src/client/_host_names.ts";
import { httpsClient } from "../../src/client/connect.ts";
import {
  knownHostKey,
  readHtcondorKnownHost,
  readKnownHosts,
  rememberKnownHost,
} from "../../src/client/known_hosts.ts";
import {
  fingerprintOf,
  parseFingerprint,
  type TrustJudgement,
  type TrustPolicy,
  type TrustQuestion,
  TrustSessions,
} from "../../src/client/trust.ts";
import { closedPort } from "../_support/ports.ts";
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

// Against a real daemon's self-signed certificate.

Deno.test("the trust decision verifies a certificate signed by a CA in AUTH_SSL_CLIENT_CAFILE as usual", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const decision = await decideTrust(new URL(daemon.url), {
        ...policy(dir),
        caPem: daemon.certPem,
      });
      assert.equal(decision.basis, "ca");
      assert.equal(decision.fingerprint, daemon.fingerprint);
      assert.equal(decision.remembered, undefined);
      await assert.rejects(Deno.stat(`${dir}/known_hosts`), Deno.errors.NotFound);
    });
  });
});

Deno.test("the trust decision refuses an unknown self-signed daemon without a terminal, naming its fingerprint", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const err = await decideTrust(new URL(daemon.url), policy(dir)).catch((e) => e);
      assert.ok(err instanceof TrustError);
      assert.equal(err.code, "TRUST_UNKNOWN");
      assert.ok(err.message.includes(`-trust ${daemon.fingerprint}`));
      await assert.rejects(Deno.stat(`${dir}/known_hosts`), Deno.errors.NotFound);
    });
  });
});

Deno.test("the trust decision trusts a pinned daemon, remembers it, and then knows it without the pin", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const url = new URL(daemon.url);
      const first = await decideTrust(url, { ...policy(dir), pins: [daemon.fingerprint] });
      assert.deepEqual([first.basis, first.remembered], ["pinned", `${dir}/known_hosts`]);
      assert.equal(
        (await readKnownHosts(`${dir}/known_hosts`)).get(knownHostKey(url)),
        daemon.fingerprint,
      );

      const client = httpsClient(url, new TrustSessions(policy(dir)));
      try {
        // The connection that carries the call is the one judged.
        assert.equal((await client.info()).trustDomain, "tokend-test.example.org");
        assert.equal(client.trusted()?.basis, "known_host");
      } finally {
        client.close();
      }
    });
  });
});

Deno.test("the trust decision refuses loudly when a known daemon's certificate changed", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const url = new URL(daemon.url);
      await rememberKnownHost(`${dir}/known_hosts`, knownHostKey(url), FP);
      const err = await decideTrust(url, { ...policy(dir), ask: () => Promise.resolve(true) })
        .catch((e) => e);
      assert.ok(err instanceof TrustError);
      assert.equal(err.code, "TRUST_CHANGED");
      assert.ok(err.message.includes(FP) && err.message.includes(daemon.fingerprint));
      assert.ok(err.message.includes(`${dir}/known_hosts`));
      assert.equal((await readKnownHosts(`${dir}/known_hosts`)).get(knownHostKey(url)), FP);
    });
  });
});

Deno.test("the trust decision lets an explicit pin replace a changed known-hosts entry, and says so", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const url = new URL(daemon.url);
      await rememberKnownHost(`${dir}/known_hosts`, knownHostKey(url), FP);
      const decision = await decideTrust(url, { ...policy(dir), pins: [daemon.fingerprint] });
      assert.deepEqual([decision.basis, decision.replaced], ["pinned", FP]);
      assert.equal(
        (await readKnownHosts(`${dir}/known_hosts`)).get(knownHostKey(url)),
        daemon.fingerprint,
      );
    });
  });
});

Deno.test("the trust decision refuses a daemon matching none of the pins given", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const err = await decideTrust(new URL(daemon.url), { ...policy(dir), pins: [FP] }).catch((
        e,
      ) => e);
      assert.ok(err instanceof TrustError);
      assert.equal(err.code, "TRUST_PIN_MISMATCH");
      assert.ok(err.message.includes(daemon.fingerprint));
    });
  });
});

Deno.test("the trust decision asks on a terminal and remembers only a yes", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const url = new URL(daemon.url);
      const asked: TrustQuestion[] = [];
      const no = await decideTrust(url, {
        ...policy(dir),
        ask: (q) => (asked.push(q), Promise.resolve(false)),
      }).catch((e) => e);
      assert.ok(no instanceof TrustError && no.code === "TRUST_REFUSED");
      assert.equal((await readKnownHosts(`${dir}/known_hosts`)).size, 0);
      assert.equal(asked[0].fingerprint, daemon.fingerprint);
      assert.ok(asked[0].names.includes("127.0.0.1"));

      const yes = await decideTrust(url, { ...policy(dir), ask: () => Promise.resolve(true) });
      assert.deepEqual([yes.basis, yes.remembered], ["accepted", `${dir}/known_hosts`]);
    });
  });
});

Deno.test("the trust decision trusts a host HTCondor's own tools were told to trust in known_hosts", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      const url = new URL(daemon.url);
      const der = pemToDer(daemon.certPem);
      // HTCondor's lines: `[!]HOST SSL BASE64-DER`, the first for the host deciding.
      await Deno.writeTextFile(
        `${dir}/known_hosts`,
        `# HTCondor\nother.example.org SSL ${btoa("x")}\n${url.hostname} SSL ${base64(der)}\n`,
      );
      const decision = await decideTrust(url, policy(dir));
      assert.equal(decision.basis, "known_host");
      assert.equal(decision.fingerprint, daemon.fingerprint);

      // Seen but not trusted by HTCondor's tool (a `!` line): not trusted here either.
      await Deno.writeTextFile(`${dir}/known_hosts`, `!${url.hostname} SSL ${base64(der)}\n`);
      const seen = await decideTrust(url, policy(dir)).catch((e) => e);
      assert.ok(seen instanceof TrustError);
      assert.equal(seen.code, "TRUST_UNKNOWN");

      // Trusted for another certificate: a changed certificate, refused.
      const other = der.slice();
      other[other.length - 1] ^= 1;
      await Deno.writeTextFile(`${dir}/known_hosts`, `${url.hostname} SSL ${base64(other)}\n`);
      const changed = await decideTrust(url, policy(dir)).catch((e) => e);
      assert.ok(changed instanceof TrustError);
      assert.equal(changed.code, "TRUST_CHANGED");
    });
  });
});

Deno.test("readHtcondorKnownHost() reads HTCondor's first line for the host and skips ours", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/known_hosts`;
    assert.equal(await readHtcondorKnownHost(file, "cm"), undefined);
    await Deno.writeTextFile(
      file,
      `cm:9618 ${FP}\n!CM SSL ${btoa("first")}\ncm SSL ${btoa("second")}\n`,
    );
    assert.deepEqual(await readHtcondorKnownHost(file, "cm"), {
      permitted: false,
      der: new TextEncoder().encode("first"),
    });
    assert.equal(await readHtcondorKnownHost(file, "cm:9618"), undefined);
  });
});

Deno.test("the trust decision refuses a certificate that does not name the host it was reached by", async () => {
  await withTempDir(async (dir) => {
    await withDaemon({}, async ({ daemon }) => {
      // The same daemon, addressed by an IPv4-mapped IPv6 address its certificate does not list.
      const url = new URL(daemon.url);
      url.hostname = "[::ffff:127.0.0.1]";
      const err = await decideTrust(url, { ...policy(dir), pins: [daemon.fingerprint] })
        .catch((e) => e);
      assert.ok(err instanceof TrustError, String(err));
      assert.equal(err.code, "TRUST_NAME_MISMATCH");
      assert.ok(err.message.includes('"127.0.0.1"'));
    });
  });
});

Deno.test("the trust decision reports a closed port as DAEMON_UNREACHABLE", async () => {
  await assert.rejects(
    decideTrust(new URL(`https://127.0.0.1:${closedPort()}`), {
      pins: [],
      knownHostsFile: undefined,
      now: Date.now,
    }),
    (err) => err instanceof DaemonError && err.code === "DAEMON_UNREACHABLE",
  );
});

/**
 * Connects to the daemon at `url` through the real dialer (a probe
 * connection judged while connecting) and says why it was trusted.
 */
async function decideTrust(url: URL, trust: TrustPolicy): Promise<TrustJudgement> {
  const client = httpsClient(url, new TrustSessions(trust));
  try {
    await client.probe();
    return client.trusted()!;
  } finally {
    client.close();
  }
}

function policy(dir: string): TrustPolicy {
  return { pins: [], knownHostsFile: `${dir}/known_hosts`, now: () => Date.now() };
}

function pemToDer(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
