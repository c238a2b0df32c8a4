/**
 * condor_token_request_deny (ours; HTCondor can only let a request expire):
 * deny a pending token request, optionally with a reason. A requester
 * waiting for it learns at once and exits with the reason.
 */
import { MAX_REASON_LENGTH } from "../api/protocol.ts";
import { UsageError } from "../errors.ts";
import { parseOptions, single } from "./_options.ts";
import { targetExitCode, withJsonFailure } from "./_exit_status.ts";
import { decisionError } from "./_refusals.ts";
import { openSession } from "./_session.ts";
import {
  jsonOption,
  parseRequestId,
  parseTarget,
  TARGET_OPTIONS,
  type TargetOptions,
  targetOptions,
} from "./_target_options.ts";
import { defineTool, OTHER_OPTIONS, type Tool } from "./_tool.ts";
import { AUTHENTICATION, CONFIGURATION, TRUST } from "./_common_doc.ts";
import type { ToolDoc } from "./_doc.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { jsonText } from "./_json_text.ts";

const NAME = "condor_token_request_deny";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "deny a pending token request, with a reason for the requester",
  synopsis: [
    "-reqid ID [-reason TEXT] [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] " +
    "[-trust sha256:...] [-debug]",
    "-help | -version",
  ],
  description: [
    "Denies a pending token request at a daemon (the pool's collector by default). A " +
    "condor_token_request waiting for it is told at once, with the reason, and exits with " +
    "status 3. Administrators may deny any request; other users only requests for their own " +
    "identity. Denying a request that is already denied is harmless. HTCondor has no such " +
    "tool: its daemons cannot deny a request, which expires by itself after an hour.",
  ],
  groups: ["Options", TARGET_OPTIONS, OTHER_OPTIONS],
  options: [
    {
      name: "reqid",
      min: 1,
      value: true,
      arg: "ID",
      help: "The request to deny (7 digits; required)",
      group: "Options",
    },
    {
      // "-re" stays -reqid, as the first match wins.
      name: "reason",
      min: 3,
      value: true,
      arg: "TEXT",
      help:
        `Why, shown to the requester and kept in the audit log (at most ${MAX_REASON_LENGTH} characters)`,
      group: "Options",
    },
    jsonOption(
      'Print one JSON object of the outcome on stdout instead: {"outcome": "denied", ' +
        '"exitCode": 0, "requestId", "reason"}',
      "Options",
    ),
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 denied (also when it already was), 1 unknown request, no longer pending, or an " +
    "HTCondor daemon (which cannot deny), 2 bad command line, 7 daemon unreachable, " +
    "8 certificate not trusted, 9 no credential or not authorized.",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [{
    about: "Deny a request nobody recognises:",
    command: `${NAME} -reqid 6108901 -reason "unknown host; ask on #ops"`,
  }],
  seeAlso: [
    "condor_token_request_list(1)",
    "condor_token_request_approve(1)",
    "condor_token_request(1)",
  ],
};

/** Options of condor_token_request_deny. */
export interface DenyOptions {
  target: TargetOptions;
  reqid: string;
  reason: string | undefined;
  json: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseDenyOptions(args: readonly string[]): DenyOptions {
  const parsed = parseOptions(args, DOC.options);
  const target = parseTarget(parsed);
  const reqid = parseRequestId(single(parsed, "reqid"));
  if (reqid === undefined) throw new UsageError("Option -reqid is required");
  const reason = single(parsed, "reason");
  if (reason !== undefined && reason.length > MAX_REASON_LENGTH) {
    throw new UsageError(
      `Invalid value for -reason: it is ${reason.length} characters long; at most ${MAX_REASON_LENGTH} are allowed`,
    );
  }
  return { target, reqid, reason, json: parsed.has("json") };
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
  if (options.json) {
    await io.out(
      jsonText({
        outcome: "denied",
        exitCode: EXIT.OK,
        requestId: options.reqid,
        reason: options.reason ?? null,
      }) + "\n",
    );
  } else {
    await io.out(`Request ${options.reqid} denied.\n`);
  }
  return EXIT.OK;
}

/** The condor_token_request_deny tool. */
export const condorTokenRequestDeny: Tool = defineTool({
  doc: DOC,
  parse: parseDenyOptions,
  run: (options, io) => withJsonFailure(options.json, io, () => runDeny(options, io)),
  exitCodeOf: targetExitCode,
});
