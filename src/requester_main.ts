/**
 * The `condor_token_request` binary's entry: runs the requester with the
 * whole command line, no tool name needed. It imports the requester alone,
 * never the tool registry, so none of the daemon's code (server, SQLite,
 * X.509 issuing) lands in the small client binary. Like main.ts, it is a
 * place allowed to call Deno.exit.
 */
import { condorTokenRequest } from "./cli/condor_token_request.ts";
import { EXIT } from "./cli/exit_codes.ts";
import { interruptSignal } from "./cli/interrupt_signal.ts";
import { processIo } from "./cli/io.ts";
import { isVersionFlag, versionLine } from "./cli/version.ts";

/** Runs condor_token_request with `args`; resolves to the exit code. */
export async function runRequester(args: readonly string[], signal: AbortSignal): Promise<number> {
  const io = processIo(signal);
  if (isVersionFlag(args[0])) {
    await io.out(versionLine());
    return EXIT.OK;
  }
  return await condorTokenRequest.main(args, io);
}

if (import.meta.main) {
  Deno.exit(await runRequester(Deno.args, interruptSignal()));
}
