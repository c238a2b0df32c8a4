/**
 * condor_token_request_auto_approve: install an auto-approval rule (a
 * netblock and a lifetime) at a daemon, then show what is still pending;
 * or (ours) list the rules in force, or remove one. Administrators only.
 */
import type { AutoApproveResponse, RequestInfo, RuleInfo } from "../api/protocol.ts";
import type { TokenDaemonClient } from "../client/daemon_client.ts";
import { CondorError, UsageError } from "../errors.ts";
import { type ParsedOptions, parseOptions, parseSeconds, single } from "./_options.ts";
import { formatRequest } from "./_request_ad.ts";
import { targetExitCode, withJsonFailure } from "./_exit_status.ts";
import { tidyRefusal } from "./_refusals.ts";
import { openSession } from "./_session.ts";
import {
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

const NAME = "condor_token_request_auto_approve";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary:
    "install, list, remove or resume rules that approve matching token requests automatically",
  synopsis: [
    "-netblock NETBLOCK -lifetime SECONDS [-json] [-pool HOST[:PORT]] [-name NAME] [-type TYPE] " +
    "[-trust sha256:...] [-debug]",
    "-list [-json] [target options]",
    "-remove RULE_ID [-json] [target options]",
    "-resume RULE_ID [-json] [target options]",
    "-help | -version",
  ],
  description: [
    "Installs a rule at a daemon (the pool's collector by default) that approves token " +
    "requests automatically for SECONDS from now, if they come from an address in NETBLOCK, " +
    "ask for an identity condor@..., and ask only for ADVERTISE_STARTD, ADVERTISE_SCHEDD " +
    "and/or ADVERTISE_MASTER. Requests made up to 60 seconds before the rule was installed " +
    "count too, and pending requests that match are approved at once. Then, as HTCondor's " +
    "tool does, it lists what is still pending. Needs ADMINISTRATOR authorization.",
    "With -list it shows the rules in force instead: each rule's ID, netblock, who installed " +
    "it and when, when it expires, and how many requests it approved. With -remove it " +
    "removes one, by its ID; requests it approved stay approved. condor_tokend keeps rules " +
    "in its database, so they survive its restarts until they expire or are removed. " +
    "HTCondor's daemons keep them in memory, drop them all on condor_reconfig, and cannot " +
    "list or remove them: against one, -list and -remove say so in one line.",
    "condor_tokend has a circuit breaker on auto-approval: once a rule has approved " +
    "TOKEND_AUTO_APPROVE_MAX_PER_RULE requests within TOKEND_AUTO_APPROVE_INTERVAL seconds " +
    "(2000 in 10 minutes by default), or all rules together TOKEND_AUTO_APPROVE_MAX_TOTAL " +
    "(5000), the requests it matches stay pending for a human until the next interval " +
    "begins. -list shows such a rule as held (HELD column); -resume lets it approve again " +
    "at once (requests held meanwhile stay pending: approve them with " +
    "condor_token_request_approve). HTCondor's daemons have no such breaker: against one, " +
    "-resume says so in one line.",
    "It is not safe to auto-approve a network where users can reach any of the hosts: anyone " +
    "there could obtain a daemon's token.",
  ],
  groups: ["Options", TARGET_OPTIONS, OTHER_OPTIONS],
  options: [
    // HTCondor's order: -l is -lifetime, -n is -name, -ne is -netblock; ours need three letters.
    {
      name: "lifetime",
      min: 1,
      value: true,
      arg: "SECONDS",
      help: "How long the rule stays in force (required to install one, > 0; the daemon caps " +
        "it at its TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME, one hour by default)",
      group: "Options",
    },
    {
      name: "netblock",
      min: 2,
      value: true,
      arg: "NETBLOCK",
      help: "Approve requests from this network (required to install a rule), e.g. " +
        "192.168.0.0/24, 192.168.0.0/255.255.255.0, 192.168.0.*, a single address, " +
        "2001:db8::/32 or *",
      group: "Options",
    },
    {
      name: "list",
      min: 3,
      value: false,
      help: "List the rules in force instead of installing one (condor_tokend only)",
      group: "Options",
    },
    {
      name: "remove",
      min: 3,
      value: true,
      arg: "RULE_ID",
      help: "Remove the rule with this ID (see -list) instead of installing one; requests " +
        "it approved stay approved (condor_tokend only)",
      group: "Options",
    },
    {
      name: "resume",
      min: 3,
      value: true,
      arg: "RULE_ID",
      help: "Let the rule with this ID approve again now when the circuit breaker holds it " +
        "(see -list; condor_tokend only)",
      group: "Options",
    },
    {
      name: "json",
      min: 1,
      value: false,
      help: "Print the outcome as JSON on stdout instead: the rule installed or removed as " +
        "one object, or the rules in force as an array",
      group: "Options",
    },
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 rule installed, rules listed (also when there is none), removed or resumed, 1 the daemon " +
    "refused the rule (bad netblock or lifetime), no rule in force has that ID, the daemon " +
    "is HTCondor's (for -list, -remove and -resume) or other failure, 2 bad command line, 7 daemon " +
    "unreachable, 8 certificate not trusted, 9 no credential or not an administrator.",
  ],
  sections: [
    {
      title: "JSON output",
      paragraphs: [
        'Installing: {"outcome": "installed", "exitCode": 0, "ruleId", "netblock", ' +
        '"lifetime" (seconds in force, after the daemon\'s cap), "expiresAt" (epoch ' +
        'seconds), "approved" (IDs of the pending requests it approved at once)}; ruleId ' +
        "is absent from an HTCondor daemon, which does not say which requests it approved " +
        'either. -list: an array of {"ruleId", "netblock", "createdBy", "createdAt", ' +
        '"expiresAt", "approved" (how many requests it approved), "held" (true while the ' +
        'circuit breaker holds it), "heldBy" ("rule" or "total") and "heldSince" (epoch ' +
        'seconds) while held, "windowApproved" (approvals in the current interval)}, [] when ' +
        "none is in force; the breaker's fields are absent when the daemon predates them. " +
        '-remove: {"outcome": "removed", "exitCode": 0, and the rule as -list shows it}; ' +
        '-resume: {"outcome": "resumed", "exitCode": 0, and the rule}. When installing or removing fails: {"outcome": "error", "exitCode", ' +
        '"code", "message"}.',
      ],
    },
    AUTHENTICATION,
    TRUST,
    CONFIGURATION,
  ],
  examples: [
    {
      about: "Approve new execute nodes for ten minutes while they are being installed:",
      command: `${NAME} -netblock 192.0.2.0/26 -lifetime 600`,
    },
    {
      about: "See what rules are in force, then remove rule 3:",
      command: `${NAME} -list\n${NAME} -remove 3`,
    },
    {
      about: "Rule 4 is held by the circuit breaker, and the burst is expected: resume it:",
      command: `${NAME} -resume 4`,
    },
  ],
  seeAlso: [
    "condor_token_request_list(1)",
    "condor_token_request_approve(1)",
    "condor_token_request(1)",
    "condor_tokend(8)",
  ],
};

