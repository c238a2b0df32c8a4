/** condor_tokend: the token-issuing daemon, in the foreground until SIGTERM or SIGINT. */
import { UsageError } from "../errors.ts";
import type { CondorConfig } from "../config/condor_config.ts";
import { DEFAULT_LOG_MAX_BYTES, LogFile } from "../server/log_file.ts";
import { adSender } from "../client/ad_sender.ts";
import { startTokend } from "../server/tokend.ts";
import { toolConfig } from "./_config.ts";
import { parseOptions, single } from "./_options.ts";
import {
  type DebugOption,
  debugOption,
  debugSpec,
  defineTool,
  HELP_OPTION,
  OTHER_OPTIONS,
  type Tool,
  VERSION_OPTION,
} from "./_tool.ts";
import type { ToolDoc } from "./_doc.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_tokend";

const DOC: ToolDoc = {
  name: NAME,
  section: 8,
  summary: "run the token request daemon (HTTPS) in the foreground",
  synopsis: ["[-port PORT] [-f] [-debug]", "-help | -version"],
  description: [
    "Runs the token request daemon in the foreground until SIGTERM or SIGINT (SIGHUP re-reads " +
    "the configuration, reloads the TLS certificate and reopens the log): it accepts " +
    "token requests from hosts without an identity (condor_token_request), lets " +
    "administrators list, approve, deny or auto-approve them, and issues IDTOKENS signed " +
    "with the pool's key, which a real HTCondor daemon holding the same key accepts. It " +
    "serves HTTPS on NETWORK_INTERFACE at the port of COLLECTOR_HOST (else COLLECTOR_PORT, " +
    "9618), with AUTH_SSL_SERVER_CERTFILE and AUTH_SSL_SERVER_KEYFILE or, failing those, a " +
    "self-signed certificate it creates once in its state directory; it prints the " +
    "certificate's SHA-256 fingerprint at every start, for requesters to check.",
    "Pending requests, decisions, auto-approval rules and an audit trail are kept in SQLite " +
    "in its state directory (under SPOOL) and survive restarts and kill -9; HTCondor keeps " +
    "them in memory only. With TOKEND_DATABASE = postgresql://..., they are kept in a " +
    "PostgreSQL database instead, which two or more daemons can share and serve as one: a " +
    "request made at one can be collected, approved or denied at any other, and requesters " +
    "and tools that list them all in COLLECTOR_HOST or -pool fail over from one to the next. " +
    "It logs one line per event on stderr (or in TOKEND_LOG), never a token, secret or " +
    "database password.",
  ],
  groups: ["Options", OTHER_OPTIONS],
  options: [
    {
      name: "port",
      min: 1,
      value: true,
      arg: "PORT",
      help: "Listen on this port instead of COLLECTOR_HOST's (0 = any free port; the address " +
        "is written to TOKEND_ADDRESS_FILE)",
      group: "Options",
    },
    {
      name: "f",
      min: 1,
      value: false,
      exact: true,
      help: "Stay in the foreground (always the case; accepted as HTCondor's daemons take it)",
      group: "Options",
    },
    {
      name: "foreground",
      min: 3,
      value: false,
      help: "The same as -f",
      group: "Options",
    },
    // -d is HTCondor's daemons' "dynamic directories", so -debug needs -de.
    debugSpec(2),
    HELP_OPTION,
    VERSION_OPTION,
  ],
  exitStatus: [
    "0 after a clean shutdown on SIGTERM or SIGINT, 1 when it cannot start (the reason is " +
    "the last line on stderr: a key, certificate or state directory it will not use, a port " +
    "in use, a database it cannot reach), 2 bad command line.",
  ],
  sections: [
    {
      title: "Configuration",
      paragraphs: [
        "It reads the HTCondor configuration like every HTCondor tool, once at start. Give " +
        "it the pool's POOL key (SEC_TOKEN_POOL_SIGNING_KEY_FILE, mode 0600) and TRUST_DOMAIN, " +
        "so the tokens it issues work in the pool. HTCondor's knobs it honours include " +
        "SEC_ENABLE_TOKEN_REQUEST, SEC_TOKEN_REQUEST_LIFETIME, SEC_ISSUED_TOKEN_EXPIRATION, " +
        "SEC_TOKEN_REQUEST_LIMITS, TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME, " +
        "ALLOW_ADMINISTRATOR, SEC_ENABLE_TOKEN_FETCH and SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS; " +
        "its own are named TOKEND_* (TOKEND_STATE_DIRECTORY, TOKEND_RATE_LIMIT, " +
        "TOKEND_MAX_PENDING_REQUESTS, TOKEND_MAX_PENDING_PER_PEER, TOKEND_DAEMON_NAME, " +
        "TOKEND_DAEMON_TYPE, TOKEND_ADDRESS_FILE, TOKEND_DATABASE, " +
        "TOKEND_DATABASE_PASSWORD_FILE, ...). docs/operations.md in the source " +
        "distribution lists them all.",
        "Conditions in the configuration (if, elif, else) take defined, booleans and version " +
        "comparisons, made against HTCondor 25.14.0.",
      ],
    },
    {
      title: "Endpoints",
      paragraphs: [
        'GET /healthz answers 200 "ok" while the state database can commit, 503 otherwise; ' +
        "GET /metrics serves Prometheus metrics. The API lives under /v1 (docs/protocol.md " +
        "in the source distribution).",
      ],
    },
  ],
  examples: [{
    about: "Run it in the foreground with the pool's configuration:",
    command: `sudo -u condor ${NAME}`,
  }],
  seeAlso: [
    "condor_token_request(1)",
    "condor_token_request_list(1)",
    "condor_token_request_approve(1)",
    "condor_token_request_auto_approve(1)",
  ],
};

