/**
 * condor_token_request_list: show the pending token requests the caller may
 * see (all of them for an administrator, those for the caller's own identity
 * otherwise), as HTCondor's `Name = value` blocks or as JSON. Ours besides:
 * `-issued` lists the tokens condor_tokend issued (never the tokens), and
 * `-revocation` prints the SEC_TOKEN_REVOCATION_EXPR line that makes
 * HTCondor daemons refuse chosen tokens.
 */
import type { IssuedTokenInfo } from "../api/protocol.ts";
import type { TokenDaemonClient } from "../client/daemon_client.ts";
import { DaemonError, UsageError } from "../errors.ts";
import { parseOptions, single } from "./_options.ts";
import {
  type AdAttribute,
  classAdJsonList,
  formatAd,
  formatRequest,
  requestJson,
} from "./_request_ad.ts";
import {
  OLD_REVOCATION_KNOB,
  oldClassAdString,
  parseIssuedBefore,
  REVOCATION_KNOB,
  type RevocationChoice,
  revocationLine,
} from "./_revocation_expr.ts";
import { toolConfig } from "./_config.ts";
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
import { jsonText } from "./_json_text.ts";

const NAME = "condor_token_request_list";

/** The heading of the issued-token and revocation options. */
const ISSUED_OPTIONS = "Issued tokens and revocation (ours)";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "list pending token requests at a daemon",
  synopsis: [
    "[-reqid ID] [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] [-trust sha256:...] " +
    "[-debug]",
    "-issued [-identity USER@DOMAIN] [-peer NETBLOCK] [-json | -revocation] " +
    "[-pool HOST[:PORT]] [-name NAME] [-type TYPE] [-trust sha256:...] [-debug]",
    "-revocation [-jti ID]... [-identity USER@DOMAIN]... [-issuedbefore TIME]",
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
    "With -issued (ours; condor_tokend only, administrators only) it lists instead the tokens " +
    "the daemon issued, newest first, from its audit trail: never the tokens themselves, but " +
    "their ID (the jti claim), identity, authorizations, issue and expiry times, the request " +
    "and the address it came from, and who approved it (an administrator, an auto-approval " +
    "rule, or the identity itself for condor_token_fetch). HTCondor daemons keep no such list.",
    "With -revocation (ours) it prints the line of HTCondor configuration that makes " +
    "HTCondor daemons refuse the chosen tokens: SEC_TOKEN_REVOCATION_EXPR = ..., an expression " +
    "the daemon evaluates against each presented token's claims. Choose tokens by ID (-jti), " +
    "by identity (-identity: every token of that identity, wherever it was made) or by issue " +
    "time (-issuedbefore); or, with -issued, every token the listing selects (by its ID). " +
    "When this host's configuration already sets SEC_TOKEN_REVOCATION_EXPR (or the older " +
    "SEC_TOKEN_BLACKLIST_EXPR), its expression is kept in the line, so that nothing revoked " +
    "before comes back. Put the line in the configuration of every daemon that must refuse " +
    "the tokens (at least the collector and the schedds), then condor_reconfig them. " +
    "condor_tokend itself does not read the knob.",
  ],
  groups: ["Options", ISSUED_OPTIONS, TARGET_OPTIONS, OTHER_OPTIONS],
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
    {
      name: "issued",
      min: 6,
      value: false,
      exact: true,
      help: "List the tokens the daemon issued instead of pending requests (condor_tokend " +
        "only, administrators only); with -json, a JSON array of objects (jti, identity, " +
        "authorizations, issuedAt, expiresAt, requestId, peer, how, approvedBy, ruleId), " +
        "[] when none",
      group: ISSUED_OPTIONS,
    },
    {
      name: "identity",
      min: 8,
      value: true,
      repeat: true,
      exact: true,
      arg: "USER@DOMAIN",
      help: "With -issued: only tokens issued to this identity. With -revocation alone: " +
        "revoke every token of this identity (repeatable)",
      group: ISSUED_OPTIONS,
    },
    {
      name: "peer",
      min: 4,
      value: true,
      exact: true,
      arg: "NETBLOCK",
      help: "With -issued: only tokens issued to requests from this netblock (192.0.2.0/24, " +
        "2001:db8::/32, 192.0.2.*)",
      group: ISSUED_OPTIONS,
    },
    {
      name: "revocation",
      min: 10,
      value: false,
      exact: true,
      help: `Print the ${REVOCATION_KNOB} line revoking the chosen tokens for HTCondor daemons`,
      group: ISSUED_OPTIONS,
    },
    {
      name: "jti",
      min: 3,
      value: true,
      repeat: true,
      exact: true,
      arg: "ID",
      help: "With -revocation: revoke the token with this ID (its jti; repeatable)",
      group: ISSUED_OPTIONS,
    },
    {
      name: "issuedbefore",
      min: 12,
      value: true,
      exact: true,
      arg: "TIME",
      help: "With -revocation: revoke every token issued before TIME (epoch seconds, or " +
        "ISO 8601 with its zone: 2025-06-01T12:00:00Z)",
      group: ISSUED_OPTIONS,
    },
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 listed (also when none are pending or issued) or line printed, 2 bad command line, " +
    "7 daemon unreachable, 8 certificate not trusted, 9 no credential or not authorized, " +
    "1 other failures (-reqid names no pending request you may see, -issued at an HTCondor " +
    "daemon, -issued -revocation selects no token).",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [
    { about: "List what is pending at the pool's collector:", command: `${NAME}` },
    {
      about: "The tokens condor_tokend issued to requests from one network:",
      command: `${NAME} -issued -peer 192.0.2.0/24`,
    },
    {
      about: "The line that makes HTCondor daemons refuse one token, and every token of an " +
        "identity:",
      command: `${NAME} -revocation -jti 6c0f6e1f3b2a4d5e -identity mallory@example.org`,
    },
    {
      about: "The line that revokes every token issued to requests from one network:",
      command: `${NAME} -issued -peer 192.0.2.0/24 -revocation`,
    },
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
  /** `-issued`: list issued tokens instead of pending requests. */
  issued: boolean;
  /** `-identity`: a filter with -issued, tokens to revoke without it. */
  identities: string[];
  /** `-peer`: a netblock filter of -issued. */
  peer: string | undefined;
  /** `-revocation`, and the tokens chosen by -jti and -issuedbefore. */
  revocation: boolean;
  jtis: string[];
  issuedBefore: number | undefined;
}

