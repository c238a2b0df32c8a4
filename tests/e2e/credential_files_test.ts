/**
 * Files that grant power, as a tired administrator leaves them: a token
 * file for someone else next to a readable signing key, an old
 * administrator token renamed `#old`, a token directory other users can
 * write into. The tools say who they act as, read token directories as
 * HTCondor does, and refuse to write a token where another user could
 * replace it.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../src/cli/exit_codes.ts";
import { runTool } from "../_support/run_tool.ts";
import { id, withFixture } from "./_admin_tools.ts";

Deno.test("a token file for another identity wins over the readable signing key, and the tool says so", async () => {
  await withFixture(async (f) => {
    const pending = await f.enqueue({ identity: id("bob") });
    // As a new user would: a token for alice made with the key this user can also read.
    const create = await f.run("condor_token_create", ["-identity", id("alice"), "-token", "t1"], {
      ...f.keyEnv,
      _CONDOR_SEC_TOKEN_DIRECTORY: `${f.dir}/mine`,
    });
    assert.equal(create.code, EXIT.OK, create.stderr);
    const env = { ...f.keyEnv, _CONDOR_SEC_TOKEN_DIRECTORY: `${f.dir}/mine` };
    const list = await f.run("condor_token_request_list", [], env);
    assert.equal(list.code, EXIT.OK, list.stderr);
    assert.equal(list.stdout, "");
    const lines = list.stderr.trimEnd().split("\n");
    assert.match(
      lines[0],
      /^condor_token_request_list: authenticating as alice@\S+ with the token in .*\/mine\/t1 line 1, although the signing key .*\/POOL is readable here and would act as condor@/,
    );
    assert.match(
      lines[1],
      /^Remote daemon reports no requests pending \(asked as alice@\S+ \(the token in .*\/mine\/t1 line 1\)\)\.$/,
    );
    const approve = await f.run("condor_token_request_approve", [
      "-reqid",
      pending.requestId,
      "-yes",
    ], env);
    assert.equal(approve.code, EXIT.NOT_AUTHORIZED);
    assert.match(
      approve.stderr,
      /insufficient privilege for alice@\S+ \(the token in .*\/t1 line 1\)/,
    );
  });
});

Deno.test("an administrator token left as tokens.d/#old (or x~, .hidden) is neither used nor listed", async () => {
  await withFixture(async (f) => {
    const env = await f.tokenEnv("#old", f.daemon.adminToken);
    const tokens = env._CONDOR_SEC_TOKEN_DIRECTORY;
    await Deno.writeTextFile(`${tokens}/admin~`, f.daemon.adminToken + "\n", { mode: 0o600 });
    await Deno.writeTextFile(`${tokens}/.hidden`, f.daemon.adminToken + "\n", { mode: 0o600 });
    const list = await f.run("condor_token_request_list", [], env);
    assert.equal(list.code, EXIT.NOT_AUTHORIZED, list.stderr);
    assert.match(list.stderr, /no token in .* was issued by it/);
    const shown = await f.run("condor_token_list", [], env);
    assert.equal(shown.code, EXIT.OK, shown.stderr);
    assert.equal(shown.stdout, "");
    const dir = await f.run("condor_token_list", ["-dir", tokens], env);
    assert.equal(dir.stdout, "", "HTCondor's default exclusions apply to -dir too");
  });
});

for (
  const [what, prepare, words] of [
    [
      "writable by everyone, owned by another user",
      async (tokens: string) => {
        await Deno.mkdir(tokens, { mode: 0o777 });
        await Deno.chmod(tokens, 0o777);
        if (Deno.uid() === 0) await Deno.chown(tokens, 65534, 65534);
      },
      /has mode 0777, writable by other users.*another user could replace or remove the file/,
    ],
    [
      "owned by another user",
      async (tokens: string) => {
        await Deno.mkdir(tokens, { mode: 0o755 });
        await Deno.chown(tokens, 65534, 65534);
      },
      /is owned by uid 65534, not by this user/,
    ],
    [
      "a symbolic link",
      async (tokens: string) => {
        await Deno.mkdir(`${tokens}.real`, { mode: 0o700 });
        await Deno.symlink(`${tokens}.real`, tokens);
      },
      /is a symbolic link/,
    ],
  ] as const
) {
  Deno.test({
    name: `condor_token_request refuses, before asking, a token directory that is ${what}`,
    ignore: Deno.build.os === "windows" || (what === "owned by another user" && Deno.uid() !== 0),
    fn: async () => {
      await withFixture(async (f) => {
        const tokens = `${f.dir}/shared-tokens`;
        await prepare(tokens);
        const r = await runTool("condor_token_request", ["-token", "startd"], {
          env: { ...f.keyEnv, _CONDOR_SEC_TOKEN_DIRECTORY: tokens },
          requesterFlags: true,
        });
        assert.equal(r.code, EXIT.FAILURE, r.stderr);
        assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, words);
        const admin = await f.run("condor_token_request_list", [], f.keyEnv);
        assert.equal(admin.stdout, "", "nothing was requested");
      });
    },
  });
}

Deno.test("on the daemon's host, an administrator's tool trusts the daemon's own certificate file without a prompt", async () => {
  await withFixture(async (f) => {
    // No CA file, no pin, no known_hosts: only the daemon's own file vouches.
    const env = { ...f.keyEnv, _CONDOR_AUTH_SSL_CLIENT_CAFILE: "" };
    const r = await f.run("condor_token_request_list", ["-debug"], env);
    assert.equal(r.code, EXIT.OK, r.stderr);
    assert.match(
      r.stderr,
      /its certificate is the one in .*\/tokend_cert\.pem, the daemon's own file/,
    );
    // A certificate file another user could have written vouches for nothing.
    const certFile = r.stderr.match(/the one in (\S+tokend_cert\.pem)/)![1];
    await Deno.chmod(certFile, 0o666);
    const open = await f.run("condor_token_request_list", [], env);
    assert.equal(open.code, EXIT.UNTRUSTED, open.stderr);
  });
});
