/**
 * HTCondor's configuration as HTCondor's tools read it: the files (see
 * {@link loadConfig}), `_CONDOR_<NAME>` environment overrides, lazily
 * expanded `$(NAME)` references and HTCondor's built-in defaults.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import {
  builtinDefaults,
  DEFAULT_EXCLUDE_REGEXP,
  detectedKnobs,
  type HostFacts,
} from "./_defaults.ts";
import { expandKnob } from "./_expand.ts";
import { KnobTable } from "./_knob_table.ts";
import { excludePattern, readConfigSources } from "./_loader.ts";
import { ConfigReader } from "./_reader.ts";
import { parseBoolean, parseInteger, splitList } from "./_values.ts";

/** The file names HTCondor skips in configuration and token directories by default. */
export const DEFAULT_EXCLUDED_FILE_NAMES: RegExp = new RegExp(DEFAULT_EXCLUDE_REGEXP);

/** Read-only access to environment variables (tests pass a Map-backed one). */
export interface Env {
  /** The variable's value, or undefined when it is not set. */
  get(name: string): string | undefined;
}

/** Inputs of {@link loadConfig}. */
export interface LoadOptions {
  /**
   * CONDOR_CONFIG, HOME, USER and `_CONDOR_<NAME>`/`_condor_<NAME>` are
   * looked up through this, one name at a time; the environment is never
   * enumerated. On Windows, USERPROFILE and USERNAME stand in for HOME and
   * USER when those are unset.
   */
  env: Env;
  /** Full host name (the caller passes `Deno.hostname()`). */
  hostname: string;
  /** The operating system, as `Deno.build.os` names it (its value by default). */
  os?: typeof Deno.build.os;
  /** Reads a file; default `Deno.readTextFile`. */
  readTextFile?: (path: string) => Promise<string>;
  /** Names of a directory's entries that are not directories; default from `Deno.readDir`. */
  readDir?: (path: string) => Promise<string[]>;
}

/** A loaded configuration: knob values with overrides, references and defaults applied. */
export class CondorConfig {
  /** Where each file came from, in read order (for -debug); empty when none was read. */
  readonly files: readonly string[];
  /** What HTCondor would warn about (obsolete syntax, ignored `use` lines), for -debug. */
  readonly warnings: readonly string[];
  readonly #table: KnobTable;

  /** Internal: use {@link loadConfig} or {@link configFromText}. */
  constructor(table: KnobTable, files: readonly string[], warnings: readonly string[]) {
    this.#table = table;
    this.files = Object.freeze([...files]);
    this.warnings = Object.freeze([...warnings]);
  }

