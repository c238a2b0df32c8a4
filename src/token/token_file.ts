/**
 * Token files: the permission-scoped writer (0600 files, 0700 directories,
 * atomic replace, never through a symlink) and the token directory reader.
 */
import { TokenFileError } from "../errors.ts";

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
  if (
    name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\\") ||
    name.includes("\0")
  ) {
    throw new TokenFileError(
      "TOKEN_FILE_BAD_NAME",
      `Cannot store token as ${
        JSON.stringify(name)
      }: -token takes a plain file name inside the token directory; use -file for a path`,
    );
  }
}

/**
 * Writes `token` as `directory/name`, creating the directory 0700 if missing.
 * Needs --allow-read and --allow-write of the directory.
 */
export async function writeTokenToDirectory(
  directory: string,
  name: string,
  token: string,
): Promise<string> {
  assertPlainTokenName(name);
  try {
    await Deno.mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError("create directory", directory, err);
  }
  const path = `${directory.replace(/\/+$/, "")}/${name}`;
  await writeTokenFile(path, token);
  return path;
}

/**
 * Writes `token` plus a newline to `path`: a 0600 temporary file in the same
 * directory, flushed, then renamed over `path`, so readers see the old token
 * or the new one, never a partial one. Refuses when `path` is a symlink or a
 * directory. Needs --allow-read and --allow-write of the directory.
 */
export async function writeTokenFile(path: string, token: string): Promise<void> {
  const existing = await lstatOrUndefined(path);
  if (existing?.isSymlink) {
    throw new TokenFileError(
      "TOKEN_FILE_SYMLINK",
      `Cannot write token to ${path}: it is a symbolic link; remove it or choose another name`,
    );
  }
  if (existing && !existing.isFile) {
    throw new TokenFileError(
      "TOKEN_FILE_NOT_FILE",
      `Cannot write token to ${path}: it exists and is not a regular file`,
    );
  }
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const base = slash < 0 ? path : path.slice(slash + 1);
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const temp = `${dir}/.${base}.${suffix}.tmp`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
  } catch (err) {
    throw fileError("write token to", path, err);
  }
  try {
    try {
      // Some systems apply default ACLs at creation; pin the mode explicitly.
      await Deno.chmod(temp, 0o600);
      const bytes = new TextEncoder().encode(token.trim() + "\n");
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw fileError("write token to", path, err);
  }
}

/** Reads the tokens in one file: one per line, blank and `#` lines ignored. Needs --allow-read. */
export async function readTokenFile(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw fileError("read tokens from", path, err);
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
 * Reads every token in every file of `directory`, in file name order. Files
 * that are symlinks, not regular files, or readable by group or others are
 * skipped with a warning naming them. A missing directory holds no tokens.
 * Needs --allow-read.
 */
export async function readTokenDirectory(directory: string): Promise<TokenScan> {
  const scan: TokenScan = { tokens: [], warnings: [] };
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) names.push(entry.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return scan;
    throw fileError("read token directory", directory, err);
  }
  names.sort();
  for (const name of names) {
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
    throw fileError("inspect", path, err);
  }
}

function fileError(action: string, path: string, err: unknown): TokenFileError {
  if (err instanceof TokenFileError) return err;
  let reason = "unexpected error";
  let code = "TOKEN_FILE_IO";
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    reason = "permission denied";
    code = "TOKEN_FILE_DENIED";
  } else if (err instanceof Deno.errors.NotFound) {
    reason = "no such file or directory";
    code = "TOKEN_FILE_MISSING";
  } else if (err instanceof Deno.errors.AlreadyExists) {
    reason = "a temporary file of that name already exists";
  } else if (err instanceof Deno.errors.IsADirectory) {
    reason = "it is a directory";
  } else if (err instanceof Error) {
    reason = err.message;
  }
  return new TokenFileError(code, `Cannot ${action} ${path}: ${reason}`, { cause: err });
}
