/** Configuration helpers shared by the tools. */
import { type CondorConfig, loadConfig } from "../config/condor_config.ts";
import { tokenDirectoryOf } from "../client/settings.ts";
import { type DebugLog, debugLog, type DebugOption } from "./_tool.ts";
import type { Io } from "./io.ts";

/** The configuration and the -debug log its TOOL_DEBUG selects. */
export interface ToolSetup {
  config: CondorConfig;
  debug: DebugLog;
}

/**
 * Loads the HTCondor configuration the way HTCondor's tools do, and returns
 * it with the -debug log (silent unless `debug` was given) that writes to
 * `sink` (stderr by default) in the categories -debug:CATEGORIES names, else
 * those of its TOOL_DEBUG.
 * Needs --allow-read, --allow-env.
 */
export async function toolConfig(
  io: Pick<Io, "env" | "hostname" | "err">,
  debug: DebugOption | undefined,
  sink: Pick<Io, "err"> = io,
): Promise<ToolSetup> {
  const config = await loadConfig({ env: io.env, hostname: io.hostname() });
  const log = debugLog(sink, debug !== undefined, debug?.categories ?? config.get("TOOL_DEBUG"));
  await log(
    config.files.length > 0
      ? `configuration read from ${config.files.join(", ")}`
      : "no configuration file found; using HTCondor's defaults",
  );
  for (const warning of config.warnings) await log(`configuration: ${warning}`);
  return { config, debug: log };
}

/**
 * The user's token directory, SEC_TOKEN_DIRECTORY (default ~/.condor/tokens.d).
 * Throws ConfigError CONFIG_MISSING without HOME.
 */
export function tokenDirectory(config: CondorConfig): string {
  return tokenDirectoryOf(config);
}

/** The pool's trust domain, the issuer of its tokens. */
export function trustDomain(config: CondorConfig): string {
  return config.require("TRUST_DOMAIN");
}
