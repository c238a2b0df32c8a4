/**
 * The options HTCondor 25's tools take, read from their sources
 * (src/condor_tools/token_*.cpp) and manual pages: for each, the shortest
 * prefix its `is_dash_arg_prefix` check accepts and whether it takes a
 * value, in the order the tool tries them (the first match wins). `exact`
 * options are compared with strcmp. condor_token_request_deny and
 * condor_tokend are ours alone.
 */

/** One option of an HTCondor tool. */
export interface HtcondorOption {
  name: string;
  min: number;
  value: boolean;
  exact?: boolean;
}

const debug: HtcondorOption = { name: "debug", min: 1, value: false };
const help: HtcondorOption = { name: "help", min: 1, value: false };
const pool: HtcondorOption = { name: "pool", min: 1, value: true };
const name: HtcondorOption = { name: "name", min: 1, value: true };
const type: HtcondorOption = { name: "type", min: 1, value: true };

/** By tool, in each tool's own order. */
export const HTCONDOR_OPTIONS: Readonly<Record<string, readonly HtcondorOption[]>> = {
  condor_token_create: [
    { name: "identity", min: 2, value: true },
    { name: "key", min: 1, value: true },
    { name: "authz", min: 1, value: true },
    { name: "lifetime", min: 1, value: true },
    { name: "token", min: 2, value: true },
    { name: "file", min: 1, value: true },
    debug,
    help,
  ],
  condor_token_fetch: [
    { name: "authz", min: 1, value: true },
    { name: "lifetime", min: 1, value: true },
    pool,
    name,
    { name: "key", min: 1, value: true },
    { name: "token", min: 2, value: true },
    { name: "file", min: 1, value: true },
    type,
    { name: "remote", min: 1, value: false },
    debug,
    help,
  ],
  condor_token_list: [
    debug,
    help,
    { name: "dir", min: 1, value: true },
    { name: "file", min: 1, value: true },
    { name: "capability", min: 1, value: false },
    pool,
    name,
    type,
  ],
  condor_token_request: [
    { name: "authz", min: 1, value: true },
    { name: "lifetime", min: 1, value: true },
    { name: "identity", min: 1, value: true },
    pool,
    name,
    { name: "token", min: 2, value: true },
    { name: "file", min: 1, value: true },
    type,
    debug,
    help,
  ],
  condor_token_request_list: [
    pool,
    name,
    type,
    { name: "reqid", min: 1, value: true },
    debug,
    { name: "json", min: 4, value: false, exact: true },
    help,
  ],
  condor_token_request_approve: [
    { name: "reqid", min: 1, value: true },
    pool,
    name,
    type,
    debug,
    help,
  ],
  condor_token_request_auto_approve: [
    { name: "lifetime", min: 1, value: true },
    { name: "netblock", min: 2, value: true },
    pool,
    name,
    type,
    debug,
    help,
  ],
  condor_token_request_deny: [],
  condor_tokend: [],
};

/** The option HTCondor's tool takes `arg` (`-x`) for, by its rules, or undefined. */
export function htcondorMatch(tool: string, arg: string): HtcondorOption | undefined {
  const word = arg.replace(/^-/, "");
  return HTCONDOR_OPTIONS[tool].find((o) =>
    o.exact ? word === o.name : word.length >= o.min && o.name.startsWith(word)
  );
}
