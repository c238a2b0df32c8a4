/**
 * Builds what ships, into DIR/<version>/ (DIR is `dist` by default):
 *
 *   bundle/condor_token_request.js   the requester alone (src/requester_main.ts)
 *   bundle/condor_token.js           every tool and the daemon (main.ts)
 *   man/man1/<tool>.1, man/man8/condor_tokend.8
 *                                    manual pages, from the same source as -help
 *   condor_token_request-<version>-<target>[.exe]
 *   condor_token-<version>-<target>[.exe]
 *   SHA256SUMS                       `sha256sum -c` format, over all of the above
 *
 * Usage: deno run -A scripts/build.ts [--target TARGET ...] [--out DIR] [--bundle-only] [--no-smoke]
 *                                     [--require-all]
 *
 * Each binary is compiled from its bundle, not from the source entry: the
 * bundle is the exact JavaScript the binary embeds, and scripts/test_bundle
 * runs the end-to-end suite against it with the binary's permission flags
 * (scripts/permissions.ts), so what ships is what is tested.
 *
 * `deno compile` needs Deno's runtime (`denort`) for each target. It takes
 * it from DENORT_BIN (a path to a denort binary; used for the host target
 * only, since one file cannot serve five platforms), else from
 * DENO_DIR/dl/release/v<deno version>/denort-<target>.zip, else downloads it.
 * A target whose runtime cannot be had is skipped with one line saying why.
 * A host-target binary is smoke-tested (`-version`) unless --no-smoke.
 *
 * Exit status: 0 when the bundles were written and at least one target was
 * built (skipped targets are listed); 1 when bundling failed, a compile or
 * smoke test failed for any other reason than a missing runtime, or no
 * target could be built at all (with --require-all, as soon as any target
 * was skipped: a release must have every one); 2 for a bad command line.
 * With --bundle-only, 0 as soon as the bundles and manual pages are written. Produced files are
 * listed on stdout, one path a line; everything else goes to stderr.
 */
import { basename, dirname, join, relative, resolve } from "node:path";
import { VERSION, versionLine } from "../src/cli/version.ts";
import { manPage, manPagePath } from "../src/cli/man_page.ts";
import { TOOLS } from "../src/cli/tools.ts";
import { FULL_FLAGS, REQUESTER_FLAGS } from "./permissions.ts";

/** The project root (where deno.json is). */
export const ROOT: string = resolve(dirname(new URL(import.meta.url).pathname), "..");

/** One shipped program: its name, source entry and permission flags. */
export interface Program {
  name: string;
  entry: string;
  flags: readonly string[];
}

/** The two programs that ship. */
export const PROGRAMS: readonly Program[] = [
  { name: "condor_token_request", entry: "src/requester_main.ts", flags: REQUESTER_FLAGS },
  { name: "condor_token", entry: "main.ts", flags: FULL_FLAGS },
];

/** Every target built by default, as `deno compile --target` names them. */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** The bundle of `program` under the output directory `out`. */
export function bundlePath(out: string, program: Program): string {
  return join(out, VERSION, "bundle", `${program.name}.js`);
}

/** Where the manual pages go under the output directory `out`: `out/<version>/man`. */
export function manDirectory(out: string): string {
  return join(out, VERSION, "man");
}

/** Writes every tool's manual page under `manDirectory(out)`; returns the paths. */
async function writeManPages(out: string): Promise<string[]> {
  const written: string[] = [];
  for (const tool of TOOLS) {
    const path = join(manDirectory(out), manPagePath(tool.doc));
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, manPage(tool.doc, VERSION));
    written.push(path);
  }
  return written;
}

/** The binary's file name, e.g. `condor_token-0.1.0-x86_64-pc-windows-msvc.exe`. */
export function binaryName(program: Program, target: string): string {
  return `${program.name}-${VERSION}-${target}${target.includes("windows") ? ".exe" : ""}`;
}

