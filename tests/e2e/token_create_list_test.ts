/**
 * condor_token_create and condor_token_list end to end: main.ts as a
 * subprocess with the shipped binary's permission flags and a real
 * configuration, key file and token directory.
 */
import assert from "node:assert/strict";
import { referenceKey, referenceVerify } from "../_support/reference_idtoken.ts";
import { runTool } from "../_support/run_tool.ts";
import { VECTOR_KEY_FILE, withTempDir, writeKeyFile } from "../_support/temp.ts";

/** A pool configuration in `dir`: key files, trust domain, token directory. */
async function pool(dir: string, extra = ""): Promise<Record<string, string>> {
  await Deno.mkdir(`${dir}/passwords.d`, { mode: 0o700 });
  await writeKeyFile(`${dir}/passwords.d/POOL`, VECTOR_KEY_FILE);
  await writeKeyFile(`${dir}/passwords.d/SITE`, VECTOR_KEY_FILE);
  await Deno.writeTextFile(
    `${dir}/condor_config`,
    [
      `SEC_PASSWORD_DIRECTORY = ${dir}/passwords.d`,
      `SEC_TOKEN_POOL_SIGNING_KEY_FILE = $(SEC_PASSWORD_DIRECTORY)/POOL`,
      `TRUST_DOMAIN = pool.example.org`,
      `SEC_TOKEN_DIRECTORY = ${dir}/tokens.d`,
      extra,
    ].join("\n") + "\n",
  );
  return { CONDOR_CONFIG: `${dir}/condor_config`, HOME: `${dir}/home` };
}

Deno.test("condor_token_create prints a token real IDTOKENS verifiers accept, and nothing else", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    const before = Math.floor(Date.now() / 1000);
    const r = await runTool(
      "condor_token_create",
      ["-identity", "alice@example.org", "-lifetime", "600", "-authz", "READ", "-authz", "WRITE"],
      { env },
    );
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { header, payload } = referenceVerify(
      referenceKey(VECTOR_KEY_FILE, true),
      r.stdout.trim(),
    );
    assert.deepEqual(header, { alg: "HS256", kid: "POOL" });
    assert.equal(payload.iss, "pool.example.org");
    assert.equal(payload.sub, "alice@example.org");
    assert.equal(payload.scope, "condor:/READ condor:/WRITE");
    assert.equal((payload.exp as number) - (payload.iat as number), 600);
    assert.ok((payload.iat as number) >= before);
    assert.match(payload.jti as string, /^[0-9a-f]{32}$/);
  });
});

Deno.test("condor_token_create reads a configuration shared with HTCondor that uses if version", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(
      dir,
      [
        "if version >= 9.0",
        "  TRUST_DOMAIN = modern.example.org",
        "else",
        "  TRUST_DOMAIN = ancient.example.org",
        "endif",
      ].join("\n"),
    );
    const r = await runTool("condor_token_create", ["-identity", "alice@example.org"], { env });
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const { payload } = referenceVerify(referenceKey(VECTOR_KEY_FILE, true), r.stdout.trim());
    assert.equal(payload.iss, "modern.example.org");
  });
});

Deno.test("condor_token_create accepts HTCondor's prefix abbreviations and -key for a named key", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    const r = await runTool(
      "condor_token_create",
      ["-id", "bob@example.org", "-k", "SITE", "-a", "read", "-li", "5"],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    const { header, payload } = referenceVerify(
      referenceKey(VECTOR_KEY_FILE, false),
      r.stdout.trim(),
    );
    assert.equal(header.kid, "SITE");
    assert.equal(payload.scope, "condor:/READ");
    assert.equal(payload.exp, (payload.iat as number) + 5);
  });
});

