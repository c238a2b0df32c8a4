/**
 * The systemd unit in packaging/systemd/ works as documented, as far as a
 * machine without a running systemd allows: `systemd-analyze verify`
 * accepts it without a word, and the daemon started the way the unit
 * starts it (its user, its environment with the specifiers filled in, the
 * POOL key copy that LoadCredential= makes, the state directory that
 * StateDirectory= makes) runs, and signs with the pool's root-owned key
 * that its user could never read itself.
 */
import assert from "node:assert/strict";
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { mintToken, verifyToken } from "../../src/token/idtoken.ts";
import { createKeyFileIfMissing, readSigningKey } from "../../src/token/signing_key.ts";
import { FULL_FLAGS } from "../../scripts/permissions.ts";
import { withTempDir } from "../_support/temp.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const UNIT = `${ROOT}packaging/systemd/condor_tokend.service`;
/** The service account in tests: nobody, as the HTCondor peer's daemons. */
const SERVICE_UID = 65534;
const TRUST_DOMAIN = "unit.example.org";

const analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find(exists);

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The unit's [Service] settings: each key's values in order. */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (section !== "Service") continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

Deno.test({
  name: "systemd-analyze verify accepts packaging/systemd/condor_tokend.service without a warning",
  ignore: analyze === undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      // Only the program must exist for verify: point ExecStart at one that does.
      const text = (await Deno.readTextFile(UNIT)).replace(
        /^ExecStart=\S+/m,
        `ExecStart=${Deno.execPath()}`,
      );
      await Deno.writeTextFile(`${dir}/condor_tokend.service`, text);
      const out = await new Deno.Command(analyze!, {
        args: ["verify", `${dir}/condor_tokend.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(said, "", said);
      assert.equal(out.code, 0);
    });
  },
});

Deno.test({
  name:
    "the unit's directives: the daemon runs as its user with the key LoadCredential= hands it and the state StateDirectory= makes",
  // Starting the daemon as another user needs root.
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o755);
      const unit = serviceSettings(await Deno.readTextFile(UNIT));
      assert.ok((unit.get("User") ?? [])[0], "the unit names its user");
      assert.equal(unit.get("LimitNOFILE")?.[0], "65536");
      // Deno's SIGUSR1 debugger must not be able to listen.
      assert.deepEqual(unit.get("SocketBindDeny"), ["tcp:9229"]);
      const [credentialId, keySource] = unit.get("LoadCredential")![0].split(":");
      const stateName = unit.get("StateDirectory")![0];
      assert.equal(unit.get("StateDirectoryMode")?.[0], "0700");

      // The pool's key where the unit's LoadCredential= expects it: root's, 0600.
      const etc = `${dir}/etc`;
      const original = `${etc}${keySource.replace(/^\/etc/, "")}`;
      await Deno.mkdir(original.slice(0, original.lastIndexOf("/")), {
        recursive: true,
        mode: 0o700,
      });
      await createKeyFileIfMissing(original);
      // What systemd does before the start: a private copy for the service's user...
      const credentials = `${dir}/run/credentials/condor_tokend.service`;
      await Deno.mkdir(credentials, { recursive: true });
      await Deno.copyFile(original, `${credentials}/${credentialId}`);
      await Deno.chmod(`${credentials}/${credentialId}`, 0o400);
      await Deno.chown(`${credentials}/${credentialId}`, SERVICE_UID, SERVICE_UID);
      await Deno.chmod(credentials, 0o500);
      await Deno.chown(credentials, SERVICE_UID, SERVICE_UID);
      await Deno.chmod(`${dir}/run`, 0o755);
      await Deno.chmod(`${dir}/run/credentials`, 0o755);
      // ...and the state directory, owned by the user, 0700.
      const stateRoot = `${dir}/var/lib`;
      await Deno.mkdir(`${stateRoot}/${stateName}`, { recursive: true, mode: 0o700 });
      await Deno.chown(`${stateRoot}/${stateName}`, SERVICE_UID, SERVICE_UID);
      await Deno.chmod(`${dir}/var`, 0o755);
      await Deno.chmod(stateRoot, 0o755);

      // The pool's configuration, readable by the service's user; the unit's
      // environment names the key and the state directory.
      const config = `${dir}/condor_config`;
      await Deno.writeTextFile(
        config,
        [
          `TRUST_DOMAIN = ${TRUST_DOMAIN}`,
          "NETWORK_INTERFACE = 127.0.0.1",
          "COLLECTOR_HOST = 127.0.0.1",
          `SEC_PASSWORD_DIRECTORY = ${etc}/condor/passwords.d`,
          "AUTH_SSL_SERVER_CERTFILE =",
          "AUTH_SSL_SERVER_KEYFILE =",
          "",
        ].join("\n"),
      );
      await Deno.chmod(config, 0o644);
      const env: Record<string, string> = {};
      for (const assignment of unit.get("Environment") ?? []) {
        const eq = assignment.indexOf("=");
        env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
          .replaceAll("%d", credentials)
          .replaceAll("%S", stateRoot);
      }
      env.CONDOR_CONFIG = config;

      // The bundle the binary embeds, where the service's user can read it.
      const dist = `${dir}/dist`;
      const build = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "-A", `${ROOT}scripts/build.ts`, "--bundle-only", "--out", dist],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
      const bundle = [...Deno.readDirSync(dist)].map((d) => `${dist}/${d.name}/bundle`)[0];
      await Deno.chmod(dist, 0o755);
      for (const d of Deno.readDirSync(dist)) await Deno.chmod(`${dist}/${d.name}`, 0o755);
      await Deno.chmod(bundle, 0o755);
      await Deno.chmod(`${bundle}/condor_token.js`, 0o644);
      await Deno.mkdir(`${dir}/deno-dir`, { mode: 0o777 });
      await Deno.chmod(`${dir}/deno-dir`, 0o777);

      const daemon = new Deno.Command(Deno.execPath(), {
        args: ["run", ...FULL_FLAGS, `${bundle}/condor_token.js`, "condor_tokend", "-port", "0"],
        env: { ...env, DENO_DIR: `${dir}/deno-dir`, NO_COLOR: "1" },
        clearEnv: true,
        uid: SERVICE_UID,
        gid: SERVICE_UID,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let log = "";
      const reading = (async () => {
        for await (const chunk of daemon.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
      })();
      try {
        const deadline = Date.now() + 20_000;
        while (!/listening on (https:\S+)[\s\S]*SHA-256 fingerprint: (\S+)/.test(log)) {
          assert.ok(Date.now() < deadline, `the daemon did not start:\n${log}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const [, url, fingerprint] = /listening on (https:\S+)[\s\S]*SHA-256 fingerprint: (\S+)/
          .exec(log)!;
        assert.doesNotMatch(log, /WARNING: created a new POOL/);
        // Its state went where StateDirectory= put it, private to its user.
        const db = await Deno.stat(`${stateRoot}/${stateName}/tokend.sqlite`);
        assert.equal(db.uid, SERVICE_UID);
        assert.equal(db.mode! & 0o077, 0);

        // A token it issues verifies with the pool's original, root-only key.
        const key = await readSigningKey("POOL", {
          poolKeyFile: original,
          passwordDirectory: `${etc}/condor/passwords.d`,
        });
        const admin = (await mintToken(key, {
          identity: `condor@${TRUST_DOMAIN}`,
          issuer: TRUST_DOMAIN,
          now: Math.floor(Date.now() / 1000),
          lifetime: 300,
        })).token;
        const client = pinnedHttpsClient(url, fingerprint, {
          credential: () => Promise.resolve(admin),
        });
        try {
          await client.autoApprove("127.0.0.1/32", 600);
          const reply = await client.enqueue({
            identity: `condor@${TRUST_DOMAIN}`,
            authz: ["ADVERTISE_STARTD"],
            lifetime: 600,
            clientId: "unit-test",
            secret: crypto.randomUUID() + crypto.randomUUID(),
          });
          assert.ok(reply.token, "auto-approved at once");
          const verified = await verifyToken(reply.token!, () => Promise.resolve(key), {
            issuer: TRUST_DOMAIN,
            now: Math.floor(Date.now() / 1000),
          });
          assert.equal(verified.claims.sub, `condor@${TRUST_DOMAIN}`);
        } finally {
          client.close();
        }
      } finally {
        daemon.kill("SIGTERM");
        await daemon.status;
        await reading;
      }
    });
  },
});
