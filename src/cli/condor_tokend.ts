/** condor_tokend: the token-issuing daemon, in the foreground until SIGTERM or SIGINT. */
import { UsageError } from "../errors.ts";
import { startTokend } from "../server/tokend.ts";
import { toolConfig } from "./_config.ts";
import { parseOptions, single } from "./_options.ts";
import { type DebugOption, debugOption, debugSpec, defineTool, type Tool } from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const USAGE = `Usage: condor_tokend [-port PORT] [-f] [-debug]

Runs the token request daemon in the foreground: it accepts token requests
from hosts without an identity, lets administrators approve, deny or
auto-approve them, and issues IDTOKENS. Serves HTTPS (see docs/operations.md)
until SIGTERM or SIGINT.

Options:
    -port <PORT>  Listen on this port instead of COLLECTOR_HOST's (0 = any free
                  port; the address is written to TOKEND_ADDRESS_FILE)
    -f            Stay in the foreground (always the case; accepted for HTCondor
                  compatibility)
    -debug        Print debugging information on stderr
    -help         Print this message
`;

const SPECS = [
  { name: "port", min: 1, value: true },
  { name: "f", min: 1, value: false, exact: true },
  { name: "foreground", min: 3, value: false },
  // -d is HTCondor's daemons' "dynamic directories", so -debug needs -de.
  debugSpec(2),
  { name: "help", min: 1, value: false },
];

/** Options of condor_tokend. */
export interface TokendCliOptions {
  port: number | undefined;
  debug: DebugOption | undefined;
}

/** Parses the command line. Throws UsageError. */
export function parseTokendOptions(args: readonly string[]): TokendCliOptions {
  const parsed = parseOptions(args, SPECS);
  const port = single(parsed, "port");
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535)) {
    throw new UsageError(`Invalid value for -port: "${port}" is not a port number (0 to 65535)`);
  }
  return { port: port === undefined ? undefined : Number(port), debug: debugOption(parsed) };
}

/**
 * Runs the daemon until `io.signal` aborts, then shuts it down cleanly.
 * Needs --allow-net, --allow-read, --allow-write, --allow-env, --allow-sys=hostname.
 */
export async function runTokend(options: TokendCliOptions, io: Io): Promise<number> {
  // Its only -debug line is D_ALWAYS, which TOOL_DEBUG does not filter.
  const { config } = await toolConfig(io, options.debug);
  // The daemon logs synchronously; writes are chained so they stay in order
  // and the last ones are flushed before the process exits. Lines logged
  // while a write is under way go out together in the next one: under load
  // (an audit line per enqueue) one write per line cost more than the lines.
  let written: Promise<void> = Promise.resolve();
  let unwritten = "";
  const log = (line: string) => {
    if (unwritten === "") {
      written = written.then(() => {
        const text = unwritten;
        unwritten = "";
        return io.err(text);
      })
        // A closed stderr must not take the daemon down with it.
        .catch(() => {});
    }
    unwritten += `${new Date(io.now()).toISOString()} condor_tokend: ${line}\n`;
  };
  const tokend = await startTokend({ config, port: options.port, now: () => io.now(), log });
  log("ready");
  const signalled = new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    io.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await Promise.race([signalled, tokend.finished]);
  if (io.signal.aborted) log(`received ${String(io.signal.reason ?? "signal")}; shutting down`);
  await tokend.shutdown();
  await written;
  return EXIT.OK;
}

/** The condor_tokend tool. */
export const condorTokend: Tool = defineTool({
  name: "condor_tokend",
  summary: "run the token request daemon (HTTPS) in the foreground",
  usage: USAGE,
  options: SPECS,
  parse: parseTokendOptions,
  run: runTokend,
});