/** What the tool is asked to do. */
export type AutoApproveAction =
  | { kind: "install"; netblock: string; lifetime: number }
  | { kind: "list" }
  | { kind: "remove"; ruleId: number }
  | { kind: "resume"; ruleId: number };

/** Options of condor_token_request_auto_approve. */
export interface AutoApproveOptions {
  target: TargetOptions;
  action: AutoApproveAction;
  json: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseAutoApproveOptions(args: readonly string[]): AutoApproveOptions {
  const parsed = parseOptions(args, DOC.options);
  const target = parseTarget(parsed);
  return { target, action: parseAction(parsed), json: parsed.has("json") };
}

/** -list, -remove ID, -resume ID, or (the default) -netblock with -lifetime. Throws UsageError. */
function parseAction(parsed: ParsedOptions): AutoApproveAction {
  const chosen = ["list", "remove", "resume"].find((name) => parsed.has(name));
  if (chosen !== undefined) {
    const other = ["netblock", "lifetime", "list", "remove", "resume"]
      .find((name) => name !== chosen && parsed.has(name));
    if (other !== undefined) {
      throw new UsageError(`Option -${chosen} cannot be used with -${other}`);
    }
    if (chosen === "list") return { kind: "list" };
    const id = single(parsed, chosen)!;
    if (!/^[1-9]\d{0,14}$/.test(id)) {
      throw new UsageError(
        `Invalid value for -${chosen}: "${id}" is not a rule ID (a positive whole number; see -list)`,
      );
    }
    return { kind: chosen as "remove" | "resume", ruleId: Number(id) };
  }
  const netblock = single(parsed, "netblock")?.trim();
  if (netblock === undefined) {
    throw new UsageError("Option -netblock is required, e.g. -netblock 192.168.0.0/24");
  }
  if (netblock === "") throw new UsageError("Invalid value for -netblock: it is empty");
  const lifetimeText = single(parsed, "lifetime");
  if (lifetimeText === undefined) {
    throw new UsageError("Option -lifetime is required: how many seconds the rule stays in force");
  }
  const lifetime = parseSeconds(lifetimeText, "lifetime");
  if (lifetime === 0) {
    throw new UsageError(`Invalid value for -lifetime: "0"; a rule must last at least 1 second`);
  }
  return { kind: "install", netblock, lifetime };
}

/** Installs, lists or removes rules. Needs what openSession needs. */
export async function runAutoApprove(options: AutoApproveOptions, io: Io): Promise<number> {
  const { client, caller } = await openSession(options.target, io, { tool: NAME });
  try {
    const { action } = options;
    if (action.kind === "list") return await listRules(client, io, options.json);
    if (action.kind === "remove") return await removeRule(client, io, action.ruleId, options.json);
    if (action.kind === "resume") return await resumeRule(client, io, action.ruleId, options.json);
    return await installRule(client, io, action, options.json);
  } catch (err) {
    throw tidyRefusal(err, caller());
  } finally {
    client.close();
  }
}

/** Installs the rule and shows (without -json) what remains pending. */
async function installRule(
  client: TokenDaemonClient,
  io: Io,
  asked: { netblock: string; lifetime: number },
  json: boolean,
): Promise<number> {
  const rule = await client.autoApprove(asked.netblock, asked.lifetime, io.signal);
  if (json) {
    await io.out(jsonText(installedJson(rule)) + "\n");
  } else {
    await io.out(
      `Successfully installed auto-approval rule for netblock ${rule.netblock} with lifetime of ${
        (rule.lifetime / 3600).toFixed(2)
      } hours\n`,
    );
  }
  if (rule.lifetime < asked.lifetime) {
    await io.err(
      `${NAME}: the daemon shortened the rule to ${rule.lifetime} s, its ` +
        `TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME\n`,
    );
  }
  if (json) return EXIT.OK;
  if (rule.approved.length > 0) {
    await io.out(`The rule approved pending request(s) ${rule.approved.join(", ")}.\n`);
  }
  await showRemaining(client, io);
  return EXIT.OK;
}

/** The -json object of an installed rule, fields in a fixed order. */
function installedJson(rule: AutoApproveResponse): Record<string, unknown> {
  return {
    outcome: "installed",
    exitCode: EXIT.OK,
    ...(rule.ruleId === undefined ? {} : { ruleId: rule.ruleId }),
    netblock: rule.netblock,
    lifetime: rule.lifetime,
    expiresAt: rule.expiresAt,
    approved: rule.approved,
  };
}

/** -list: the rules in force, as a table (or a JSON array). */
async function listRules(client: TokenDaemonClient, io: Io, json: boolean): Promise<number> {
  const rules = await client.rules(io.signal);
  if (json) await io.out(jsonText(rules.map(ruleJson)) + "\n");
  if (rules.length === 0) {
    await io.err("Remote daemon reports no auto-approval rules in force.\n");
  } else if (!json) {
    await io.out(ruleTable(rules));
  }
  return EXIT.OK;
}

/** -remove: removes the rule and says what it was. */
async function removeRule(
  client: TokenDaemonClient,
  io: Io,
  ruleId: number,
  json: boolean,
): Promise<number> {
  const rule = await client.removeRule(ruleId, io.signal);
  if (json) {
    await io.out(
      jsonText({ outcome: "removed", exitCode: EXIT.OK, ...ruleJson(rule) }) + "\n",
    );
  } else {
    await io.out(
      `Removed auto-approval rule ${rule.ruleId} for netblock ${rule.netblock} (installed by ` +
        `${printableCell(rule.createdBy)}, it approved ${rule.approved} request${
          rule.approved === 1 ? "" : "s"
        }; they stay approved).\n`,
    );
  }
  return EXIT.OK;
}

/** -resume: lets a held rule approve again and says what it is now. */
async function resumeRule(
  client: TokenDaemonClient,
  io: Io,
  ruleId: number,
  json: boolean,
): Promise<number> {
  const rule = await client.resumeRule(ruleId, io.signal);
  if (json) {
    await io.out(
      jsonText({ outcome: "resumed", exitCode: EXIT.OK, ...ruleJson(rule) }) + "\n",
    );
  } else {
    await io.out(
      `Auto-approval rule ${rule.ruleId} for netblock ${rule.netblock} approves matching ` +
        `requests again; requests held meanwhile stay pending (see condor_token_request_list).\n`,
    );
  }
  return EXIT.OK;
}

/** A rule for -json, fields in a fixed order (the breaker's only when the daemon gave them). */
function ruleJson(rule: RuleInfo): Record<string, unknown> {
  return {
    ruleId: rule.ruleId,
    netblock: rule.netblock,
    createdBy: rule.createdBy,
    createdAt: rule.createdAt,
    expiresAt: rule.expiresAt,
    approved: rule.approved,
    ...(rule.held === undefined ? {} : { held: rule.held }),
    ...(rule.heldBy === undefined ? {} : { heldBy: rule.heldBy }),
    ...(rule.heldSince === undefined ? {} : { heldSince: rule.heldSince }),
    ...(rule.windowApproved === undefined ? {} : { windowApproved: rule.windowApproved }),
  };
}

/** The rules as a table with a heading, columns padded to their widest cell; times in UTC. */
export function ruleTable(rules: readonly RuleInfo[]): string {
  const rows = [
    ["RULE", "NETBLOCK", "CREATED BY", "CREATED (UTC)", "EXPIRES (UTC)", "APPROVED", "HELD"],
    ...rules.map((r) => [
      String(r.ruleId),
      printableCell(r.netblock),
      printableCell(r.createdBy),
      utc(r.createdAt),
      utc(r.expiresAt),
      String(r.approved),
      r.held
        ? `since ${utc(r.heldSince ?? 0)} (${r.heldBy === "total" ? "all rules" : "rule"})`
        : "no",
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  ).join("\n") + "\n";
}

/** Epoch seconds as `2023-11-14 22:13:20`. */
function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
}

/** A cell with control characters shown as `?`, so a terminal does not obey them. */
function printableCell(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, "?");
}

/** Lists what the rule left pending; a failure here does not undo the rule, so it only warns. */
async function showRemaining(client: TokenDaemonClient, io: Io): Promise<void> {
  let remaining: RequestInfo[];
  try {
    remaining = await client.list(undefined, io.signal);
  } catch (err) {
    if (!(err instanceof CondorError) || io.signal.aborted) throw err;
    await io.err(`${NAME}: Failed to list remaining token requests: ${err.message}\n`);
    return;
  }
  if (remaining.length === 0) {
    await io.err("Remote daemon reports no un-approved requests pending.\n");
    return;
  }
  const rule = "=".repeat(50);
  await io.out(
    `The following requests remain after auto-approval rule was installed:\n${rule}\n` +
      remaining.map((r) => formatRequest(r) + "\n").join("") +
      `${rule}\nTo approve these requests, please run condor_token_request_approve manually.\n`,
  );
}

/** The condor_token_request_auto_approve tool. */
export const condorTokenRequestAutoApprove: Tool = defineTool({
  doc: DOC,
  parse: parseAutoApproveOptions,
  // Installing and removing act: with -json a failure is an object too. -list lists, as
  // condor_token_request_list does: nothing on stdout when it fails.
  run: (options, io) =>
    withJsonFailure(
      options.json && options.action.kind !== "list",
      io,
      () => runAutoApprove(options, io),
    ),
  exitCodeOf: targetExitCode,
});
