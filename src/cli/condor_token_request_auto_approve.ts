/**
 * condor_token_request_auto_approve: install an auto-approval rule (a
 * netblock and a lifetime) at a daemon, then show what is still pending.
 * Administrators only.
 */
import type { RequestInfo } from "../api/protocol.ts";
import type { TokenDaemonClient } from "../client/daemon_client.ts";
import { CondorError, UsageError } from "../errors.ts";
import { parseOptions, parseSeconds, single } from "./_options.ts";
import { formatRequest } from "./_request_ad.ts";
import {
  openSession,
  parseTarget,
  TARGET_OPTIONS,
  targetExitCode,
  type TargetOptions,
  targetOptions,
  tidyRefusal,
} from "./_target.ts";
import { defineTool, OTHER_OPTIONS, type Tool } from "./_tool.ts";
import { AUTHENTICATION, CONFIGURATION, TRUST } from "./_common_doc.ts";
import type { ToolDoc } from "./_doc.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_token_request_auto_approve";

const DOC: ToolDoc = {
  name: NAME,
  section: 1,
  summary: "install a rule that approves matching token requests automatically",
  synopsis: [
    "-netblock NETBLOCK -lifetime SECONDS [-pool HOST[:PORT]] [-name NAME] [-type TYPE] " +
    "[-trust sha256:...] [-debug]",
    "-help | -version",
  ],
  description: [
    "Installs a rule at a daemon (the pool's collector by default) that approves token " +
    "requests automatically for SECONDS from now, if they come from an address in NETBLOCK, " +
    "ask for an identity condor@..., and ask only for ADVERTISE_STARTD, ADVERTISE_SCHEDD " +
    "and/or ADVERTISE_MASTER. Requests made up to 60 seconds before the rule was installed " +
    "count too, and pending requests that match are approved at once. Then, as HTCondor's " +
    "tool does, it lists what is still pending. Needs ADMINISTRATOR authorization.",
    "It is not safe to auto-approve a network where users can reach any of the hosts: anyone " +
    "there could obtain a daemon's token.",
  ],
  groups: ["Options", TARGET_OPTIONS, OTHER_OPTIONS],
  options: [
    // HTCondor's order: -l is -lifetime, -n is -name, -ne is -netblock.
    {
      name: "lifetime",
      min: 1,
      value: true,
      arg: "SECONDS",
      help: "How long the rule stays in force (required, > 0; the daemon caps it at its " +
        "TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME, one hour by default)",
      group: "Options",
    },
    {
      name: "netblock",
      min: 2,
      value: true,
      arg: "NETBLOCK",
      help: "Approve requests from this network (required), e.g. 192.168.0.0/24, " +
        "192.168.0.0/255.255.255.0, 192.168.0.*, a single address, 2001:db8::/32 or *",
      group: "Options",
    },
    ...targetOptions("COLLECTOR"),
  ],
  exitStatus: [
    "0 rule installed, 1 the daemon refused the rule (bad netblock or lifetime) or other " +
    "failure, 2 bad command line, 7 daemon unreachable, 8 certificate not trusted, 9 no " +
    "credential or not an administrator.",
  ],
  sections: [AUTHENTICATION, TRUST, CONFIGURATION],
  examples: [{
    about: "Approve new execute nodes for ten minutes while they are being installed:",
    command: `${NAME} -netblock 192.0.2.0/26 -lifetime 600`,
  }],
  seeAlso: [
    "condor_token_request_list(1)",
    "condor_token_request_approve(1)",
    "condor_token_request(1)",
  ],
};

/** Options of condor_token_request_auto_approve. */
export interface AutoApproveOptions {
  target: TargetOptions;
  netblock: string;
  /** Seconds, > 0. */
  lifetime: number;
}

/** Parses the command line. Throws UsageError. */
export function parseAutoApproveOptions(args: readonly string[]): AutoApproveOptions {
  const parsed = parseOptions(args, DOC.options);
  const target = parseTarget(parsed);
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
  return { target, netblock, lifetime };
}

/** Installs the rule and shows what remains pending. Needs what openSession needs. */
export async function runAutoApprove(options: AutoApproveOptions, io: Io): Promise<number> {
  const { client, caller } = await openSession(options.target, io, { tool: NAME });
  try {
    const rule = await client.autoApprove(options.netblock, options.lifetime, io.signal);
    await io.out(
      `Successfully installed auto-approval rule for netblock ${rule.netblock} with lifetime of ${
        (rule.lifetime / 3600).toFixed(2)
      } hours\n`,
    );
    if (rule.lifetime < options.lifetime) {
      await io.err(
        `${NAME}: the daemon shortened the rule to ${rule.lifetime} s, its ` +
          `TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME\n`,
      );
    }
    if (rule.approved.length > 0) {
      await io.out(`The rule approved pending request(s) ${rule.approved.join(", ")}.\n`);
    }
    await showRemaining(client, io);
    return EXIT.OK;
  } catch (err) {
    throw tidyRefusal(err, client.address, caller());
  } finally {
    client.close();
  }
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
  run: runAutoApprove,
  exitCodeOf: targetExitCode,
});
