/**
 * scripts/build.ts, run as a subprocess the way a release is built. Deno's
 * runtime for `deno compile` cannot be downloaded in these tests (the network
 * is cut with an unreachable proxy and the cache holds no runtime), so the
 * compile paths use /bin/true as a stand-in runtime: enough to check names,
 * checksums and the skip and smoke-test logic, not a working binary.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  binaryName,
  explainCompileFailure,
  parseBuildOptions,
  PROGRAMS,
  ROOT,
  TARGETS,
} from "../../scripts/build.ts";
import { FULL_FLAGS, REQUESTER_FLAGS } from "../../scripts/permissions.ts";
import { manPagePath } from "../../src/cli/man_page.ts";
import { TOOLS } from "../../src/cli/tools.ts";
import { VERSION } from "../../src/cli/version.ts";
import { withTempDir } from "../_support/temp.ts";

const BUILD = join(ROOT, "scripts", "build.ts");
const HOST = Deno.build.target;
const STAND_IN = "/bin/true";
/** The manual pages every build writes, relative to its output directory, in tool order. */
const MAN_PAGES = TOOLS.map((tool) => `man/${manPagePath(tool.doc)}`);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The Deno cache the tests run with (npm packages and esbuild are there). */
function denoDir(): string {
  const out = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
    .outputSync();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/**
 * Environment for an offline build: a fresh DENO_DIR that shares the npm
 * packages and esbuild (so bundling works) but holds no runtime
 * (dl/release/), and a proxy nobody answers.
 */
async function offline(dir: string, extra: Record<string, string> = {}) {
  // One online bundle first, so a fresh machine has esbuild to share.
  warmed ??= withTempDir((tmp) => build(["--bundle-only", "--out", tmp], Deno.env.toObject()));
  assert.equal((await warmed).code, 0, (await warmed).stderr);
  const real = denoDir();
  const cache = join(dir, "deno_dir");
  await Deno.mkdir(join(cache, "dl"), { recursive: true });
  await Deno.symlink(join(real, "npm"), join(cache, "npm"));
  for await (const entry of Deno.readDir(join(real, "dl"))) {
    if (entry.name !== "release") {
      await Deno.symlink(join(real, "dl", entry.name), join(cache, "dl", entry.name));
    }
  }
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  return {
    ...env,
    DENO_DIR: cache,
    HTTPS_PROXY: "http://127.0.0.1:9",
    https_proxy: "http://127.0.0.1:9",
    NO_PROXY: "",
    no_proxy: "",
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    ...extra,
  };
}

let warmed: ReturnType<typeof build> | undefined;

/** Runs scripts/build.ts with `args` and `env`. */
async function build(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", BUILD, ...args],
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Lowercase hex SHA-256 of a file. */
async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Checks every line of SHA256SUMS against the file it names; returns the names. */
async function checkSums(dir: string): Promise<string[]> {
  const lines = (await Deno.readTextFile(join(dir, "SHA256SUMS"))).trimEnd().split("\n");
  const names = [];
  for (const line of lines) {
    const m = line.match(/^([0-9a-f]{64}) {2}(\S+)$/);
    assert.ok(m, `not sha256sum format: ${JSON.stringify(line)}`);
    assert.equal(await sha256(join(dir, m[2])), m[1], m[2]);
    names.push(m[2]);
  }
  return names;
}

function assertNoStackTrace(stderr: string) {
  assert.doesNotMatch(stderr, /^\s+at .+:\d+:\d+\)?$/m);
  assert.doesNotMatch(stderr, /Caused by:|panicked|Uncaught/);
}

Deno.test("build.ts --bundle-only writes both bundles, runnable under their binaries' flags", async () => {
  await withTempDir(async (dir) => {
    const r = await build(["--bundle-only", "--out", dir], { ...Deno.env.toObject() });
    assert.equal(r.code, 0, r.stderr);
    const out = join(dir, VERSION);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      join(out, "bundle", "condor_token_request.js"),
      join(out, "bundle", "condor_token.js"),
      ...MAN_PAGES.map((page) => join(out, page)),
      join(out, "SHA256SUMS"),
    ]);
    assert.deepEqual(
      await checkSums(out),
      [
        "bundle/condor_token.js",
        "bundle/condor_token_request.js",
        ...MAN_PAGES,
      ].sort(),
    );
    assert.ok(MAN_PAGES.includes("man/man1/condor_token_request.1"));
    assert.ok(MAN_PAGES.includes("man/man8/condor_tokend.8"));
    for (
      const [name, flags] of [["condor_token_request", REQUESTER_FLAGS], [
        "condor_token",
        FULL_FLAGS,
      ]] as const
    ) {
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--no-config",
          ...flags,
          join(out, "bundle", `${name}.js`),
          "-version",
        ],
        env: { NO_COLOR: "1" },
        clearEnv: true,
        cwd: dir,
      }).output();
      assert.equal(new TextDecoder().decode(run.stderr), "");
      assert.equal(new TextDecoder().decode(run.stdout), `condor_token ${VERSION}\n`);
      assert.equal(run.code, 0);
    }
  });
});

