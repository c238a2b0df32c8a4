/** Every tool `main.ts` can run, by HTCondor name. */
import type { Tool } from "./_tool.ts";
import { condorTokenCreate } from "./condor_token_create.ts";
import { condorTokenFetch } from "./condor_token_fetch.ts";
import { condorTokenList } from "./condor_token_list.ts";
import { condorTokenRequest } from "./condor_token_request.ts";
import { condorTokenRequestApprove } from "./condor_token_request_approve.ts";
import { condorTokenRequestAutoApprove } from "./condor_token_request_auto_approve.ts";
import { condorTokenRequestDeny } from "./condor_token_request_deny.ts";
import { condorTokenRequestList } from "./condor_token_request_list.ts";
import { condorTokend } from "./condor_tokend.ts";

/** All tools, in the order `main.ts` lists them. */
export const TOOLS: readonly Tool[] = [
  condorTokenCreate,
  condorTokenList,
  condorTokenRequest,
  condorTokenRequestList,
  condorTokenRequestApprove,
  condorTokenRequestDeny,
  condorTokenRequestAutoApprove,
  condorTokenFetch,
  condorTokend,
];

/** Finds a tool by its exact name (a program's own name is matched by main.ts's toolOfProgram). */
export function findTool(name: string): Tool | undefined {
  return TOOLS.find((tool) => tool.name === name);
}

/** The text shown for `main.ts` without arguments or with an unknown tool. */
export function toolList(): string {
  const width = Math.max(...TOOLS.map((t) => t.name.length));
  return "Usage: condor_token TOOL [OPTIONS...]   (from the sources: main.ts TOOL ...)\n\nTools:\n" +
    TOOLS.map((t) => `    ${t.name.padEnd(width)}  ${t.summary}\n`).join("") +
    "\nRun a tool with -help for its options.\n";
}
