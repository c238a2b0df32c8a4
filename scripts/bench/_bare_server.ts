/**
 * The throughput baseline: a bare `Deno.serve` over TLS on 127.0.0.1 that
 * answers every request with the same small JSON body. A request with a body
 * (the load generator's "post" mode sends an enqueue's) is read and parsed as
 * JSON first, as any handler of a JSON API must: the baseline for the
 * daemon's POSTs does the same HTTP and parsing work, and nothing else.
 *
 *     deno run --allow-net --allow-read scripts/bench/_bare_server.ts CERT.pem KEY.pem
 *
 * Prints its port on stdout, then serves until killed (SIGTERM) or until
 * stdin closes, so it never outlives the benchmark that started it.
 */
const [certFile, keyFile] = Deno.args;
if (!certFile || !keyFile) throw new Error("usage: _bare_server.ts CERT.pem KEY.pem");

const body = JSON.stringify({ requestId: "0000000", state: "pending", expiresAt: 0 });
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  cert: await Deno.readTextFile(certFile),
  key: await Deno.readTextFile(keyFile),
  onListen: ({ port }) => console.log(port),
}, async (req) => {
  if (req.body !== null) await req.json();
  return new Response(body, {
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
});
// Stop when the parent goes away.
for await (const _ of Deno.stdin.readable);
await server.shutdown();
