/**
 * Opens COUNT idle TCP connections to 127.0.0.1:PORT from LOCAL_ADDRESS and
 * holds them, in a process of its own so that the test's own file limit is
 * not what runs out (run it under `ulimit -n` high enough). node:net, since
 * Deno.connect cannot choose its source address.
 *
 *     deno run --allow-net _idle_connections.ts PORT COUNT LOCAL_ADDRESS
 *
 * Once every connection is made and a moment has passed, prints one JSON
 * line `{ "opened": N, "failed": F, "closedByServer": C }`; then holds them
 * until stdin closes, closes them all, and exits.
 */
import * as net from "node:net";

const [port, count, localAddress] = [Number(Deno.args[0]), Number(Deno.args[1]), Deno.args[2]];
const sockets: net.Socket[] = [];
let failed = 0;
let closedByServer = 0;
let closing = false;
await Promise.all(Array.from({ length: count }, () =>
  new Promise<void>((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    socket.on("connect", () => resolve());
    socket.on("error", () => {
      failed++;
      resolve();
    });
    socket.on("close", () => {
      if (!closing) closedByServer++;
    });
    sockets.push(socket);
  })));
// Let the server refuse what it refuses.
await new Promise((resolve) => setTimeout(resolve, 500));
console.log(JSON.stringify({ opened: count - failed, failed, closedByServer }));
for await (const _ of Deno.stdin.readable);
closing = true;
await Promise.all(sockets.map((socket) =>
  new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once("close", () => resolve());
    socket.destroy();
  })
));
