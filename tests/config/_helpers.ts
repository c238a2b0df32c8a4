/** Shared helpers for the configuration tests. */

import { strict as assert } from "node:assert";
import { ConfigError } from "../../src/errors.ts";
import type { Env } from "../../src/config/condor_config.ts";

/** An environment holding exactly `vars`. */
export function envOf(vars: Record<string, string> = {}): Env {
  const map = new Map(Object.entries(vars));
  return { get: (name) => map.get(name) };
}

/** Writes `text` to `dir/relative`, creating parent directories; returns the full path. */
export async function writeFile(dir: string, relative: string, text: string): Promise<string> {
  const path = `${dir}/${relative}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text);
  return path;
}

/**
 * File access rooted at `root`: absolute path `/etc/x` is read from
 * `root/etc/x`, so tests can stand in for the fixed global locations on a
 * real file system without touching the host's own /etc.
 */
export function rootedAt(root: string): {
  readTextFile: (path: string) => Promise<string>;
  readDir: (path: string) => Promise<string[]>;
} {
  return {
    readTextFile: (path) => Deno.readTextFile(root + path),
    readDir: async (path) => {
      const names: string[] = [];
      for await (const entry of Deno.readDir(root + path)) {
        if (!entry.isDirectory) names.push(entry.name);
      }
      return names;
    },
  };
}

/** Asserts that `run` throws a ConfigError with `code`; returns it for further checks. */
export function assertConfigError(run: () => unknown, code: string): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ConfigError ${code}, nothing was thrown`);
}

/** Asserts that `run` rejects with a ConfigError with `code`; returns it for further checks. */
export async function assertRejectsConfigError(
  run: () => Promise<unknown>,
  code: string,
): Promise<ConfigError> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ConfigError ${code}, nothing was thrown`);
}