/** Options of condor_tokend. */
export interface TokendCliOptions {
  port: number | undefined;
  debug: DebugOption | undefined;
}

/** Parses the command line. Throws UsageError. */
export function parseTokendOptions(args: readonly string[]): TokendCliOptions {
  const parsed = parseOptions(args, DOC.options);
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
  let logFile = await openLogFile(config);
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
        return logFile ? logFile.write(text) : io.err(text);
      })
        // A closed stderr or a full disk must not take the daemon down with it.
        .catch(() => {});
    }
    unwritten += `${new Date(io.clock.now()).toISOString()} condor_tokend: ${line}\n`;
  };
  const tokend = await startTokend({
    config,
    port: options.port,
    clock: io.clock,
    log,
    env: (name) => io.env.get(name),
    adSender: (daemonConfig) => adSender(daemonConfig, () => io.clock.now()),
  });
  log("ready");

  // SIGHUP (condor_reconfig, logrotate): re-read the configuration, reopen the log.
  let reloading: Promise<void> = Promise.resolve();
  const onHangUp = () => {
    reloading = reloading.then(async () => {
      let fresh;
      try {
        fresh = (await toolConfig(io, undefined)).config;
      } catch (err) {
        log(
          `SIGHUP: keeping the running configuration: ${err instanceof Error ? err.message : err}`,
        );
        return;
      }
      await written;
      try {
        const next = await openLogFile(fresh);
        logFile?.close();
        logFile = next;
      } catch (err) {
        log(`SIGHUP: keeping the log as it was: ${err instanceof Error ? err.message : err}`);
      }
      await tokend.reconfigure(fresh);
    });
  };
  const hangUp = listenForHangUp(onHangUp);
  try {
    const signalled = new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      io.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await Promise.race([signalled, tokend.finished]);
    if (io.signal.aborted) log(`received ${String(io.signal.reason ?? "signal")}; shutting down`);
    await reloading;
    await tokend.shutdown();
    await written;
  } finally {
    hangUp();
    logFile?.close();
  }
  return EXIT.OK;
}

/** The log file TOKEND_LOG names (TOKEND_LOG_MAX_SIZE rotation), or undefined for stderr. */
async function openLogFile(config: CondorConfig): Promise<LogFile | undefined> {
  const path = config.get("TOKEND_LOG")?.trim();
  if (!path) return undefined;
  const maxBytes = config.int("TOKEND_LOG_MAX_SIZE", DEFAULT_LOG_MAX_BYTES);
  return await LogFile.open(path, maxBytes);
}

/** Calls `fn` on SIGHUP (where there is one); returns the function that stops listening. */
function listenForHangUp(fn: () => void): () => void {
  if (Deno.build.os === "windows") return () => {};
  Deno.addSignalListener("SIGHUP", fn);
  return () => Deno.removeSignalListener("SIGHUP", fn);
}

/** The condor_tokend tool. */
export const condorTokend: Tool = defineTool({
  doc: DOC,
  parse: parseTokendOptions,
  run: runTokend,
});
