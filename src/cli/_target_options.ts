/**
 * The options every network tool (the requester, list, approve, deny,
 * auto-approve, fetch) shares: the target options `-pool`, `-name`, `-type`,
 * `-trust`, `-debug`, `-help` and `-version`, and `-reqid` and `-json` of
 * the tools that take them.
 *
 * @module
 */
import { REQUEST_ID_PATTERN } from "../api/protocol.ts";
import { UsageError } from "../errors.ts";
import {
  badPool,
  DAEMON_TYPES,
  parseDaemonAddress,
  parseDaemonType,
  poolEntries,
} from "../client/locate.ts";
import { TRUST_KNOB } from "../client/settings.ts";
import { parseFingerprint } from "../client/trust.ts";
import { type ParsedOptions, single } from "./_options.ts";
import type { DocumentedOption } from "./_doc.ts";
import { type DebugOption, debugOption, debugSpec, HELP_OPTION, VERSION_OPTION } from "./_tool.ts";

/** The heading of the target options in every network tool's usage. */
export const TARGET_OPTIONS = "Target options";

/**
 * The target options (and -debug, -help, -trust, -version), to be listed
 * after a tool's own: the first matching prefix wins, so `-n` stays `-name`
 * and `-t` stays `-type`, as in HTCondor. `defaultType` is what -help says
 * `-type` defaults to.
 */
export function targetOptions(defaultType: string): DocumentedOption[] {
  return [
    {
      name: "pool",
      min: 1,
      value: true,
      arg: "HOST[:PORT]",
      help: "Use this pool's collector instead of COLLECTOR_HOST (port COLLECTOR_PORT, 9618, by " +
        "default; HTCondor's own protocol or condor_tokend's HTTPS, whichever answers; a sinful " +
        "<IP:PORT?alias=HOST>, cedar:// or https:// URL chooses); several, separated by commas, " +
        "are tried in order",
      group: TARGET_OPTIONS,
    },
    {
      name: "name",
      min: 1,
      value: true,
      arg: "NAME",
      help: "Talk to the daemon of this name in the pool (looked up at its collector)",
      group: TARGET_OPTIONS,
    },
    {
      name: "type",
      min: 1,
      value: true,
      arg: "TYPE",
      help: `Talk to a daemon of this type (default ${defaultType}; SCHEDD, STARTD, MASTER, ` +
        `NEGOTIATOR, CREDD, ...)`,
      group: TARGET_OPTIONS,
    },
    debugSpec(),
    HELP_OPTION,
    {
      name: "trust",
      min: 2,
      value: true,
      repeat: true,
      arg: "sha256:...",
      help: `Trust a daemon whose self-signed certificate has this SHA-256 fingerprint ` +
        `(repeatable; knob ${TRUST_KNOB}); otherwise AUTH_SSL_CLIENT_CAFILE, known_hosts or, ` +
        `on a terminal, your answer decides`,
      group: TARGET_OPTIONS,
    },
    VERSION_OPTION,
  ];
}

/** Where to connect, as given on the command line. */
export interface TargetOptions {
  /** `-pool` as given (checked to be an address); its port defaults to COLLECTOR_PORT. */
  pool: string | undefined;
  name: string | undefined;
  /** Upper case; undefined when `-type` was not given. */
  type: string | undefined;
  /** Normalised `sha256:AB:...` fingerprints. */
  trust: string[];
  /** `-debug` (undefined when not given). */
  debug: DebugOption | undefined;
}

/** Reads the target options from parsed options. Throws UsageError. */
export function parseTarget(parsed: ParsedOptions): TargetOptions {
  const pool = single(parsed, "pool");
  if (pool !== undefined) {
    const entries = poolEntries(pool);
    if (entries.length === 0) throw badPool(pool);
    for (const entry of entries) if (!parseDaemonAddress(entry)) throw badPool(entry);
  }
  const typeText = single(parsed, "type");
  const type = typeText === undefined ? undefined : parseDaemonType(typeText);
  if (typeText !== undefined && !type) {
    throw new UsageError(
      `Invalid value for -type: "${typeText}" is not a daemon type (${DAEMON_TYPES.join(", ")})`,
    );
  }
  const name = single(parsed, "name");
  if (name === "") throw new UsageError("Invalid value for -name: it is empty");
  const trust = (parsed.get("trust") ?? []).map((text) => {
    const fingerprint = parseFingerprint(text);
    if (!fingerprint) {
      throw new UsageError(
        `Invalid value for -trust: "${text}" is not a SHA-256 fingerprint (sha256:AB:CD:...)`,
      );
    }
    return fingerprint;
  });
  return { pool, name, type, trust, debug: debugOption(parsed) };
}

/** Parses `-reqid`: exactly 7 digits, as the daemon prints request IDs. Throws UsageError. */
export function parseRequestId(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!REQUEST_ID_PATTERN.test(text)) {
    throw new UsageError(`Invalid value for -reqid: "${text}" is not a request ID (7 digits)`);
  }
  return text;
}

/** The `-json` option of the tools that act: one JSON object of the outcome on stdout. */
export function jsonOption(help: string, group: string): DocumentedOption {
  return { name: "json", min: 1, value: false, help, group };
}
