/**
 * The release version and the `-version` flag. The version lives only in
 * deno.json, so the build's file names and what a binary prints agree.
 */
import denoJson from "../../deno.json" with { type: "json" };

/** This release's version, e.g. "0.1.0", from deno.json. */
export const VERSION: string = denoJson.version;

/** The line `-version` prints on stdout. */
export function versionLine(): string {
  return `condor_token ${VERSION}\n`;
}

/** True when `arg` asks for the version: `-version` or `--version`, spelled out. */
export function isVersionFlag(arg: string | undefined): boolean {
  return arg === "-version" || arg === "--version";
}
