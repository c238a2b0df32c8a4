/**
 * Turns the user's interrupt into an abort signal, shared by every program
 * entry (main.ts and the requester's own entry) so each installs it once.
 */

/**
 * An abort signal fired by the first SIGINT or SIGTERM, its reason naming the
 * signal. Tools with something to undo (a pending request) listen to it; a
 * second signal then kills the process the default way.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => {
    const handler = () => {
      signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
      controller.abort(sig);
    };
    Deno.addSignalListener(sig, handler);
    return handler;
  });
  return controller.signal;
}
