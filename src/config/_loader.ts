/**
 * Finds and reads the configuration files in HTCondor's order: the root file
 * (`CONDOR_CONFIG`, else `/etc/condor/condor_config`, else
 * `/usr/local/etc/condor_config`), the files of `LOCAL_CONFIG_DIR`, those of
 * `LOCAL_CONFIG_FILE`, `LOCAL_CONFIG_DIR` again if a local file changed it,
 * and last the user's `~/.condor/user_config`.
 *
 * Missing and unreadable files are treated as HTCondor treats them, with two
 * exceptions: when no root file exists we go on with defaults (HTCondor
 * exits), and an unreadable root file or a path Deno's permissions deny is an
 * error rather than something to skip silently.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { expandKnob } from "./_expand.ts";
import type { EnvLookup, KnobTable } from "./_knob_table.ts";
import type { ConfigReader } from "./_reader.ts";
import { parseBoolean, splitList } from "./_values.ts";

/** The file system operations the loader needs. */
export interface FileAccess {
  readTextFile(path: string): Promise<string>;
  /** Names of the entries of a directory that are not directories. */
  readDir(path: string): Promise<string[]>;
}

/** Everything the loader works with. */
export interface LoadContext {
  readonly env: EnvLookup;
  /** The user's home directory, for `~/.condor/user_config`. */
  readonly home: string | undefined;
  readonly table: KnobTable;
  readonly reader: ConfigReader;
  readonly files: FileAccess;
}

/** Where HTCondor looks for the root file when CONDOR_CONFIG is unset. */
const ROOT_LOCATIONS: readonly string[] = [
  "/etc/condor/condor_config",
  "/usr/local/etc/condor_config",
];

/** Reads every configuration source into the context's table; returns the files read, in order. */
export async function readConfigSources(context: LoadContext): Promise<string[]> {
  const loader = new Loader(context);
  await loader.run();
  return loader.filesRead;
}

/** What to do when a file cannot be read. */
interface ReadPolicy {
  /** Skip a file that does not exist instead of failing. */
  readonly skipMissing: boolean;
  /** Skip a file the operating system refuses to open instead of failing. */
  readonly skipDenied: boolean;
  /** Why the file is read, for messages. */
  readonly why: string;
}

class Loader {
  readonly filesRead: string[] = [];
  readonly #context: LoadContext;

  constructor(context: LoadContext) {
    this.#context = context;
  }

  async run(): Promise<void> {
    const setting = this.#context.env.get("CONDOR_CONFIG");
    // ONLY_ENV: no files at all, only the environment and the defaults.
    if (setting !== undefined && setting.toUpperCase() === "ONLY_ENV") return;

    const root = setting === undefined ? await this.#findRoot() : await this.#namedRoot(setting);
    if (root) {
      this.#context.table.assign("CONFIG_ROOT", dirname(root.path));
      await this.#process(root.path, root.text);
    }

    const firstDirs = this.#knob("LOCAL_CONFIG_DIR");
    if (firstDirs) await this.#readDirectories(firstDirs);
    await this.#readLocalFiles();
    const laterDirs = this.#knob("LOCAL_CONFIG_DIR");
    if (laterDirs && laterDirs !== firstDirs) await this.#readDirectories(laterDirs);
    await this.#readUserConfig();
  }

