/**
 * Attack: the HTTP status line's reason phrase is the server's text too.
 * When the body is not the protocol's JSON error (a proxy, a broken daemon),
 * the refusal shows "HTTP <status> <reason>": escape sequences in it reached
 * the terminal unfiltered, while the JSON error message went through
 * printable().
 */
import assert from "node:assert/strict";
import { DaemonError } from "../../src/errors.ts";
import { pinnedHttpsClient } from "../../src/client/connect.ts";
import { createTestCa } from "../_support/test_ca.ts";

Deno.test("attack: escape sequences in an HTTP reason phrase do not reach a refusal's message", async () => {
  const ca = await createTestCa();
  const server = await ca.issue({ ips: ["127.0.0.1"] });
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.certPem,
    key: server.keyPem,
  });
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          await conn.read(new Uint8Array(4096));
          await conn.write(
            new TextEncoder().encode(
              "HTTP/1.1 503 \x1b]0;owned\x07\x1b[2J\u009b8m\u202eBusy\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
            ),
          );
        } catch {
          // the client went away
        }
        conn.close();
      })();
    }
  })();
  const client = pinnedHttpsClient(
    `https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    server.fingerprint,
  );
  try {
    const err = await client.info().then(() => undefined, (e) => e);
    assert.ok(err instanceof DaemonError, String(err));
    assert.doesNotMatch(
      err.message,
      /[\p{Cc}\u202a-\u202e]/u,
      JSON.stringify(err.message),
    );
  } finally {
    client.close();
    listener.close();
    await serving.catch(() => {});
  }
});
