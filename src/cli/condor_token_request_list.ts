/**
 * condor_token_request_list: show the pending token requests the caller may
 * see (all of them for an administrator, those for the caller's own identity
 * otherwise), as HTCondor's `Name = value` blocks or as JSON.
 */
import { parseOptions, single } from "./_options.ts";
import { classAdJsonList, formatRequest, requestJson } from "./_request_ad.ts";
import { AUTHENTICATION, CONFIGURATION, TRUST } from "./_common_doc.ts";
import type { ToolDoc } from "./_doc.ts";
import { targetExitCode } from "./_exit_status.ts";
import { askedAs, tidyRefusal } from "./_refusals.ts";
import { openSession } from "./_session.ts";
import {
  parseRequestId,
  parseTarget,
  TARGET_OPTIONS,
  type TargetOptions,
  targetOptions,
} from "./_target_options.ts";
import { defineTool, OTHER_OPTIONS, type Tool } from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_token_request_list";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "list pending token requests at a daemon",
  synopsis: [
    "[-reqid ID] [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] [-trust sha256:...] " +
    "[-debug]",
    "-help | -version",
  ],
  description: [
    "Lists the token requests pending at a daemon (the pool's collector by default): every " +
    "request for an administrator, only requests for your own identity otherwise. Each " +
    'request is a block of "Name = value" lines followed by a blank line, exactly as ' +
    "HTCondor's condor_token_request_list prints it: AuthenticatedIdentity, ClientId, " +
    "LimitAuthorization (only when the request is limited), PeerLocation, " +
    "RequestedIdentity, RequestId and TokenLifetime (only when one was asked for). With none " +
    "pending it says so on stderr.",
  ],
  groups: ["Options", TARGET_OPTIONS, OTHER_OPTIONS],
  options: [
    {
      name: "reqid",
      min: 1,
      value: true,
      arg: "ID",
      help: "Show only this request (7 digits)",
      group: "Options",
    },
    {
      name: "json",
      min: 4,
      value: false,
      exact: true,
      help: "Print the requests as a JSON array of objects instead, as HTCondor's tool does: " +
        "the same attributes by the same names, then requestedAt and expiresAt (ours, " +
        "epoch seconds; not from HTCondor daemons); nothing on stdout when none is pending",
      group: "Options",
    },
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 listed (also when none are pending), 2 bad command line, 7 daemon unreachable, " +
    "8 certificate not trusted, 9 no credential or not authorized, 1 other failures " +
    "(-reqid names no pending request you may see).",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [
    { about: "List what is pending at the pool's collector:", command: `${NAME}` },
    {
      about: "The IDs of requests from one network, for a script:",
      command:
        `${NAME} -json | jq -r '.[] | select(.PeerLocation | startswith("192.0.2.")) | .RequestId'`,
    },
  ],
  seeAlso: [
    "condor_token_request(1)",
    "condor_token_request_approve(1)",
    "condor_token_request_deny(1)",
    "condor_token_request_auto_approve(1)",
  ],
};

/** Options of condor_token_request_list. */
export interface ListOptions {
  target: TargetOptions;
  reqid: string | undefined;
  json: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseListOptions(args: readonly string[]): ListOptions {
  const parsed = parseOptions(args, DOC.options);
  return {
    target: parseTarget(parsed),
    reqid: parseRequestId(single(parsed, "reqid")),
    json: parsed.has("json"),
  };
}

/** Lists the requests. Needs what {@link openSession} needs. */
export async function runRequestList(options: ListOptions, io: Io): Promise<number> {
  const { client, caller } = await openSession(options.target, io, { tool: NAME });
  try {
    const requests = await client.list(options.reqid, io.signal);
    if (options.reqid !== undefined && requests.length === 0) {
      await io.err(
        `${NAME}: Remote daemon did not provide information for request ID ${options.reqid}: ` +
          `no pending request with that ID is visible to you (unknown, no longer pending, ` +
          `or for another identity)${askedAs(caller())}\n`,
      );
      return EXIT.FAILURE;
    }
    if (options.json) {
      // Nothing at all when none is pending, as HTCondor's tool: no "[]".
      if (requests.length > 0) await io.out(classAdJsonList(requests.map(requestJson)));
    } else {
      for (const request of requests) await io.out(formatRequest(request) + "\n");
    }
    if (requests.length === 0) {
      await io.err(`Remote daemon reports no requests pending${askedAs(caller())}.\n`);
    }
    return EXIT.OK;
  } catch (err) {
    throw tidyRefusal(err, caller());
  } finally {
    client.close();
  }
}

/** The condor_token_request_list tool. */
export const condorTokenRequestList: Tool = defineTool({
  doc: DOC,
  parse: parseListOptions,
  run: runRequestList,
  exitCodeOf: targetExitCode,
});
