/**
 * condor_token_request_deny (ours; HTCondor can only let a request expire):
 * deny a pending token request, optionally with a reason. A requester
 * waiting for it learns at once and exits with the reason.
 */
import { MAX_REASON_LENGTH } from "../api/protocol.ts";
import { UsageError } from "../errors.ts";
import { parseOptions, single } from "./_options.ts";
import {
  decisionError,
  openSession,
  parseRequestId,
  parseTarget,
  TARGET_SPECS,
  targetExitCode,
  type TargetOptions,
  targetUsage,
} from "./_target.ts";
import { defineTool, type Tool } from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_token_request_deny";

/** Longest reason the daemon accepts, in characters. */

const USAGE = `Usage: ${NAME} -reqid ID [-reason TEXT] [-pool POOL] [-name NAME] [-type TYPE]
                                 [-trust sha256:...] [-debug]

Denies a pending token request at a daemon (the pool's collector by default).
The requester, if it is waiting, is told at once, with the reason.
Administrators may deny any request; other users only requests for their
own identity.

Options:
    -reqid  <ID>          The request to deny (7 digits; required)
    -reason <TEXT>        Why, shown to the requester (at most ${MAX_REASON_LENGTH} characters)
${targetUsage("COLLECTOR")}
Exit status: 0 denied (also when it already was), 1 unknown request or no
longer pending, 2 bad command line, 7 daemon unreachable, 8 certificate not
trusted, 9 no credential or not authorized.
`;

const SPECS = [
  { name: "reqid", min: 1, value: true },
  // "-re" stays -reqid, as the first match wins.
  { name: "reason", min: 3, value: true },
  ...TARGET_SPECS,
];

/** Options of condor_token_request_deny. */
export interface DenyOptions {
  target: TargetOptions;
  reqid: string;
  reason: string | undefined;
}

/** Parses the command line. Throws UsageError. */
export function parseDenyOptions(args: readonly string[]): DenyOptions {
  const parsed = parseOptions(args, SPECS);
  const target = parseTarget(parsed);
  const reqid = parseRequestId(single(parsed, "reqid"));
  if (reqid === undefined) throw new UsageError("Option -reqid is required");
  const reason = single(parsed, "reason");
  if (reason !== undefined && reason.length > MAX_REASON_LENGTH) {
    throw new UsageError(
      `Invalid value for -reason: it is ${reason.length} characters long; at most ${MAX_REASON_LENGTH} are allowed`,
    );
  }
  return { target, reqid, reason };
}

/** Denies the request. Needs what openSession needs. */
export async function runDeny(options: DenyOptions, io: Io): Promise<number> {
  const { client, caller } = await openSession(options.target, io, { tool: NAME });
  try {
    await client.deny(options.reqid, options.reason, io.signal);
  } catch (err) {
    throw decisionError(err, "deny", options.reqid, client.address, caller());
  } finally {
    client.close();
  }
  await io.out(`Request ${options.reqid} denied.\n`);
  return EXIT.OK;
}

/** The condor_token_request_deny tool. */
export const condorTokenRequestDeny: Tool = defineTool({
  name: NAME,
  summary: "deny a pending token request, with a reason for the requester",
  usage: USAGE,
  options: SPECS,
  parse: parseDenyOptions,
  run: runDeny,
  exitCodeOf: targetExitCode,
});
