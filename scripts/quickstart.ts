/**
 * The whole token-request flow on this machine, in one command, for a
 * newcomer: a throwaway pool (POOL key, trust domain, self-signed
 * certificate) in a temporary directory, condor_tokend on a free loopback
 * port, a real condor_token_request against it, an administrator's approval,
 * and the token decoded on screen. Everything is removed afterwards.
 *
 * Each program runs as a subprocess of main.ts with the exact permission
 * flags its shipped binary gets (scripts/permissions.ts); this script itself
 * needs --allow-run, --allow-read, --allow-write and --allow-env.
 *
 *     scripts/quickstart
 */
import { decodeToken } from "../src/token/idtoken.ts";
import { FULL_FLAGS, REQUESTER_FLAGS } from "./permissions.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const TRUST_DOMAIN = "quickstart.example";

const bold = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const say = (text: string) => console.log(bold ? `\n\x1b[1m== ${text}\x1b[0m` : `\n== ${text}`);

/** Starts a tool as a subprocess with the given flags and environment. */
function spawn(flags: readonly string[], env: Record<string, string>, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, MAIN, ...args],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a tool to completion, echoing what it prints; throws on a non-zero exit. */
async function run(flags: readonly string[], env: Record<string, string>, args: string[]) {
  console.log(`$ ${args.join(" ")}`);
  const child = spawn(flags, env, args);
  await child.stdin.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  await Deno.stdout.write(out.stdout);
  await Deno.stderr.write(out.stderr);
  if (out.code !== 0) throw new Error(`${args[0]} exited with status ${out.code}`);
  return stdout;
}

/** Reads lines from a stream, handing each to `onLine` (and echoing it). */
async function follow(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  }
}

/** Resolves with the first line matching `pattern`, within `ms`. */
function waitFor(lines: string[], pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      for (const line of lines) {
        const m = line.match(pattern);
        if (m) return resolve(m);
      }
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${pattern}`));
      setTimeout(check, 20);
    };
    check();
  });
}

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "condor-token-quickstart-" });
  const config = `${dir}/condor_config`;
  await Deno.writeTextFile(
    config,
    [
      "# A throwaway pool for the quickstart; every path is under this directory.",
      `TRUST_DOMAIN = ${TRUST_DOMAIN}`,
      "COLLECTOR_HOST = 127.0.0.1:0",
      "NETWORK_INTERFACE = 127.0.0.1",
      `SPOOL = ${dir}/spool`,
      `SEC_PASSWORD_DIRECTORY = ${dir}/passwords.d`,
      "SEC_TOKEN_POOL_SIGNING_KEY_FILE = $(SEC_PASSWORD_DIRECTORY)/POOL",
      `SEC_TOKEN_DIRECTORY = ${dir}/home/.condor/tokens.d`,
      `TOKEND_ADDRESS_FILE = ${dir}/tokend.address`,
      `TOKEND_KNOWN_HOSTS = ${dir}/home/.condor/known_hosts`,
      "",
    ].join("\n"),
  );
  const env = {
    CONDOR_CONFIG: config,
    HOME: `${dir}/home`,
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    // Share the Deno cache (npm packages) with this process.
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    ...(Deno.env.get("XDG_CACHE_HOME") ? { XDG_CACHE_HOME: Deno.env.get("XDG_CACHE_HOME")! } : {}),
  };
  await Deno.mkdir(env.HOME, { recursive: true });
  // The daemon creates a missing POOL key, but never the directory it goes in.
  await Deno.mkdir(`${dir}/passwords.d`, { mode: 0o700 });

  let daemon: Deno.ChildProcess | undefined;
  let requester: Deno.ChildProcess | undefined;
  try {
    say(
      "1. Start condor_tokend: it creates the POOL key (with a WARNING) and a self-signed certificate",
    );
    console.log(`$ condor_tokend -port 0          (state in ${dir})`);
    daemon = spawn(FULL_FLAGS, env, ["condor_tokend", "-port", "0"]);
    await daemon.stdin.close();
    const daemonLines: string[] = [];
    const daemonDone = follow(daemon.stderr, (line) => {
      daemonLines.push(line);
      console.log(`   [tokend] ${line}`);
    });
    daemon.stdout.cancel();
    const [, fingerprint] = await waitFor(
      daemonLines,
      /SHA-256 fingerprint: (sha256:[0-9A-F:]+)/,
      30_000,
    );
    await waitFor(daemonLines, /ready/, 30_000);
    const url = (await Deno.readTextFile(`${dir}/tokend.address`)).trim();

    say("2. On a fresh host: request a token, pinning the daemon's certificate");
    const args = [
      "condor_token_request",
      "-pool",
      url,
      "-trust",
      fingerprint,
      "-identity",
      `alice@${TRUST_DOMAIN}`,
      "-authz",
      "READ",
      "-lifetime",
      "3600",
    ];
    console.log(`$ ${args.join(" ")}`);
    requester = spawn(REQUESTER_FLAGS, env, args);
    await requester.stdin.close();
    const requesterLines: string[] = [];
    const requesterErr = follow(requester.stderr, (line) => {
      requesterLines.push(line);
      console.log(`   [requester] ${line}`);
    });
    const tokenOut = new Response(requester.stdout).text();
    const [, requestId] = await waitFor(requesterLines, /approve request (\d{7})/, 30_000);

    say("3. The administrator looks at the request and approves it");
    // On the daemon's host, reading the signing key is what makes one an administrator.
    await run(FULL_FLAGS, env, ["condor_token_request_list", "-pool", url, "-trust", fingerprint]);
    await run(FULL_FLAGS, env, [
      "condor_token_request_approve",
      "-pool",
      url,
      "-trust",
      fingerprint,
      "-reqid",
      requestId,
      "-yes",
    ]);

    say("4. The requester receives the token at once (stdout carries only the token)");
    const status = await requester.status;
    await requesterErr;
    const token = (await tokenOut).trim();
    requester = undefined;
    if (status.code !== 0 || !token) {
      throw new Error(`condor_token_request exited with ${status.code}`);
    }
    const { header, payload } = decodeToken(token);
    console.log(`token: ${token.slice(0, 24)}... (${token.length} characters, not shown in full)`);
    console.log(`header:  ${JSON.stringify(header)}`);
    console.log(
      `payload: ${JSON.stringify(payload, null, 2).replace(/\n/g, "\n         ")}`,
    );

    say("5. Stop the daemon (SIGTERM) and clean up");
    daemon.kill("SIGTERM");
    await daemon.status;
    await daemonDone;
    daemon = undefined;
    console.log("\nDone. Next: README.md (running a real pool, the administrator's tools).");
  } finally {
    try {
      requester?.kill("SIGKILL");
    } catch { /* already gone */ }
    try {
      daemon?.kill("SIGKILL");
    } catch { /* already gone */ }
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`quickstart failed: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