  async #namedRoot(path: string): Promise<{ path: string; text: string } | undefined> {
    unsupportedCommand(path, "CONDOR_CONFIG");
    const text = await this.#readText(path, {
      skipMissing: false,
      skipDenied: false,
      why: "named by CONDOR_CONFIG",
    });
    return text === undefined ? undefined : { path, text };
  }

  async #findRoot(): Promise<{ path: string; text: string } | undefined> {
    for (const path of ROOT_LOCATIONS) {
      const text = await this.#readText(path, {
        skipMissing: true,
        skipDenied: false,
        why: "the global configuration",
      });
      if (text !== undefined) return { path, text };
    }
    return undefined;
  }

  /** LOCAL_CONFIG_FILE, re-read after each file since a file may change the list. */
  async #readLocalFiles(): Promise<void> {
    const required = this.#requireLocal();
    let setting = this.#knob("LOCAL_CONFIG_FILE");
    if (!setting) return;
    unsupportedCommand(setting, "LOCAL_CONFIG_FILE");
    let pending = splitList(setting);
    const done: string[] = [];
    while (pending.length > 0) {
      const path = pending.shift() as string;
      const text = await this.#readText(path, {
        skipMissing: !required,
        skipDenied: !required,
        why: "listed in LOCAL_CONFIG_FILE",
      });
      if (text !== undefined) await this.#process(path, text);
      done.push(path);
      const now = this.#knob("LOCAL_CONFIG_FILE") ?? "";
      if (now !== setting) {
        setting = now;
        pending = splitList(now).filter((item) => !done.includes(item));
      }
    }
  }

  /** Every file of every directory listed, in lexical order of full path. */
  async #readDirectories(list: string): Promise<void> {
    const required = this.#requireLocal();
    const exclude = this.#excludePattern();
    for (const directory of splitList(list)) {
      const names = await this.#listDirectory(directory);
      const paths = names
        .filter((name) => !exclude?.test(name))
        .map((name) => (directory.endsWith("/") ? directory + name : `${directory}/${name}`))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const path of paths) {
        const text = await this.#readText(path, {
          skipMissing: !required,
          skipDenied: !required,
          why: "found in LOCAL_CONFIG_DIR",
        });
        if (text !== undefined) await this.#process(path, text);
      }
    }
  }

  /** `USER_CONFIG_FILE`: absolute, or a name under `~/.condor/`; optional. */
  async #readUserConfig(): Promise<void> {
    const name = this.#knob("USER_CONFIG_FILE");
    if (!name) return;
    const home = this.#context.home;
    const path = name.startsWith("/") ? name : home ? `${home}/.condor/${name}` : undefined;
    if (path === undefined) return;
    const text = await this.#readText(path, {
      skipMissing: true,
      skipDenied: true,
      why: "the user configuration",
    });
    if (text !== undefined) await this.#process(path, text);
  }

  /** Reads one source, serving its include requests. */
  async #process(path: string, text: string): Promise<void> {
    this.filesRead.push(path);
    const steps = this.#context.reader.read(text, path);
    let step = steps.next();
    while (!step.done) {
      const request = step.value;
      const included = await this.#readText(request.path, {
        skipMissing: !request.mustExist,
        skipDenied: false,
        why: `included from ${request.from}`,
      });
      if (included !== undefined) this.filesRead.push(request.path);
      step = steps.next(included);
    }
  }

  /** Reads a file; undefined when the policy says to skip it. Needs --allow-read of `path`. */
  async #readText(path: string, policy: ReadPolicy): Promise<string | undefined> {
    try {
      return await this.#context.files.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        if (policy.skipMissing) return undefined;
        throw new ConfigError(
          "CONFIG_MISSING_FILE",
          `Cannot read configuration: "${path}" does not exist (${policy.why})`,
          { cause: error },
        );
      }
      if (error instanceof Deno.errors.PermissionDenied && policy.skipDenied) return undefined;
      if (
        error instanceof Deno.errors.PermissionDenied ||
        error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.IsADirectory
      ) {
        const reason = error instanceof Deno.errors.IsADirectory
          ? "is a directory"
          : "is not readable";
        throw new ConfigError(
          "CONFIG_UNREADABLE",
          `Cannot read configuration: "${path}" ${reason} (${policy.why})`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Names in a LOCAL_CONFIG_DIR directory; HTCondor skips a directory it cannot list. */
  async #listDirectory(directory: string): Promise<string[]> {
    try {
      return await this.#context.files.readDir(directory);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotFound ||
        error instanceof Deno.errors.NotADirectory ||
        error instanceof Deno.errors.PermissionDenied
      ) {
        return [];
      }
      if (error instanceof Deno.errors.NotCapable) {
        throw new ConfigError(
          "CONFIG_UNREADABLE",
          `Cannot read configuration: directory "${directory}" is not readable (found in LOCAL_CONFIG_DIR)`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  #requireLocal(): boolean {
    const value = this.#knob("REQUIRE_LOCAL_CONFIG_FILE");
    if (!value) return true;
    const required = parseBoolean(value);
    if (required === undefined) {
      throw new ConfigError(
        "CONFIG_VALUE",
        `Cannot use configuration: REQUIRE_LOCAL_CONFIG_FILE is "${value}", not a boolean`,
      );
    }
    return required;
  }

  #excludePattern(): RegExp | undefined {
    return excludePattern(this.#knob("LOCAL_CONFIG_DIR_EXCLUDE_REGEXP"));
  }

  /** A knob's value as the configuration read so far says; undefined or "" when unset. */
  #knob(name: string): string | undefined {
    return expandKnob(this.#context.table, name)?.trim();
  }
}

/** HTCondor runs `command |` sources; this reader does not. */
function unsupportedCommand(value: string, knob: string): void {
  if (value.trim().endsWith("|")) {
    throw new ConfigError(
      "CONFIG_UNSUPPORTED",
      `Cannot read configuration: ${knob} names a command ("${value}"), which this reader does not run`,
    );
  }
}

/** The directory part of a path, "." when there is none (as HTCondor's condor_dirname). */
function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * LOCAL_CONFIG_DIR_EXCLUDE_REGEXP's value as a RegExp (undefined when empty):
 * the file names HTCondor skips in a configuration directory, and in a token
 * directory too. Throws ConfigError CONFIG_VALUE for an invalid expression.
 */
export function excludePattern(pattern: string | undefined): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot use configuration: LOCAL_CONFIG_DIR_EXCLUDE_REGEXP is "${pattern}", not a valid regular expression`,
      { cause: error },
    );
  }
}
