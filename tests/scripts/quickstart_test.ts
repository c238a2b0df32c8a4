/**
 * The README's first command must keep working: the quickstart runs the
 * whole flow (daemon, request, approval, token) and cleans up after itself.
 */
import assert from "node:assert/strict";

Deno.test("scripts/quickstart.ts shows a request approved and its token decoded, leaving nothing behind", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "quickstart-test-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        new URL("../../scripts/quickstart.ts", import.meta.url).pathname,
      ],
      env: { NO_COLOR: "1", TMPDIR: tmp },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stdout + stderr);
    const id = stdout.match(/approve request (\d{7})\./)?.[1];
    assert.ok(id, stdout);
    assert.match(stdout, new RegExp(`Request ${id} approved successfully\\.`));
    assert.match(stdout, /"sub": "alice@quickstart\.example"/);
    assert.match(stdout, /"scope": "condor:\/READ"/);
    assert.match(stdout, /stopped/);
    const left = [];
    for await (const entry of Deno.readDir(tmp)) left.push(entry.name);
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
