/**
 * condor_token_request_approve: show a pending token request with everything
 * an administrator needs to judge it, ask for `yes`, and approve it; without
 * `-reqid`, do that for every pending request in turn. `-yes` (ours, with
 * `-reqid` only) approves without asking, for scripts.
 */
import type { RequestInfo } from "../api/protocol.ts";
import type { TokenDaemonClient } from "../client/daemon_client.ts";
import { CondorError, UsageError } from "../errors.ts";
import { parseOptions, single } from "./_options.ts";
import { formatAd, judgementAttributes, requestAttributes } from "./_request_ad.ts";
import { interruptedExitCode, targetExitCode, withJsonFailure } from "./_exit_status.ts";
import { askedAs, decisionError } from "./_refusals.ts";
import { openSession, readAnswer } from "./_session.ts";
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

const NAME = "condor_token_request_approve";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "show a pending token request and approve it",
  synopsis: [
    "[-reqid ID [-yes]] [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] " +
    "[-trust sha256:...] [-debug]",
    "-help | -version",
  ],
  description: [
    "Shows a pending token request at a daemon (the pool's collector by default) and " +
    "approves it when you type 'yes'. Without -reqid, goes through every pending request you " +
    "may approve, one after the other; a 'no' does not stop the walk (HTCondor's tool stops " +
    "at the first refusal), end of input does.",
    "The request is shown as HTCondor shows it, plus RequestAge (seconds since it was made) " +
    "and RequestTimeLeft (seconds until it expires unless decided). No LimitAuthorization " +
    "means the token would carry every authorization of its identity; no TokenLifetime means " +
    "it would not expire (within the daemon's SEC_ISSUED_TOKEN_EXPIRATION). Check the " +
    "request ID, the requester's address (PeerLocation) and client ID with the requester out " +
    "of band before you approve.",
  ],
  groups: ["Options", TARGET_OPTIONS, OTHER_OPTIONS],
  options: [
    {
      name: "reqid",
      min: 1,
      value: true,
      arg: "ID",
      help: "Approve this request (7 digits)",
      group: "Options",
    },
    {
      name: "yes",
      min: 3,
      value: false,
      exact: true,
      help: "With -reqid: approve without asking, for scripts (the request is still shown)",
      group: "Options",
    },
    jsonOption(
      "Print one JSON object of the outcome on stdout (what else the tool says, the " +
        "requests and the question included, goes to stderr)",
      "Options",
    ),
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 every request shown was approved, 1 at least one was not approved (an answer other " +
    "than 'yes', end of input) or is unknown or no longer pending, or there is none to " +
    "approve, 2 bad command line, 7 daemon unreachable, 8 certificate not trusted, 9 no " +
    "credential or not authorized, 130/143 interrupted.",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [
    { about: "Walk through every pending request:", command: NAME },
    {
      about: "Approve one request a script has checked:",
      command: `${NAME} -pool cm.example.org -reqid 6108900 -yes`,
    },
  ],
  seeAlso: [
    "condor_token_request_list(1)",
    "condor_token_request_deny(1)",
    "condor_token_request_auto_approve(1)",
    "condor_token_request(1)",
  ],
};

/** Options of condor_token_request_approve. */
export interface ApproveOptions {
  target: TargetOptions;
  reqid: string | undefined;
  yes: boolean;
  json: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseApproveOptions(args: readonly string[]): ApproveOptions {
  const parsed = parseOptions(args, DOC.options);
  const options = {
    target: parseTarget(parsed),
    reqid: parseRequestId(single(parsed, "reqid")),
    yes: parsed.has("yes"),
    json: parsed.has("json"),
  };
  if (options.yes && options.reqid === undefined) {
    throw new UsageError(
      "Option -yes needs -reqid: only a request named on the command line is approved without asking",
    );
  }
  return options;
}

/** What became of one request: approved, declined (not 'yes'), left undecided, or failed. */
export interface Decision {
  requestId: string;
  outcome: "approved" | "declined" | "undecided" | "error";
  /** For "error": the failure's code and message. */
  code?: string;
  message?: string;
}

/** Where the tool writes for people: stdout as HTCondor's tool does, stderr with -json. */
type Say = (text: string) => Promise<void>;

/** Approves one request or walks all of them. Needs what openSession needs. */
export async function runApprove(options: ApproveOptions, io: Io): Promise<number> {
  const say: Say = options.json ? (text) => io.err(text) : (text) => io.out(text);
  const decisions: Decision[] = [];
  const { client, caller } = await openSession(options.target, io, { tool: NAME });
  let exit: number;
  try {
    exit = options.reqid === undefined
      ? await approveAll(client, io, caller, say, decisions)
      : await approveOne(client, io, options.reqid, options.yes, caller, say, decisions);
  } finally {
    client.close();
  }
  if (options.json) await io.out(JSON.stringify(approveJson(exit, decisions, io)) + "\n");
  return exit;
}

/**
 * The -json object: `outcome` ("approved" when every request shown was,
 * "not_approved", "none_pending", "interrupted"), `exitCode`, and each
 * request's decision in the order shown.
 */
function approveJson(
  exit: number,
  decisions: readonly Decision[],
  io: Io,
): Record<string, unknown> {
  const outcome = interruptedExitCode(io) !== undefined
    ? "interrupted"
    : decisions.length === 0
    ? exit === EXIT.OK ? "approved" : "none_pending"
    : exit === EXIT.OK
    ? "approved"
    : "not_approved";
  return { outcome, exitCode: exit, requests: decisions };
}

async function approveOne(
  client: TokenDaemonClient,
  io: Io,
  id: string,
  yes: boolean,
  caller: () => string | undefined,
  say: Say,
  decisions: Decision[],
): Promise<number> {
  const [request] = await client.list(id, io.signal);
  if (request === undefined) {
    if (yes) {
      // Nothing to show; the daemon's answer tells unknown, decided and not allowed apart.
      await approveCall(client, io, id, caller);
      decisions.push({ requestId: id, outcome: "approved" });
      await say(`Request ${id} approved successfully.\n`);
      return EXIT.OK;
    }
    await io.err(
      `${NAME}: Remote daemon did not provide information for request ID ${id}: no pending ` +
        `request with that ID is visible to you (unknown, no longer pending, or for another ` +
        `identity)${askedAs(caller())}; -yes tells which\n`,
    );
    decisions.push({
      requestId: id,
      outcome: "error",
      code: "REQUEST_NOT_VISIBLE",
      message: "no pending request with that ID is visible to you",
    });
    return EXIT.FAILURE;
  }
  const verdict = await judge(client, io, request, yes, caller, say);
  decisions.push({ requestId: id, outcome: decisionOf(verdict) });
  return interruptedExitCode(io) ?? (verdict === "approved" ? EXIT.OK : EXIT.FAILURE);
}

async function approveAll(
  client: TokenDaemonClient,
  io: Io,
  caller: () => string | undefined,
  say: Say,
  decisions: Decision[],
): Promise<number> {
  const requests = await client.list(undefined, io.signal);
  if (requests.length === 0) {
    await io.err(`Remote daemon has no request to approve${askedAs(caller())}.\n`);
    return EXIT.FAILURE;
  }
  let exit: number = EXIT.OK;
  for (const [i, request] of requests.entries()) {
    let verdict: Verdict;
    try {
      verdict = await judge(client, io, request, false, caller, say);
    } catch (err) {
      // One request gone wrong (decided meanwhile, not allowed) does not stop the walk.
      if (!(err instanceof CondorError) || io.signal.aborted) throw err;
      await io.err(`${NAME}: ${err.message}\n`);
      decisions.push({
        requestId: request.requestId,
        outcome: "error",
        code: err.code,
        message: err.message,
      });
      if (exit === EXIT.OK) exit = targetExitCode(err, io);
      continue;
    }
    decisions.push({ requestId: request.requestId, outcome: decisionOf(verdict) });
    const interrupted = interruptedExitCode(io);
    if (interrupted !== undefined) return interrupted;
    if (verdict !== "approved" && exit === EXIT.OK) exit = EXIT.FAILURE;
    if (verdict === "end-of-input") {
      const left = requests.slice(i + 1);
      for (const r of left) decisions.push({ requestId: r.requestId, outcome: "undecided" });
      if (left.length > 0) {
        await io.err(
          `${NAME}: end of input; ${left.length} more pending request${
            left.length === 1 ? "" : "s"
          } left undecided\n`,
        );
      }
      break;
    }
  }
  return exit;
}

/** The -json word for a verdict. */
function decisionOf(verdict: Verdict): Decision["outcome"] {
  return verdict === "end-of-input" ? "undecided" : verdict;
}

/** What one shown request came to. */
type Verdict = "approved" | "declined" | "end-of-input";

/** Shows `request`, asks unless `yes`, and approves on exactly "yes". */
async function judge(
  client: TokenDaemonClient,
  io: Io,
  request: RequestInfo,
  yes: boolean,
  caller: () => string | undefined,
  say: Say,
): Promise<Verdict> {
  const block = formatAd([
    ...requestAttributes(request),
    ...judgementAttributes(request, io.now()),
  ]);
  await say(`Request contents:\n${block}\n`);
  if (!yes) {
    await say("To approve, please type 'yes'\n");
    const answer = await readAnswer(io);
    if (answer !== "yes") {
      await io.err("Request was NOT approved.\n");
      return answer === null ? "end-of-input" : "declined";
    }
  }
  await approveCall(client, io, request.requestId, caller);
  await say(`Request ${request.requestId} approved successfully.\n`);
  return "approved";
}

async function approveCall(
  client: TokenDaemonClient,
  io: Io,
  id: string,
  caller: () => string | undefined,
): Promise<void> {
  try {
    await client.approve(id, io.signal);
  } catch (err) {
    throw decisionError(err, "approve", id, client.address, caller());
  }
}

/** The condor_token_request_approve tool. */
export const condorTokenRequestApprove: Tool = defineTool({
  doc: DOC,
  parse: parseApproveOptions,
  run: (options, io) => withJsonFailure(options.json, io, () => runApprove(options, io)),
  exitCodeOf: targetExitCode,
});