const USAGE =
  `Usage: deno run -A scripts/build.ts [--target TARGET ...] [--out DIR] [--bundle-only] [--no-smoke]
                                    [--require-all]

Bundles condor_token_request and condor_token, writes the manual pages,
compiles both programs for each target and writes SHA256SUMS, all into
DIR/${VERSION}/ (DIR defaults to dist).

Options:
    --target TARGET  Build only this target; repeatable (default: all of them)
    --out DIR        Output directory (default: dist in the project root)
    --bundle-only    Write the bundles and manual pages only, compile nothing
    --no-smoke       Do not run the host binaries' -version after compiling
    --require-all    Fail when any target is skipped for want of its runtime
    --help           Print this message

Targets: ${TARGETS.join(", ")}

DENORT_BIN=/path/to/denort supplies the Deno runtime for the host target
(${Deno.build.target}); other targets take theirs from the Deno cache or
download it.
`;

/** The parsed command line. */
export interface BuildOptions {
  targets: string[];
  out: string;
  bundleOnly: boolean;
  smoke: boolean;
  /** Exit 1 when a target is skipped (a release needs all of them). */
  requireAll: boolean;
}

/** Thrown for a bad command line. */
class UsageError extends Error {}

/** Parses the command line; throws UsageError, returns undefined for --help. */
export function parseBuildOptions(args: readonly string[]): BuildOptions | undefined {
  const options: BuildOptions = {
    targets: [],
    out: join(ROOT, "dist"),
    bundleOnly: false,
    smoke: true,
    requireAll: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${arg} requires a value`);
      return v;
    };
    if (arg === "--help" || arg === "-h" || arg === "-help") return undefined;
    else if (arg === "--target") {
      const target = value();
      if (!TARGETS.includes(target)) {
        throw new UsageError(
          `Unknown target ${JSON.stringify(target)}; expected one of ${TARGETS.join(", ")}`,
        );
      }
      if (!options.targets.includes(target)) options.targets.push(target);
    } else if (arg === "--out") options.out = resolve(value());
    else if (arg === "--bundle-only") options.bundleOnly = true;
    else if (arg === "--no-smoke") options.smoke = false;
    else if (arg === "--require-all") options.requireAll = true;
    else throw new UsageError(`Unknown argument ${JSON.stringify(arg)}`);
  }
  if (options.targets.length === 0) options.targets = [...TARGETS];
  return options;
}

/** What a finished subprocess left behind. */
interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs Deno (the one running this script) with `args` in the project root. Needs --allow-run. */
async function deno(
  args: readonly string[],
  env: Record<string, string> = Deno.env.toObject(),
  timeoutMs = 600_000,
): Promise<Output> {
  return await command(Deno.execPath(), args, env, timeoutMs);
}

async function command(
  path: string,
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<Output> {
  const signal = AbortSignal.timeout(timeoutMs);
  const out = await new Deno.Command(path, {
    args: [...args],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1", RUST_BACKTRACE: "0" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: signal.aborted ? -1 : out.code,
    stdout: decoder.decode(out.stdout),
    stderr: signal.aborted
      ? `timed out after ${timeoutMs / 1000} s`
      : decoder.decode(out.stderr).trim(),
  };
}

/** Writes a line for humans on stderr. */
function say(line: string): void {
  console.error(`build: ${line}`);
}

function megabytes(bytes: number): string {
  return bytes >= 1 << 20
    ? `${(bytes / (1 << 20)).toFixed(1)} MB`
    : `${Math.round(bytes / 1024)} KB`;
}

/**
 * Bundles `program` into `path`: npm packages inlined, only `node:` built-ins
 * left as imports. Returns an error message, or undefined on success.
 */
async function bundle(program: Program, path: string): Promise<string | undefined> {
  const r = await deno([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--output",
    path,
    program.entry,
  ]);
  if (r.code !== 0) return `Cannot bundle ${program.entry}:\n${indent(r.stderr)}`;
  const text = await Deno.readTextFile(path);
  const external = [...text.matchAll(/^\s*import\b[^;]*?\bfrom\s*"([^"]+)"/gm)]
    .map((m) => m[1])
    .filter((specifier) => !specifier.startsWith("node:"));
  if (external.length > 0) {
    return `Cannot bundle ${program.entry}: the bundle still imports ${
      [...new Set(external)].map((s) => JSON.stringify(s)).join(", ")
    }`;
  }
  // esbuild marks each inlined npm file with its path in this machine's Deno
  // cache; name the package instead, so the bundle (and its checksum) is the
  // same wherever it is built.
  await Deno.writeTextFile(
    path,
    text.replace(/^\/\/ (?:\.\.\/|\/)\S*?\/npm\/[^/\s]+\/(\S+)$/gm, "// npm:$1"),
  );
  return undefined;
}

function indent(text: string): string {
  return text.split("\n").map((line) => `    ${line}`).join("\n");
}

/** Why `deno compile` failed, and whether it was only for want of a runtime. */
export interface CompileFailure {
  noRuntime: boolean;
  reason: string;
}

/** Reads `deno compile`'s error output; a missing runtime becomes one line. */
export function explainCompileFailure(stderr: string): CompileFailure {
  const causes = [...stderr.matchAll(/^\s*\d+: (.*)$/gm)].map((m) => m[1].trim());
  const deepest = causes.at(-1) ?? stderr.split("\n").at(-1) ?? "";
  const missing = stderr.match(/Could not find denort at '([^']*)'/);
  if (missing) {
    return {
      noRuntime: true,
      reason: `DENORT_BIN ${JSON.stringify(missing[1])} cannot be read (${deepest})`,
    };
  }
  const url = stderr.match(/error sending request for url \((\S+?)\)/);
  if (url) {
    return { noRuntime: true, reason: `cannot download the runtime ${url[1]} (${deepest})` };
  }
  if (/Setting up base binary|denort/.test(stderr)) {
    return { noRuntime: true, reason: `cannot set up the runtime (${deepest})` };
  }
  const error = stderr.split("\n").find((line) => line.startsWith("error:")) ?? deepest;
  return { noRuntime: false, reason: causes.length > 0 ? `${error} (${deepest})` : error };
}

/** The outcome for one target. */
interface TargetResult {
  target: string;
  built: string[];
  failure?: CompileFailure;
}

/** Compiles both programs for `target` from their bundles; smoke-tests host binaries. */
async function compileTarget(options: BuildOptions, target: string): Promise<TargetResult> {
  const dir = join(options.out, VERSION);
  const host = target === Deno.build.target;
  const env = Deno.env.toObject();
  // deno compile would put DENORT_BIN into every target's binary; it is
  // one platform's runtime, so only the host target may use it.
  if (!host) delete env.DENORT_BIN;
  const built: string[] = [];
  for (const program of PROGRAMS) {
    const output = join(dir, binaryName(program, target));
    const r = await deno(
      [
        "compile",
        "--quiet",
        "--no-config",
        "--no-check",
        ...program.flags,
        "--target",
        target,
        "--output",
        output,
        bundlePath(options.out, program),
      ],
      env,
    );
    if (r.code !== 0) {
      await removeIfPresent(output);
      return { target, built, failure: explainCompileFailure(r.stderr) };
    }
    if (host && options.smoke) {
      const problem = await smokeTest(output);
      if (problem) {
        await removeIfPresent(output);
        return {
          target,
          built,
          failure: { noRuntime: false, reason: `${basename(output)} ${problem}` },
        };
      }
    }
    built.push(output);
  }
  return { target, built };
}

/** Runs a fresh binary's `-version`; returns what went wrong, or undefined. */
async function smokeTest(binary: string): Promise<string | undefined> {
  let r: Output;
  try {
    r = await command(binary, ["-version"], {}, 60_000);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      return `cannot be run: ${err.message}`;
    }
    throw err;
  }
  if (r.code === 0 && r.stdout === versionLine()) return undefined;
  return `was built but does not run the program: \`-version\` exited ${r.code} and printed ${
    JSON.stringify(r.stdout.slice(0, 80))
  }, not ${JSON.stringify(versionLine())} (is DENORT_BIN a denort ${Deno.version.deno} binary?)`;
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Lowercase hex SHA-256 of a file. Needs --allow-read. */
async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes DIR/SHA256SUMS over `files` (paths inside DIR), in `sha256sum` format. */
async function writeChecksums(dir: string, files: readonly string[]): Promise<string> {
  const lines = [];
  for (const file of [...files].sort()) {
    lines.push(`${await sha256(file)}  ${relative(dir, file)}\n`);
  }
  const path = join(dir, "SHA256SUMS");
  await Deno.writeTextFile(path, lines.join(""));
  return path;
}

/** Where this Deno keeps downloaded runtimes, for the explanation. */
async function runtimeCacheDir(): Promise<string> {
  const r = await deno(["info", "--json"]);
  const denoDir = r.code === 0 ? JSON.parse(r.stdout).denoDir : "$DENO_DIR";
  return join(denoDir, "dl", "release", `v${Deno.version.deno}`);
}

/** Runs the build; resolves to the exit status. Needs -A (runs deno, reads and writes files). */
export async function build(args: readonly string[]): Promise<number> {
  let options: BuildOptions | undefined;
  try {
    options = parseBuildOptions(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`build: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const dir = join(options.out, VERSION);
  await Deno.mkdir(join(dir, "bundle"), { recursive: true });

  const produced: string[] = [];
  for (const program of PROGRAMS) {
    const path = bundlePath(options.out, program);
    const problem = await bundle(program, path);
    if (problem) {
      say(problem);
      return 1;
    }
    say(
      `bundled ${program.entry} -> ${relative(Deno.cwd(), path)} (${
        megabytes((await Deno.stat(path)).size)
      })`,
    );
    produced.push(path);
  }
  const pages = await writeManPages(options.out);
  say(`wrote ${pages.length} manual pages -> ${relative(Deno.cwd(), manDirectory(options.out))}`);
  produced.push(...pages);
  if (options.bundleOnly) {
    const sums = await writeChecksums(dir, produced);
    for (const file of [...produced, sums]) console.log(file);
    return 0;
  }

  // Binaries left by an earlier run must not pass for this run's.
  for (const target of options.targets) {
    for (const program of PROGRAMS) await removeIfPresent(join(dir, binaryName(program, target)));
  }
  const results: TargetResult[] = [];
  for (const target of options.targets) {
    const result = await compileTarget(options, target);
    results.push(result);
    const sizes = await Promise.all(
      result.built.map(async (f) => `${basename(f)} (${megabytes((await Deno.stat(f)).size)})`),
    );
    if (!result.failure) say(`${target}: built ${sizes.join(", ")}`);
    else if (result.failure.noRuntime) say(`${target}: skipped: ${result.failure.reason}`);
    else say(`${target}: failed: ${result.failure.reason}`);
    produced.push(...result.built);
  }
  const sums = await writeChecksums(dir, produced);
  for (const file of [...produced, sums]) console.log(file);

  const built = results.filter((r) => !r.failure);
  const skipped = results.filter((r) => r.failure?.noRuntime);
  const failed = results.filter((r) => r.failure && !r.failure.noRuntime);
  say(
    `built ${built.length} of ${results.length} targets` +
      (skipped.length > 0 ? `, skipped ${skipped.length} for want of the Deno runtime` : "") +
      (failed.length > 0 ? `, ${failed.length} failed` : "") +
      `; bundles and SHA256SUMS in ${relative(Deno.cwd(), dir) || "."}`,
  );
  if (skipped.length > 0) {
    say(
      `deno compile builds a binary by appending the program to Deno's runtime (denort ${Deno.version.deno}) ` +
        `for the target; to build the skipped targets, run where https://dl.deno.land is reachable, ` +
        `or put the official denort-<target>.zip files in ${await runtimeCacheDir()}, ` +
        `or for the host target (${Deno.build.target}) set DENORT_BIN to a denort binary`,
    );
  }
  if (built.length === 0) say("no binary was built");
  if (options.requireAll && skipped.length > 0) {
    say(`--require-all: ${skipped.map((r) => r.target).join(", ")} not built`);
    return 1;
  }
  return built.length > 0 && failed.length === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await build(Deno.args));
}
