/**
 * condor_token_request_approve: show a pending token request with everything
 * an administrator needs to judge it, ask for `yes`, and approve it; without
 * `-reqid`, do that for every pending request in turn. `-yes` (ours, with
 * `-reqid` only) approves without asking, for scripts. `-watch` (ours) keeps
 * going: each request is shown and asked about as it arrives (a long poll at
 * condor_tokend, a list every 5 seconds at HTCondor daemons), or with
 * `-json` printed as one JSON line, approving nothing, until interrupted.
 */
import type { RequestInfo } from "../api/protocol.ts";
import type { TokenDaemonClient } from "../client/daemon_client.ts";
import { CondorError, DaemonError, UsageError } from "../errors.ts";
import { parseOptions, single } from "./_options.ts";
import { formatAd, judgementAttributes, requestAttributes, requestJson } from "./_request_ad.ts";
import { interruptedExitCode, targetExitCode, withJsonFailure } from "./_exit_status.ts";
import { askedAs, decisionError, tidyRefusal } from "./_refusals.ts";
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
import { jsonText } from "./_json_text.ts";

const NAME = "condor_token_request_approve";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "show a pending token request and approve it",
  synopsis: [
    "[-reqid ID [-yes]] [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] " +
    "[-trust sha256:...] [-debug]",
    "-watch [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] [-trust sha256:...] [-debug]",
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
    "With -watch (ours) it approves as requests come: it shows every pending request, then " +
    "waits for new ones (a long poll at condor_tokend, which answers the moment one arrives; a " +
    "list every 5 seconds at HTCondor daemons) and shows and asks about each in turn, until " +
    "you press Ctrl-C (exit 0). It asks on a terminal only: without one it refuses, unless " +
    "-json is given, which prints each new request as one JSON line on stdout (the attributes " +
    "of condor_token_request_list -json) and approves nothing, for a script to judge and " +
    "approve with -reqid ID -yes. -watch never approves without asking: it takes no -yes.",
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
    {
      name: "watch",
      min: 5,
      value: false,
      exact: true,
      help: "Keep watching: show and ask about each request as it arrives, until Ctrl-C; with " +
        "-json, print each as one JSON line instead and approve nothing",
      group: "Options",
    },
    jsonOption(
      "Print one JSON object of the outcome on stdout (what else the tool says, the " +
        "requests and the question included, goes to stderr); with -watch, one JSON line " +
        "per new request",
      "Options",
    ),
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 every request shown was approved, 1 at least one was not approved (an answer other " +
    "than 'yes', end of input) or is unknown or no longer pending, or there is none to " +
    "approve, 2 bad command line, 7 daemon unreachable, 8 certificate not trusted, 9 no " +
    "credential or not authorized, 130/143 interrupted.",
    "With -watch: 0 when ended by Ctrl-C (or SIGTERM) or at the end of input, 2 without a " +
    "terminal and without -json, and the codes above when the daemon cannot be reached or " +
    "refuses (an administrator's credential is needed at condor_tokend).",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [
    { about: "Walk through every pending request:", command: NAME },
    {
      about: "Approve requests as they come, until Ctrl-C:",
      command: `${NAME} -watch`,
    },
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
  /** `-watch`: approve as requests come. */
  watch: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseApproveOptions(args: readonly string[]): ApproveOptions {
  const parsed = parseOptions(args, DOC.options);
  const options = {
    target: parseTarget(parsed),
    reqid: parseRequestId(single(parsed, "reqid")),
    yes: parsed.has("yes"),
    json: parsed.has("json"),
    watch: parsed.has("watch"),
  };
  if (options.watch && (options.reqid !== undefined || options.yes)) {
    throw new UsageError(
      "Option -watch does not go with -reqid or -yes: it asks about every request that comes, " +
        "and never approves without asking",
    );
  }
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
  if (options.watch) return await runWatch(options, io);
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
  if (options.json) await io.out(jsonText(approveJson(exit, decisions, io)) + "\n");
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
    ...judgementAttributes(request, io.clock.now()),
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

/** Seconds one watch call waits at condor_tokend before asking again. */
const WATCH_WAIT_SECONDS = 30;
/**
 * Least time between the starts of two watch calls: condor_tokend answers at
 * once only when something changed, so this costs a burst of requests at most
 * a second, and a daemon that always answers at once cannot set the tool spinning.
 */
const MIN_WATCH_INTERVAL_MS = 1000;
/** Seconds between two lists of an HTCondor daemon's pending requests with -watch. */
export const POLL_SECONDS = 5;

/**
 * -watch: shows every pending request, then each new one as it arrives,
 * and asks about it (or with -json prints it as one JSON line), until the
 * user interrupts (exit 0) or input ends. Needs what openSession needs.
 */
async function runWatch(options: ApproveOptions, io: Io): Promise<number> {
  if (!options.json && !io.stdinIsTerminal) {
    await io.err(
      `${NAME}: Cannot watch for requests to approve: standard input is not a terminal to ` +
        `ask on; use -json to print each new request as a JSON line instead\n`,
    );
    return EXIT.USAGE;
  }
  // As the one-request approve: the requests and the question on stdout.
  const say: Say = (text) => io.out(text);
  const { client, caller } = await openSession(options.target, io, { tool: NAME });
  try {
    // Requests shown, by ID and arrival (an ID is reused once its request is done).
    let shown = new Set<string>();
    let cursor: string | undefined;
    let polling = false;
    let announced = false;
    let lastWatch = -Infinity;
    while (!io.signal.aborted) {
      let requests: RequestInfo[];
      if (!polling) {
        // A daemon that answers every long poll at once is asked at most once a second.
        await pause(lastWatch + MIN_WATCH_INTERVAL_MS - performance.now(), io.signal);
        lastWatch = performance.now();
        try {
          const answer = await client.watch(cursor, WATCH_WAIT_SECONDS, io.signal);
          if (answer.cursor === cursor) continue;
          cursor = answer.cursor;
          requests = answer.requests;
        } catch (err) {
          if (!(err instanceof DaemonError) || err.code !== "UNSUPPORTED") throw err;
          polling = true;
          continue;
        }
      } else {
        requests = await client.list(undefined, io.signal);
      }
      if (!announced) {
        // Once the daemon has answered: a refusal is then the one line said.
        announced = true;
        await io.err(
          `Watching ${client.address} for token requests${options.json ? "" : " to approve"}${
            polling ? ` (listing them every ${POLL_SECONDS} seconds)` : ""
          }; press Ctrl-C to stop.\n`,
        );
      }
      const pending = new Set<string>();
      for (const request of requests) {
        const key = `${request.requestId}@${request.requestedAt}`;
        pending.add(key);
        if (shown.has(key) || io.signal.aborted) continue;
        shown.add(key);
        if (options.json) {
          await io.out(jsonText(requestJson(request)) + "\n");
          continue;
        }
        let verdict: Verdict;
        try {
          verdict = await judge(client, io, request, false, caller, say);
        } catch (err) {
          // Decided meanwhile by someone else, or not allowed: say so, keep watching.
          if (!(err instanceof CondorError) || io.signal.aborted) throw err;
          await io.err(`${NAME}: ${err.message}\n`);
          continue;
        }
        if (verdict === "end-of-input" && !io.signal.aborted) {
          await io.err(`${NAME}: end of input; stopped watching\n`);
          return EXIT.OK;
        }
      }
      // Forget what is no longer pending, so the set stays as small as the queue.
      shown = new Set([...shown].filter((key) => pending.has(key)));
      if (polling) await pause(POLL_SECONDS * 1000, io.signal);
    }
  } catch (err) {
    if (!io.signal.aborted) throw tidyRefusal(err, caller());
  } finally {
    client.close();
  }
  await io.err("Stopped watching.\n");
  return EXIT.OK;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The condor_token_request_approve tool. */
export const condorTokenRequestApprove: Tool = defineTool({
  doc: DOC,
  parse: parseApproveOptions,
  run: (options, io) => withJsonFailure(options.json, io, () => runApprove(options, io)),
  exitCodeOf: targetExitCode,
});
