/**
 * condor_token_request_approve -watch as shipped (a subprocess with the
 * binary's permission flags) against a real daemon over HTTPS on loopback:
 * -json prints each request as it arrives, Ctrl-C (SIGINT) ends it with
 * exit 0 and no stack trace; without a terminal it will not ask; an
 * identity that is not an administrator is refused.
 */
import assert from "node:assert/strict";
import { spawnTool } from "../_support/run_tool.ts";
import { firstLine, id, withFixture } from "./_admin_tools.ts";

/** Reads a child's stdout line by line. */
function lines(child: Deno.ChildProcess): { next(timeoutMs?: number): Promise<string> } {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!buffer.includes("\n")) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) =>
            timer = setTimeout(
              () => reject(new Error("no line in time")),
              Math.max(0, deadline - Date.now()),
            )
          ),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error(`stdout ended; had ${JSON.stringify(buffer)}`);
        buffer += chunk.value;
      }
      const at = buffer.indexOf("\n");
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      return line;
    },
  };
}

Deno.test("condor_token_request_approve -json -watch prints each request as it comes, and SIGINT ends it with exit 0", async () => {
  await withFixture(async (f) => {
    const before = await f.enqueue({ identity: id("alice"), clientId: "before-watch" });
    const child = spawnTool("condor_token_request_approve", ["-watch", "-json"], {
      env: f.keyEnv,
    });
    const stderr = new Response(child.stderr).text();
    try {
      const out = lines(child);
      const first = JSON.parse(await out.next());
      assert.equal(first.RequestId, before.requestId);
      assert.equal(first.ClientId, "before-watch");
      for (const name of ["one", "two"]) {
        const started = performance.now();
        const request = await f.enqueue({ identity: id(name), clientId: `${name}-host` });
        const shown = JSON.parse(await out.next());
        const latency = performance.now() - started;
        assert.equal(shown.RequestId, request.requestId);
        assert.equal(shown.RequestedIdentity, id(name));
        assert.equal(typeof shown.requestedAt, "number");
        // A long poll, not a 5-second poll.
        assert.ok(latency < 3_000, `request -> line: ${latency} ms`);
      }
      // Watching approves nothing.
      assert.equal((await f.collect(before.requestId, before.secret)).state, "pending");
      child.kill("SIGINT");
      const status = await child.status;
      const err = await stderr;
      assert.equal(status.code, 0, err);
      assert.match(
        err,
        /^Watching https:\/\/127\.0\.0\.1:\d+ for token requests; press Ctrl-C to stop\.\n/,
      );
      assert.match(err, /Stopped watching\.\n$/);
      assert.doesNotMatch(err, /error|\n {4}at /i);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
      await stderr;
    }
  });
});

Deno.test("condor_token_request_approve -watch asks on a terminal only, and only for an administrator", async () => {
  await withFixture(async (f) => {
    const noTerminal = await f.run("condor_token_request_approve", ["-watch"], f.keyEnv, "yes\n");
    assert.equal(noTerminal.code, 2, noTerminal.stderr);
    assert.equal(
      noTerminal.stderr,
      "condor_token_request_approve: Cannot watch for requests to approve: standard input is " +
        "not a terminal to ask on; use -json to print each new request as a JSON line instead\n",
    );
    const alice = await f.userEnv(id("alice"), [], 600);
    const refused = await f.run("condor_token_request_approve", ["-watch", "-json"], alice);
    assert.equal(refused.code, 9, refused.stderr);
    assert.match(
      firstLine(refused.stderr),
      /^condor_token_request_approve: Cannot watch token requests at https:\/\/127\.0\.0\.1:\d+: "alice@[^"]+" does not have ADMINISTRATOR authorization/,
    );
    assert.equal(
      JSON.parse(refused.stdout).code,
      "NOT_AUTHORIZED",
      "-json says the failure on stdout too",
    );
    const mixed = await f.run("condor_token_request_approve", ["-watch", "-yes"], f.keyEnv);
    assert.equal(mixed.code, 2);
    assert.match(firstLine(mixed.stderr), /-watch does not go with -reqid or -yes/);
  });
});