Deno.test("condor_token_create -token stores a 0600 file in a 0700 directory and prints nothing", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    const r = await runTool("condor_token_create", ["-identity", "a@b", "-token", "mine"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const path = `${dir}/tokens.d/mine`;
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/tokens.d`)).mode! & 0o777, 0o700);
    const token = (await Deno.readTextFile(path)).trim();
    assert.equal(referenceVerify(referenceKey(VECTOR_KEY_FILE, true), token).payload.sub, "a@b");

    const f = await runTool("condor_token_create", [
      "-identity",
      "c@d",
      "-file",
      `${dir}/elsewhere`,
    ], {
      env,
    });
    assert.equal(f.code, 0, f.stderr);
    assert.equal((await Deno.stat(`${dir}/elsewhere`)).mode! & 0o777, 0o600);
  });
});

Deno.test("condor_token_create rejects bad command lines with one line plus usage and exit 2", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    const cases: [string[], RegExp][] = [
      [[], /-identity is required/],
      [["-identity"], /-identity requires a value/],
      [["-identity", "a@b", "-lifetime", "-5"], /-lifetime: "-5"/],
      [["-identity", "a@b", "-lifetime", "ten"], /-lifetime: "ten"/],
      [["-identity", "a@b", "-authz", "BOGUS"], /-authz: "BOGUS"/],
      [["-identity", "a@b", "-bogus"], /Invalid command line argument: -bogus/],
      [["-identity", "a@b", "-token", "../x"], /plain file name/],
      [["-identity", "a@b", "-token", "x", "-file", "y"], /cannot be used together/],
    ];
    for (const [args, message] of cases) {
      const r = await runTool("condor_token_create", args, { env });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, message);
      assert.match(r.stderr, /Usage: condor_token_create/);
    }
  });
});

Deno.test("condor_token_create names the key file and its mode when the key is insecure", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    await Deno.chmod(`${dir}/passwords.d/POOL`, 0o644);
    const r = await runTool("condor_token_create", ["-identity", "a@b"], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.includes(`${dir}/passwords.d/POOL`) && r.stderr.includes("0644"), r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
});

Deno.test("condor_token_create refuses a key name with a path before opening anything", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    const r = await runTool("condor_token_create", [
      "-identity",
      "a@b",
      "-key",
      "../passwords.d/POOL",
    ], {
      env,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /plain file name/);
  });
});

Deno.test("condor_token_create -help prints usage on stdout and exits 0", async () => {
  const r = await runTool("condor_token_create", ["-help"], {});
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: condor_token_create/);
});

Deno.test("condor_token_list prints each token's header, payload and file", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    for (const [who, name] of [["a@b", "one"], ["c@d", "two"]]) {
      const r = await runTool("condor_token_create", ["-identity", who, "-token", name], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const r = await runTool("condor_token_list", [], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(
      lines[0],
      new RegExp(
        `^Header: \\{"alg":"HS256","kid":"POOL"\\} Payload: \\{"iat":\\d+,"iss":"pool.example.org","jti":"[0-9a-f]{32}","sub":"a@b"\\} File: ${dir}/tokens.d/one$`,
      ),
    );
    assert.ok(lines[1].endsWith(`File: ${dir}/tokens.d/two`));
  });
});

Deno.test("condor_token_list -dir warns about unsafe files and undecodable lines on stderr", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    await Deno.mkdir(`${dir}/other`);
    await Deno.writeTextFile(`${dir}/other/open`, "x.y.z\n");
    await Deno.chmod(`${dir}/other/open`, 0o644);
    await Deno.writeTextFile(`${dir}/other/junk`, "# comment\nnot-a-token\n", { mode: 0o600 });
    const r = await runTool("condor_token_list", ["-dir", `${dir}/other`], { env });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`${dir}/other/open: mode 0644`));
    assert.match(r.stderr, new RegExp(`${dir}/other/junk line 2`));
  });
});

Deno.test("condor_token_list -file lists one file's tokens, and takes HTCondor's other options", async () => {
  await withTempDir(async (dir) => {
    const env = await pool(dir);
    const created = await runTool(
      "condor_token_create",
      ["-identity", "a@b", "-file", `${dir}/a.token`],
      { env },
    );
    assert.equal(created.code, 0, created.stderr);
    // Another token in the directory must not show: -file wins over the directory and -dir.
    await runTool("condor_token_create", ["-identity", "c@d", "-token", "other"], { env });
    for (
      const args of [
        ["-file", `${dir}/a.token`],
        ["-f", `${dir}/a.token`, "-dir", `${dir}/tokens.d`],
        [
          "-pool",
          "cm.example.org",
          "-name",
          "schedd@x",
          "-type",
          "schedd",
          "-fi",
          `${dir}/a.token`,
        ],
      ]
    ) {
      const r = await runTool("condor_token_list", args, { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.match(r.stdout, new RegExp(`^Header: .*"sub":"a@b".* File: ${dir}/a\\.token\n$`));
    }
    const missing = await runTool("condor_token_list", ["-file", `${dir}/nope`], { env });
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, "");
    assert.match(missing.stderr, new RegExp(`^condor_token_list: [^\n]*${dir}/nope[^\n]*\n$`));
    const badType = await runTool("condor_token_list", ["-type", "toaster"], { env });
    assert.equal(badType.code, 2);
    assert.match(badType.stderr, /^condor_token_list: Invalid value for -type: "toaster"/);
  });
});

Deno.test("condor_token_list -capability and condor_token_fetch -remote are refused in one line saying why", async () => {
  const [capability, remote] = await Promise.all([
    runTool("condor_token_list", ["-capability"]),
    runTool("condor_token_fetch", ["-r", "-name", "schedd@x"]),
  ]);
  for (
    const [r, tool, option] of [
      [capability, "condor_token_list", "capability"],
      [remote, "condor_token_fetch", "remote"],
    ] as const
  ) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      new RegExp(`^${tool}: Option -${option} is not supported here: [^\n]+\n$`),
    );
  }
});

Deno.test("main.ts lists the tools without arguments and for an unknown tool", async () => {
  const none = await runTool(undefined, []);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /condor_token_create/);
  const unknown = await runTool("condor_nope", []);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown tool "condor_nope"/);
  assert.match(unknown.stderr, /condor_token_list/);
});