  /**
   * Fully expanded value of knob `name` (case-insensitive), after its
   * `_CONDOR_<NAME>` environment override, falling back to HTCondor's
   * default; undefined if unset and without default. Throws ConfigError
   * CONFIG_LOOP for a reference loop, CONFIG_UNSUPPORTED for `$INT()` and
   * the other HTCondor macro functions.
   */
  get(name: string): string | undefined {
    return expandKnob(this.#table, name);
  }

  /**
   * Whether knob `name` is given by a configuration file or a `_CONDOR_`
   * override, rather than only by HTCondor's default.
   */
  isSet(name: string): boolean {
    return this.#table.isSet(name);
  }

  /**
   * The file names HTCondor skips in configuration and token directories
   * (LOCAL_CONFIG_DIR_EXCLUDE_REGEXP: `#x`, `.hidden`, `x~`, `*.rpmsave`, ...),
   * or undefined when the knob is empty. Throws ConfigError CONFIG_VALUE for
   * an invalid expression.
   */
  excludedFileNames(): RegExp | undefined {
    return excludePattern(this.get("LOCAL_CONFIG_DIR_EXCLUDE_REGEXP")?.trim());
  }

  /** Like {@link get}, but throws ConfigError CONFIG_MISSING naming the knob when unset or empty. */
  require(name: string): string {
    const value = this.get(name);
    if (value === undefined || value.trim() === "") {
      throw new ConfigError(
        "CONFIG_MISSING",
        `Cannot use configuration: knob "${name}" is not set`,
      );
    }
    return value;
  }

  /**
   * The knob as a boolean (`true`/`false`/`yes`/`no`/`1`/`0`, any case), or
   * `fallback` when unset or empty. Throws ConfigError CONFIG_VALUE otherwise.
   */
  bool(name: string, fallback: boolean): boolean {
    const value = this.get(name);
    if (value === undefined || value.trim() === "") return fallback;
    const parsed = parseBoolean(value);
    if (parsed === undefined) throw badValue(name, value, "a boolean (true or false)");
    return parsed;
  }

  /**
   * The knob as an integer (integer arithmetic such as `60 * 60` allowed, as
   * in HTCondor), or `fallback` when unset or empty. Throws ConfigError
   * CONFIG_VALUE otherwise.
   */
  int(name: string, fallback: number): number {
    const value = this.get(name);
    if (value === undefined || value.trim() === "") return fallback;
    const parsed = parseInteger(value);
    if (parsed === undefined) throw badValue(name, value, "an integer");
    return parsed;
  }

  /** The knob's items, separated by commas and/or white space, empty items dropped; [] when unset. */
  list(name: string): string[] {
    const value = this.get(name);
    return value === undefined ? [] : splitList(value);
  }
}

/**
 * Loads the configuration as HTCondor tools do. With no configuration file
 * anywhere it uses the defaults alone, so tools run on hosts without
 * HTCondor. Needs --allow-read of the configuration files and --allow-env of
 * CONDOR_CONFIG, HOME, USER and `_CONDOR_*`/`_condor_*`. Throws ConfigError
 * (CONFIG_SYNTAX, CONFIG_MISSING_FILE, CONFIG_UNREADABLE, CONFIG_LOOP, ...).
 */
export async function loadConfig(options: LoadOptions): Promise<CondorConfig> {
  const facts = hostFacts(options.env, options.hostname, options.os);
  const table = newTable(options.env, facts);
  const reader = new ConfigReader(table);
  const files = await readConfigSources({
    env: options.env,
    home: facts.home,
    table,
    reader,
    files: {
      readTextFile: options.readTextFile ?? ((path) => Deno.readTextFile(path)),
      readDir: options.readDir ?? listNonDirectories,
    },
  });
  return new CondorConfig(table, files, reader.warnings);
}

/**
 * An in-memory configuration from text (for tests and embedded defaults),
 * with the same defaults and overrides. `include` is refused with
 * CONFIG_UNSUPPORTED since there are no files; `source` names the text in
 * messages.
 */
export function configFromText(
  text: string,
  options: { env?: Env; hostname: string; source?: string; os?: typeof Deno.build.os },
): CondorConfig {
  const env = options.env ?? { get: () => undefined };
  const table = newTable(env, hostFacts(env, options.hostname, options.os));
  const reader = new ConfigReader(table);
  const steps = reader.read(text, options.source ?? "configuration text");
  const step = steps.next();
  if (!step.done) {
    throw new ConfigError(
      "CONFIG_UNSUPPORTED",
      `Cannot read configuration: ${step.value.from}: include needs files, not in-memory text`,
    );
  }
  return new CondorConfig(table, [], reader.warnings);
}

/**
 * The user's home and name: HOME and USER, or on Windows, where those are
 * not normally set, USERPROFILE and USERNAME (so the token directory is
 * %USERPROFILE%\.condor\tokens.d there).
 */
function hostFacts(env: Env, hostname: string, os = Deno.build.os): HostFacts {
  const windows = os === "windows";
  return {
    hostname,
    home: env.get("HOME") || (windows ? env.get("USERPROFILE") : undefined),
    user: env.get("USER") || (windows ? env.get("USERNAME") : undefined),
  };
}

function newTable(env: Env, facts: HostFacts): KnobTable {
  return new KnobTable(env, detectedKnobs(facts), builtinDefaults(facts));
}

function badValue(name: string, value: string, expected: string): ConfigError {
  return new ConfigError(
    "CONFIG_VALUE",
    `Cannot use configuration: knob "${name}" is "${value}", expected ${expected}`,
  );
}

/** Names of the entries of a directory, leaving out directories (also behind symlinks). Needs --allow-read. */
async function listNonDirectories(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isDirectory) continue;
    if (entry.isSymlink && await isDirectory(`${path}/${entry.name}`)) continue;
    names.push(entry.name);
  }
  return names;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    // A dangling link is kept; reading it then reports the missing file.
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