Deno.test("build.ts bundles inline npm packages and keep the daemon out of the requester", async () => {
  await withTempDir(async (dir) => {
    const r = await build(["--bundle-only", "--out", dir], { ...Deno.env.toObject() });
    assert.equal(r.code, 0, r.stderr);
    const requester = await Deno.readTextFile(
      join(dir, VERSION, "bundle", "condor_token_request.js"),
    );
    const full = await Deno.readTextFile(join(dir, VERSION, "bundle", "condor_token.js"));
    for (const text of [requester, full]) {
      // Only node: built-ins are left to import; npm code is inlined and
      // named by package, never by this machine's cache path.
      const imports = [...text.matchAll(/^import\b[^;]*?from\s*"([^"]+)"/gm)].map((m) => m[1]);
      assert.deepEqual(imports.filter((s) => !s.startsWith("node:")), []);
      assert.doesNotMatch(text, /^\/\/ .*\/npm\/registry\.npmjs\.org\//m);
    }
    assert.match(full, /^\/\/ npm:jose\//m);
    assert.match(requester, /^\/\/ src\/requester_main\.ts$/m);
    assert.doesNotMatch(requester, /^\/\/ src\/server\//m);
    assert.doesNotMatch(requester, /^\/\/ npm:@peculiar\/x509\//m);
    assert.doesNotMatch(requester, /node:sqlite/);
    // Node's compatibility modules cost the requester tens of milliseconds
    // of start-up: none is imported before the program runs; each is
    // loaded where a connection first needs it.
    const requesterImports = [...requester.matchAll(/^import\b[^;]*?from\s*"([^"]+)"/gm)];
    assert.deepEqual(requesterImports.map((m) => m[1]), []);
    assert.match(requester, /import\("node:tls"\)/);
    assert.ok(requester.length < full.length);
  });
});

Deno.test("build.ts explains a target without a runtime in one line and exits 1 when nothing was built", async () => {
  await withTempDir(async (dir) => {
    const target = TARGETS.find((t) => t !== HOST)!;
    const r = await build(["--target", target, "--out", join(dir, "dist")], await offline(dir));
    assert.equal(r.code, 1, r.stderr);
    assertNoStackTrace(r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.ok(
      lines.some((l) =>
        l.startsWith(`build: ${target}: skipped: cannot download the runtime `) &&
        l.includes(`denort-${target}.zip`)
      ),
      r.stderr,
    );
    assert.ok(lines.includes("build: no binary was built"), r.stderr);
    assert.match(r.stderr, /built 0 of 1 targets, skipped 1 for want of the Deno runtime/);
    assert.match(r.stderr, /DENORT_BIN/);
    assert.match(r.stderr, new RegExp(`${join(dir, "deno_dir", "dl", "release")}`));
    // The bundles are still there for scripts/test_bundle; no binary is.
    const out = join(dir, "dist", VERSION);
    assert.deepEqual(
      await checkSums(out),
      [
        "bundle/condor_token.js",
        "bundle/condor_token_request.js",
        ...MAN_PAGES,
      ].sort(),
    );
    for (const program of PROGRAMS) assert.ok(!exists(join(out, binaryName(program, target))));
  });
});

Deno.test("build.ts bundles identically whichever Deno cache it builds from", async () => {
  await withTempDir(async (dir) => {
    const a = await build(["--bundle-only", "--out", join(dir, "a")], { ...Deno.env.toObject() });
    const b = await build(["--bundle-only", "--out", join(dir, "b")], await offline(dir));
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(
      await Deno.readTextFile(join(dir, "a", VERSION, "SHA256SUMS")),
      await Deno.readTextFile(join(dir, "b", VERSION, "SHA256SUMS")),
    );
  });
});

const canStandIn = TARGETS.includes(HOST) && exists(STAND_IN);

Deno.test({
  name:
    "build.ts uses DENORT_BIN for the host only, names binaries by version and target, and sums them",
  ignore: !canStandIn,
  fn: async () => {
    await withTempDir(async (dir) => {
      const foreign = HOST.includes("windows") ? TARGETS[0] : "x86_64-pc-windows-msvc";
      const r = await build(
        ["--target", HOST, "--target", foreign, "--out", join(dir, "dist"), "--no-smoke"],
        await offline(dir, { DENORT_BIN: STAND_IN }),
      );
      assert.equal(r.code, 0, r.stderr);
      assertNoStackTrace(r.stderr);
      const out = join(dir, "dist", VERSION);
      const binaries = PROGRAMS.map((p) => binaryName(p, HOST));
      assert.deepEqual(binaries, [
        `condor_token_request-${VERSION}-${HOST}`,
        `condor_token-${VERSION}-${HOST}`,
      ]);
      assert.match(r.stderr, new RegExp(`build: ${HOST}: built ${binaries[0]} \\(`));
      assert.match(r.stderr, new RegExp(`build: ${foreign}: skipped: cannot download`));
      assert.match(r.stderr, /built 1 of 2 targets, skipped 1/);
      assert.deepEqual(
        await checkSums(out),
        [
          "bundle/condor_token.js",
          "bundle/condor_token_request.js",
          ...MAN_PAGES,
          ...binaries,
        ].sort(),
      );
      assert.deepEqual(
        r.stdout.trim().split("\n").sort(),
        [
          ...binaries.map((b) => join(out, b)),
          ...PROGRAMS.map((p) => join(out, "bundle", `${p.name}.js`)),
          ...MAN_PAGES.map((page) => join(out, page)),
          join(out, "SHA256SUMS"),
        ].sort(),
      );
      // The windows binary would have been the host's runtime under an .exe name.
      assert.ok(!exists(join(out, binaryName(PROGRAMS[0], foreign))));
    });
  },
});

Deno.test({
  name: "build.ts --require-all exits 1 when a target is skipped, though another was built",
  ignore: !canStandIn,
  fn: async () => {
    await withTempDir(async (dir) => {
      const foreign = HOST.includes("windows") ? TARGETS[0] : "x86_64-pc-windows-msvc";
      const r = await build(
        [
          "--target",
          HOST,
          "--target",
          foreign,
          "--out",
          join(dir, "dist"),
          "--no-smoke",
          "--require-all",
        ],
        await offline(dir, { DENORT_BIN: STAND_IN }),
      );
      assert.equal(r.code, 1, r.stderr);
      assertNoStackTrace(r.stderr);
      assert.match(r.stderr, /built 1 of 2 targets, skipped 1/);
      assert.ok(
        r.stderr.trim().split("\n").includes(`build: --require-all: ${foreign} not built`),
        r.stderr,
      );
    });
  },
});

Deno.test({
  name: "build.ts smoke-tests a host binary and rejects one whose runtime does not run the program",
  ignore: !canStandIn,
  fn: async () => {
    await withTempDir(async (dir) => {
      const r = await build(
        ["--target", HOST, "--out", join(dir, "dist")],
        await offline(dir, { DENORT_BIN: STAND_IN }),
      );
      assert.equal(r.code, 1, r.stderr);
      assertNoStackTrace(r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `build: ${HOST}: failed: condor_token_request-${VERSION}-${HOST} was built but does not run the program`,
        ),
      );
      assert.ok(!exists(join(dir, "dist", VERSION, binaryName(PROGRAMS[0], HOST))));
    });
  },
});

Deno.test("build.ts rejects an unknown target with the list of known ones and exit 2", async () => {
  const r = await build(["--target", "sparc-sun-solaris"], { NO_COLOR: "1" });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /Unknown target "sparc-sun-solaris"; expected one of x86_64-unknown-linux-gnu,/,
  );
  assertNoStackTrace(r.stderr);
});

Deno.test("parseBuildOptions() defaults to every target and dist", () => {
  const options = parseBuildOptions([])!;
  assert.deepEqual(options.targets, TARGETS);
  assert.equal(options.out, join(ROOT, "dist"));
  assert.equal(parseBuildOptions(["--help"]), undefined);
  assert.deepEqual(parseBuildOptions(["--target", TARGETS[1], "--target", TARGETS[1]])!.targets, [
    TARGETS[1],
  ]);
  assert.throws(() => parseBuildOptions(["--out"]), /--out requires a value/);
  assert.equal(options.requireAll, false);
  assert.equal(parseBuildOptions(["--require-all"])!.requireAll, true);
});

Deno.test("explainCompileFailure() tells a missing runtime from a real compile error", () => {
  const download = `error: Writing deno compile executable to temporary file 'x.tmp-1'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-aarch64-apple-darwin.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)
    3: dns error
    4: failed to lookup address information: Name or service not known`;
  assert.deepEqual(explainCompileFailure(download), {
    noRuntime: true,
    reason:
      "cannot download the runtime https://dl.deno.land/release/v2.9.6/denort-aarch64-apple-darwin.zip (failed to lookup address information: Name or service not known)",
  });
  const missing = `error: Writing deno compile executable to temporary file 'x.tmp-2'

Caused by:
    0: Could not find denort at '/opt/denort'
    1: No such file or directory (os error 2)`;
  assert.deepEqual(explainCompileFailure(missing), {
    noRuntime: true,
    reason: `DENORT_BIN "/opt/denort" cannot be read (No such file or directory (os error 2))`,
  });
  const broken = `error: Module not found "file:///work/x.js".`;
  assert.deepEqual(explainCompileFailure(broken), {
    noRuntime: false,
    reason: `error: Module not found "file:///work/x.js".`,
  });
});
