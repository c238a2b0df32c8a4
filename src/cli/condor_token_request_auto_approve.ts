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
  TARGET_SPECS,
  targetExitCode,
  type TargetOptions,
  targetUsage,
  tidyRefusal,
} from "./_target.ts";
import { defineTool, type Tool } from "./_tool.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";

const NAME = "condor_token_request_auto_approve";

const USAGE = `Usage: ${NAME} -netblock NETBLOCK -lifetime SECONDS [-pool POOL]
                                         [-name NAME] [-type TYPE] [-trust sha256:...] [-debug]

Installs a rule at a daemon (the pool's collector by default) that approves
token requests automatically for SECONDS from now, if they come from an
address in NETBLOCK, ask for an identity condor@..., and ask only for
ADVERTISE_STARTD, ADVERTISE_SCHEDD and/or ADVERTISE_MASTER. Pending requests
that match are approved at once. Needs ADMINISTRATOR authorization.

Options:
    -netblock <NETBLOCK>  Approve requests from this network (required),
                          e.g. 192.168.0.0/24
    -lifetime <SECONDS>   How long the rule stays in force (required, > 0; the
                          daemon caps it at TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME)
${targetUsage("COLLECTOR")}
Exit status: 0 rule installed, 1 the daemon refused the rule (bad netblock or
lifetime) or other failure, 2 bad command line, 7 daemon unreachable,
8 certificate not trusted, 9 no credential or not an administrator.
`;

// HTCondor's order: -l is -lifetime, -n is -name, -ne is -netblock.
const SPECS = [
  { name: "lifetime", min: 1, value: true },
  { name: "netblock", min: 2, value: true },
  ...TARGET_SPECS,
];

/** Options of condor_token_request_auto_approve. */
export interface AutoApproveOptions {
  target: TargetOptions;
  netblock: string;
  /** Seconds, > 0. */
  lifetime: number;
}

/** Parses the command line. Throws UsageError. */
export function parseAutoApproveOptions(args: readonly string[]): AutoApproveOptions {
  const parsed = parseOptions(args, SPECS);
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
  name: NAME,
  summary: "install a rule that approves matching token requests automatically",
  usage: USAGE,
  options: SPECS,
  parse: parseAutoApproveOptions,
  run: runAutoApprove,
  exitCodeOf: targetExitCode,
});