/** Parses the command line. Throws UsageError. */
export function parseListOptions(args: readonly string[]): ListOptions {
  const parsed = parseOptions(args, DOC.options);
  const issuedBefore = single(parsed, "issuedbefore");
  const options: ListOptions = {
    target: parseTarget(parsed),
    reqid: parseRequestId(single(parsed, "reqid")),
    json: parsed.has("json"),
    issued: parsed.has("issued"),
    identities: parsed.get("identity") ?? [],
    peer: single(parsed, "peer"),
    revocation: parsed.has("revocation"),
    jtis: parsed.get("jti") ?? [],
    issuedBefore: issuedBefore === undefined ? undefined : parseIssuedBefore(issuedBefore),
  };
  const needs = (given: boolean, option: string, what: string) => {
    if (given) throw new UsageError(`Option ${option} needs ${what}`);
  };
  needs(options.peer !== undefined && !options.issued, "-peer", "-issued");
  needs(
    options.identities.length > 0 && !options.issued && !options.revocation,
    "-identity",
    "-issued or -revocation",
  );
  needs(options.jtis.length > 0 && !options.revocation, "-jti", "-revocation");
  needs(
    options.issuedBefore !== undefined && !options.revocation,
    "-issuedbefore",
    "-revocation",
  );
  if (options.issued && options.reqid !== undefined) {
    throw new UsageError("Option -reqid lists a pending request; it does not go with -issued");
  }
  if (options.revocation && options.reqid !== undefined) {
    throw new UsageError("Option -reqid does not go with -revocation");
  }
  if (options.revocation && options.json) {
    throw new UsageError("Option -json does not go with -revocation: the line is the output");
  }
  if (options.issued && options.identities.length > 1) {
    throw new UsageError("Option -identity is given once with -issued");
  }
  if (
    options.revocation && !options.issued && options.jtis.length === 0 &&
    options.identities.length === 0 && options.issuedBefore === undefined
  ) {
    throw new UsageError(
      "Option -revocation needs the tokens to revoke: -jti, -identity, -issuedbefore, " +
        "or -issued (with its filters)",
    );
  }
  // Checked now, so that a value HTCondor's parser would misread stops before any network call.
  if (options.revocation) {
    for (const jti of options.jtis) oldClassAdString(jti, "token ID");
    if (!options.issued) {
      for (const who of options.identities) oldClassAdString(who, "identity");
    }
  }
  return options;
}

/** Lists the requests or issued tokens, or prints the revocation line. */
export async function runRequestList(options: ListOptions, io: Io): Promise<number> {
  if (options.revocation && !options.issued) {
    return await printRevocation(options, io, {
      jtis: options.jtis,
      identities: options.identities,
      issuedBefore: options.issuedBefore,
    });
  }
  if (options.issued) return await listIssued(options, io);
  return await listPending(options, io);
}

