/**
 * -debug as HTCondor's tools take it: any prefix from -d (where HTCondor
 * takes one), and -debug:CATEGORIES standing in for TOOL_DEBUG.
 */
import assert from "node:assert/strict";
import { toolConfig } from "../../src/cli/_config.ts";
import { parseOptions } from "../../src/cli/_options.ts";
import { debugOption, debugSpec } from "../../src/cli/_tool.ts";
import { parseCreateOptions } from "../../src/cli/condor_token_create.ts";
import { parseFetchOptions } from "../../src/cli/condor_token_fetch.ts";
import { parseListOptions as parseTokenListOptions } from "../../src/cli/condor_token_list.ts";
import { parseRequestOptions } from "../../src/cli/condor_token_request.ts";
import { parseApproveOptions } from "../../src/cli/condor_token_request_approve.ts";
import { parseAutoApproveOptions } from "../../src/cli/condor_token_request_auto_approve.ts";
import { parseDenyOptions } from "../../src/cli/condor_token_request_deny.ts";
import { parseListOptions } from "../../src/cli/condor_token_request_list.ts";
import { parseTokendOptions } from "../../src/cli/condor_tokend.ts";
import { memoryIo } from "../../src/cli/io.ts";

/** Every tool's parser with the arguments it needs besides -debug, and where -debug lands. */
const TOOLS: [string, (extra: string[]) => { debug?: unknown; target?: { debug?: unknown } }][] = [
  ["condor_token_create", (x) => parseCreateOptions(["-identity", "a@b", ...x])],
  ["condor_token_list", (x) => parseTokenListOptions(x)],
  ["condor_token_fetch", (x) => parseFetchOptions(x)],
  ["condor_token_request", (x) => parseRequestOptions(x)],
  ["condor_token_request_list", (x) => parseListOptions(x)],
  ["condor_token_request_approve", (x) => parseApproveOptions(x)],
  ["condor_token_request_deny", (x) => parseDenyOptions(["-reqid", "0123456", ...x])],
  [
    "condor_token_request_auto_approve",
    (x) => parseAutoApproveOptions(["-netblock", "10.0.0.0/8", "-lifetime", "60", ...x]),
  ],
];

function debugOf(parsed: { debug?: unknown; target?: { debug?: unknown } }): unknown {
  return parsed.target ? parsed.target.debug : parsed.debug;
}

Deno.test("every tool takes -d, -de, -deb and -debug as -debug, as HTCondor's tools do", () => {
  for (const [name, parse] of TOOLS) {
    assert.equal(debugOf(parse([])), undefined, name);
    for (const spelling of ["-d", "-de", "-deb", "-debu", "-debug", "--debug"]) {
      assert.deepEqual(debugOf(parse([spelling])), {}, `${name} ${spelling}`);
    }
  }
});

Deno.test("every tool takes -debug:CATEGORIES, also abbreviated, and -debug: as plain -debug", () => {
  for (const [name, parse] of TOOLS) {
    for (const spelling of ["-debug:D_SECURITY,D_FULLDEBUG", "-d:D_SECURITY,D_FULLDEBUG"]) {
      assert.deepEqual(
        debugOf(parse([spelling])),
        { categories: "D_SECURITY,D_FULLDEBUG" },
        `${name} ${spelling}`,
      );
    }
    assert.deepEqual(debugOf(parse(["-debug:"])), {}, name);
    // Given again, the last one counts, as in HTCondor.
    assert.deepEqual(debugOf(parse(["-debug:D_NETWORK", "-deb:D_SECURITY"])), {
      categories: "D_SECURITY",
    }, name);
  }
});

Deno.test("condor_token_list: -d is -debug and -di is -dir, in HTCondor's order", () => {
  assert.deepEqual(parseTokenListOptions(["-d"]), { dir: undefined, file: undefined, debug: {} });
  assert.deepEqual(parseTokenListOptions(["-di", "/x"]), {
    dir: "/x",
    file: undefined,
    debug: undefined,
  });
});

Deno.test("condor_tokend takes -de and -debug:..., but -d is not -debug (HTCondor's daemons' -d is another option)", () => {
  assert.deepEqual(parseTokendOptions(["-de"]).debug, {});
  assert.deepEqual(parseTokendOptions(["-debug:D_ALL"]).debug, { categories: "D_ALL" });
  assert.throws(() => parseTokendOptions(["-d"]), /Invalid command line argument: -d/);
});

Deno.test("a colon is only taken by a colon option: -pool:x is no option", () => {
  const specs = [{ name: "pool", min: 1, value: true }, debugSpec()];
  assert.throws(() => parseOptions(["-pool:x"], specs), /Invalid command line argument: -pool:x/);
  assert.throws(() => parseOptions(["-dx:y"], specs), /Invalid command line argument: -dx:y/);
  assert.deepEqual(debugOption(parseOptions(["-de:D_SECURITY"], specs)), {
    categories: "D_SECURITY",
  });
});

Deno.test("toolConfig() shows the categories of -debug:CATEGORIES instead of TOOL_DEBUG's", async () => {
  const lines = async (debug: { categories?: string } | undefined) => {
    const io = memoryIo({ env: { CONDOR_CONFIG: "ONLY_ENV", _CONDOR_TOOL_DEBUG: "D_NETWORK" } });
    const { debug: log } = await toolConfig(io, debug);
    io.stderr.length = 0;
    await log("always");
    await log("security", "D_SECURITY");
    await log("network", "D_NETWORK");
    return io.stderr.join("");
  };
  assert.equal(await lines(undefined), "");
  assert.equal(await lines({}), "DEBUG: always\nDEBUG: network\n");
  assert.equal(await lines({ categories: "D_SECURITY" }), "DEBUG: always\nDEBUG: security\n");
  assert.equal(
    await lines({ categories: "D_SECURITY D_NETWORK" }),
    "DEBUG: always\nDEBUG: security\nDEBUG: network\n",
  );
});
