/**
 * Token files: writing one (0600 files, 0700 directories, atomic replace,
 * never through a symlink: see private_file.ts) and reading the token
 * directory.
 */
import { TokenFileError } from "../errors.ts";
import {
  isPlainFileName,
  preparePrivateFile,
  privateFileError,
  type PrivateFileOptions,
  writePrivateFile,
} from "./private_file.ts";

/** One token found in a token file. */
export interface TokenEntry {
  /** The token text, trimmed. */
  token: string;
  /** The file it came from. */
  file: string;
  /** 1-based line number in that file. */
  line: number;
}

/** What a directory scan found, plus one warning per file it skipped. */
export interface TokenScan {
  tokens: TokenEntry[];
  warnings: string[];
}

/** Throws TokenFileError("TOKEN_FILE_BAD_NAME") unless `name` is a plain file name. */
export function assertPlainTokenName(name: string): void {
  if (!isPlainFileName(name)) {
    throw new TokenFileError(
      "TOKEN_FILE_BAD_NAME",
      `Cannot store token as ${
        JSON.stringify(name)
      }: -token takes a plain file name inside the token directory; use -file for a path`,
    );
  }
}

/**
 * Writes `token` as `directory/name` (see {@link writeTokenFile}), creating
 * the directory 0700 if missing. Needs --allow-read and --allow-write of the
 * directory.
 */
export async function writeTokenToDirectory(
  directory: string,
  name: string,
  token: string,
): Promise<string> {
  return (await storeToken({ name, directory }, token))!;
}

/**
 * Writes `token` plus a newline to `path` with {@link writePrivateFile}:
 * 0600, atomically, never through a symlink; the directory must exist.
 * Needs --allow-read and --allow-write of the directory.
 */
export async function writeTokenFile(path: string, token: string): Promise<void> {
  await storeToken({ file: path }, token);
}

/** Where a tool stores a token: `-file PATH`, or `-token NAME` inside the token directory. */
export interface TokenDestination {
  /** `-file PATH`: any path. */
  file?: string;
  /** `-token NAME`: a plain file name inside `directory`. */
  name?: string;
  /** The token directory (SEC_TOKEN_DIRECTORY) for `name`. */
  directory?: string;
}

/** The file a destination names and how to write it; undefined for none (stdout). */
function targetOf(
  destination: TokenDestination,
): { path: string; options: PrivateFileOptions } | undefined {
  if (destination.file !== undefined) {
    return { path: destination.file, options: { label: "token file", secret: true } };
  }
  if (destination.name !== undefined && destination.directory !== undefined) {
    assertPlainTokenName(destination.name);
    return {
      path: `${destination.directory.replace(/\/+$/, "")}/${destination.name}`,
      options: { label: "token file", createDirectory: true, secret: true },
    };
  }
  return undefined;
}

/**
 * Stores `token` where `destination` says, through the safe writer. Returns
 * the path written, or undefined when neither `-file` nor `-token` was given
 * (the caller then prints the token). Needs --allow-read and --allow-write there.
 */
export async function storeToken(
  destination: TokenDestination,
  token: string,
): Promise<string | undefined> {
  const target = targetOf(destination);
  if (target === undefined) return undefined;
  await writePrivateFile(target.path, token.trim() + "\n", target.options);
  return target.path;
}

/**
 * Checks, before a token is asked for, that {@link storeToken} will be able
 * to store it there (see {@link preparePrivateFile}): a token a daemon hands
 * over once must not arrive with nowhere to go. Creates the token directory
 * for `-token`. Throws TokenFileError.
 */
export async function prepareTokenDestination(destination: TokenDestination): Promise<void> {
  const target = targetOf(destination);
  if (target !== undefined) await preparePrivateFile(target.path, target.options);
}

/** Reads the tokens in one file: one per line, blank and `#` lines ignored. Needs --allow-read. */
export async function readTokenFile(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw privateFileError("read tokens from", path, err);
  }
  return parseTokenLines(text, path);
}

/** Splits token file text into tokens. */
export function parseTokenLines(text: string, file: string): TokenEntry[] {
  const tokens: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    tokens.push({ token: line, file, line: i + 1 });
  });
  return tokens;
}

/**
 * Reads every token in every file of `directory`, in file name order, as
 * HTCondor does: file names matching `options.exclude`
 * (LOCAL_CONFIG_DIR_EXCLUDE_REGEXP: editor backups, `#old`, `.hidden`, ...)
 * are skipped silently; files that are symlinks, not regular files, or
 * readable by group or others are skipped with a warning naming them. A
 * missing directory holds no tokens. Needs --allow-read.
 */
export async function readTokenDirectory(
  directory: string,
  options: { exclude?: RegExp } = {},
): Promise<TokenScan> {
  const scan: TokenScan = { tokens: [], warnings: [] };
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) names.push(entry.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return scan;
    throw privateFileError("read token directory", directory, err);
  }
  names.sort();
  for (const name of names) {
    if (options.exclude?.test(name)) continue;
    const path = `${directory.replace(/\/+$/, "")}/${name}`;
    const info = await lstatOrUndefined(path);
    if (!info) continue;
    if (info.isSymlink) {
      scan.warnings.push(`Ignoring token file ${path}: it is a symbolic link`);
      continue;
    }
    if (!info.isFile) continue;
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      scan.warnings.push(
        `Ignoring token file ${path}: mode ${mode} lets other users read it; run "chmod 0600 ${path}"`,
      );
      continue;
    }
    try {
      scan.tokens.push(...await readTokenFile(path));
    } catch (err) {
      if (!(err instanceof TokenFileError)) throw err;
      scan.warnings.push(`Ignoring token file ${path}: ${err.message}`);
    }
  }
  return scan;
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw privateFileError("inspect", path, err);
  }
}