/** Lists the pending requests. Needs what {@link openSession} needs. */
async function listPending(options: ListOptions, io: Io): Promise<number> {
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

/**
 * Lists the tokens the daemon issued (every page), or with -revocation
 * prints the line revoking them by ID. Needs what {@link openSession} needs.
 */
async function listIssued(options: ListOptions, io: Io): Promise<number> {
  const setup = await toolConfig(io, options.target.debug);
  const { client, caller } = await openSession(options.target, io, { tool: NAME, setup });
  let tokens: IssuedTokenInfo[];
  try {
    tokens = await allIssued(client, options, io.signal);
  } catch (err) {
    throw tidyRefusal(err, caller());
  } finally {
    client.close();
  }
  const matching = [
    ...(options.identities.length > 0 ? [`issued to ${options.identities[0]}`] : []),
    ...(options.peer !== undefined ? [`for requests from ${options.peer}`] : []),
  ].join(" ");
  if (options.revocation) {
    if (tokens.length === 0) {
      await io.err(
        `${NAME}: Cannot write a revocation expression: the daemon at ${client.address} ` +
          `lists no issued token${matching ? ` ${matching}` : ""}\n`,
      );
      return EXIT.FAILURE;
    }
    // The daemon's token IDs go into a line an administrator pastes: each must be writable.
    for (const token of tokens) {
      try {
        oldClassAdString(token.jti, "token ID");
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        throw new DaemonError(
          "DAEMON_BAD_RESPONSE",
          `Cannot write a revocation expression for the daemon at ${client.address}: it lists ` +
            `a token that cannot be written: ${err.message.replace(/^Cannot write /, "")}`,
        );
      }
    }
    await io.err(
      `Revoking ${tokens.length} issued token${tokens.length === 1 ? "" : "s"} by ID.\n`,
    );
    return await printRevocation(options, io, {
      jtis: [...options.jtis, ...tokens.map((t) => t.jti)],
      identities: [],
      issuedBefore: options.issuedBefore,
    }, setup.config);
  }
  if (options.json) {
    await io.out(jsonText(tokens, 2) + "\n");
  } else {
    for (const token of tokens) await io.out(formatAd(issuedAttributes(token)) + "\n");
  }
  if (tokens.length === 0) {
    await io.err(
      `Remote daemon reports no issued tokens${matching ? ` ${matching}` : ""}.\n`,
    );
  }
  return EXIT.OK;
}

/** Every page of the daemon's issued tokens matching the filters. */
async function allIssued(
  client: TokenDaemonClient,
  options: ListOptions,
  signal: AbortSignal,
): Promise<IssuedTokenInfo[]> {
  const tokens: IssuedTokenInfo[] = [];
  let before: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const reply = await client.issued({
      identity: options.identities[0],
      peer: options.peer,
      before,
    }, signal);
    tokens.push(...reply.tokens);
    if (reply.next === undefined) return tokens;
    // A cursor is a record number that only goes down; anything else would
    // let a daemon keep the tool reading for ever.
    if (
      !/^[1-9]\d{0,14}$/.test(reply.next) ||
      (before !== undefined && Number(reply.next) >= Number(before))
    ) {
      throw new DaemonError(
        "DAEMON_BAD_RESPONSE",
        `Cannot list issued tokens at ${client.address}: its cursor did not move on`,
      );
    }
    if (tokens.length >= MAX_TOKENS) break;
    before = reply.next;
  }
  throw new UsageError(
    `Cannot list issued tokens at ${client.address}: more than ${MAX_PAGES} pages or ${MAX_TOKENS} tokens; narrow with -identity or -peer`,
  );
}

/** Pages of issued tokens the tool reads at most (each bounded by the daemon). */
const MAX_PAGES = 1000;
/** Issued tokens the tool holds at most: what a daemon's answers can make it keep in memory. */
const MAX_TOKENS = 100_000;

/** An issued token as `Name = value` lines (its ID, never the token). */
function issuedAttributes(token: IssuedTokenInfo): AdAttribute[] {
  const attributes: AdAttribute[] = [
    ["TokenId", token.jti],
    ["Identity", token.identity],
  ];
  if (token.authorizations.length > 0) {
    attributes.push(["LimitAuthorization", token.authorizations.join(",")]);
  }
  attributes.push(["IssuedAt", token.issuedAt]);
  if (token.expiresAt !== null) attributes.push(["ExpiresAt", token.expiresAt]);
  if (token.requestId !== null) attributes.push(["RequestId", token.requestId]);
  if (token.peer !== null) attributes.push(["PeerLocation", token.peer]);
  attributes.push(["IssuedBy", token.how]);
  if (token.approvedBy !== null) attributes.push(["ApprovedBy", token.approvedBy]);
  if (token.ruleId !== undefined) attributes.push(["RuleId", token.ruleId]);
  return attributes;
}

/**
 * Prints the SEC_TOKEN_REVOCATION_EXPR line revoking `choice`, keeping the
 * expression this host's configuration sets now (if any).
 */
async function printRevocation(
  options: ListOptions,
  io: Io,
  choice: RevocationChoice,
  loaded?: Awaited<ReturnType<typeof toolConfig>>["config"],
): Promise<number> {
  const config = loaded ?? (await toolConfig(io, options.target.debug)).config;
  const current = config.get(REVOCATION_KNOB)?.trim();
  const old = current ? undefined : config.get(OLD_REVOCATION_KNOB)?.trim();
  const existing = current || old || undefined;
  if (existing !== undefined) {
    await io.err(
      `${NAME}: keeping the expression ${current ? REVOCATION_KNOB : OLD_REVOCATION_KNOB} ` +
        `sets in this host's configuration\n`,
    );
  }
  await io.out(revocationLine(choice, existing) + "\n");
  return EXIT.OK;
}

/** The condor_token_request_list tool. */
export const condorTokenRequestList: Tool = defineTool({
  doc: DOC,
  parse: parseListOptions,
  run: runRequestList,
  exitCodeOf: targetExitCode,
});
