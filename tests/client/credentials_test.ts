import assert from "node:assert/strict";
import type { DaemonInfo } from "../../src/api/protocol.ts";
import { DaemonError } from "../../src/errors.ts";
import { DEFAULT_EXCLUDED_FILE_NAMES } from "../../src/config/condor_config.ts";
import { findCredential, tokenDirectoriesFor } from "../../src/client/credentials.ts";
import { decodeToken, mintToken, verifyToken } from "../../src/token/idtoken.ts";
import { readSigningKey } from "../../src/token/signing_key.ts";
import { writeTokenToDirectory } from "../../src/token/token_file.ts";
import { VECTOR_KEY_FILE, withTempDir, writeKeyFile } from "../_support/temp.ts";

const INFO: DaemonInfo = {
  version: "test",
  trustDomain: "pool.example.org",
  issuerKeys: ["POOL"],
  name: "cm.example.org",
  type: "COLLECTOR",
};
const NOW = 1_700_000_000_000;

async function keyIn(dir: string) {
  await writeKeyFile(`${dir}/POOL`, VECTOR_KEY_FILE);
  return { poolKeyFile: `${dir}/POOL`, passwordDirectory: dir };
}

async function token(dir: string, claims: { iss?: string; exp?: number; kid?: string }) {
  const keys = await keyIn(dir);
  const key = await readSigningKey("POOL", keys);
  const { token } = await mintToken(
    claims.kid ? { ...key, kid: claims.kid } : key,
    {
      identity: "alice@pool.example.org",
      issuer: claims.iss ?? INFO.trustDomain,
      now: NOW / 1000 - 100,
      lifetime: claims.exp,
    },
  );
  return token;
}

Deno.test("findCredential() picks the first token issued by the daemon's trust domain with a key it holds", async () => {
  await withTempDir(async (dir) => {
    const tokens = `${dir}/tokens.d`;
    await writeTokenToDirectory(
      tokens,
      "a_other_pool",
      await token(dir, { iss: "other.example.org" }),
    );
    await writeTokenToDirectory(tokens, "b_other_key", await token(dir, { kid: "SITEKEY" }));
    await writeTokenToDirectory(tokens, "c_expired", await token(dir, { exp: 50 }));
    const good = await token(dir, {});
    await writeTokenToDirectory(tokens, "d_good", good);
    const found = await findCredential(INFO, { tokenDirectories: [tokens], now: () => NOW });
    assert.deepEqual(found, {
      token: good,
      identity: "alice@pool.example.org",
      from: `the token in ${tokens}/d_good line 1`,
    });
  });
});

Deno.test("findCredential() skips the files HTCondor skips (#old, .hidden, x~) as it reads a token directory", async () => {
  await withTempDir(async (dir) => {
    const tokens = `${dir}/tokens.d`;
    const good = await token(dir, {});
    for (const name of ["#old", ".hidden", "admin~", "x.rpmsave"]) {
      await writeTokenToDirectory(tokens, name, good);
    }
    const options = {
      tokenDirectories: [tokens],
      now: () => NOW,
      exclude: DEFAULT_EXCLUDED_FILE_NAMES,
    };
    const none = await findCredential(INFO, options).catch((e) => e);
    assert.ok(none instanceof DaemonError && none.code === "DAEMON_NO_CREDENTIALS", String(none));
    await writeTokenToDirectory(tokens, "admin", good);
    assert.equal((await findCredential(INFO, options)).from, `the token in ${tokens}/admin line 1`);
  });
});

Deno.test("findCredential() says when a token file for someone else wins over a readable signing key", async () => {
  await withTempDir(async (dir) => {
    const tokens = `${dir}/tokens.d`;
    await writeTokenToDirectory(tokens, "t1", await token(dir, {}));
    const warnings: string[] = [];
    const found = await findCredential(INFO, {
      tokenDirectories: [tokens],
      keys: await keyIn(dir),
      now: () => NOW,
      warn: (message) => void warnings.push(message),
    });
    assert.equal(found.identity, "alice@pool.example.org");
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /^authenticating as alice@pool\.example\.org with the token in .*\/t1 line 1, although the signing key .*\/POOL is readable here and would act as condor@pool\.example\.org/,
    );
  });
});

Deno.test("findCredential() warns of each token file it skips as unsafe, and still finds a safe one", async () => {
  await withTempDir(async (dir) => {
    const tokens = `${dir}/tokens.d`;
    const good = await token(dir, {});
    await writeTokenToDirectory(tokens, "a_open", good);
    await Deno.chmod(`${tokens}/a_open`, 0o640);
    await Deno.symlink(`${tokens}/a_open`, `${tokens}/b_link`);
    await writeTokenToDirectory(tokens, "c_good", good);
    const warnings: string[] = [];
    const found = await findCredential(INFO, {
      tokenDirectories: [tokens],
      now: () => NOW,
      warn: (message) => void warnings.push(message),
    });
    assert.equal(found.token, good);
    assert.equal(warnings.length, 2);
    assert.match(
      warnings[0],
      /^Ignoring token file .*\/a_open: mode 0640 lets other users read it/,
    );
    assert.match(warnings[1], /^Ignoring token file .*\/b_link: it is a symbolic link/);
  });
});

Deno.test("findCredential() mints a short condor@TRUST_DOMAIN token when only the signing key is readable", async () => {
  await withTempDir(async (dir) => {
    const keys = await keyIn(dir);
    const found = await findCredential(INFO, {
      tokenDirectories: [`${dir}/none`],
      keys,
      now: () => NOW,
    });
    assert.equal(found.identity, "condor@pool.example.org");
    assert.match(found.from, /minted with signing key .*\/POOL$/);
    const verified = await verifyToken(found.token, () => readSigningKey("POOL", keys), {
      issuer: INFO.trustDomain,
      now: NOW / 1000,
    });
    assert.equal(verified.claims.sub, "condor@pool.example.org");
    assert.equal(verified.claims.exp! - verified.claims.iat, 300);
    assert.equal((decodeToken(found.token).header as { kid: string }).kid, "POOL");
  });
});

Deno.test("findCredential() says how to get a credential when there is none", async () => {
  await withTempDir(async (dir) => {
    const err = await findCredential(INFO, {
      tokenDirectories: [`${dir}/none`],
      keys: { poolKeyFile: `${dir}/missing`, passwordDirectory: dir },
      now: () => NOW,
    }).catch((e) => e);
    assert.ok(err instanceof DaemonError);
    assert.equal(err.code, "DAEMON_NO_CREDENTIALS");
    assert.match(err.message, /condor_token_fetch|condor_token_request/);
  });
});

Deno.test("tokenDirectoriesFor() adds the system directory for root only", () => {
  assert.deepEqual(tokenDirectoriesFor("/u", "/sys", 1000), ["/u"]);
  assert.deepEqual(tokenDirectoriesFor("/u", "/sys", 0), ["/u", "/sys"]);
  assert.deepEqual(tokenDirectoriesFor(undefined, "/sys", null), []);
});
