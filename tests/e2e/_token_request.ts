/**
 * Helpers for the requester's end-to-end tests: condor_token_request as a
 * subprocess with the shipped requester's exact permission flags, its
 * stderr readable while it runs, and an administrator's client for the
 * daemon under test.
 */
import type { TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { clientFor, prepareTestDaemonDir } from "../_support/daemon.ts";
import { spawnTool, type ToolResult } from "../_support/run_tool.ts";

/** The enqueue line of the manual page, capturing the request id. */
export const ENQUEUED =
  /Token request enqueued\. {2}Ask an administrator to please approve request (\d{7})\.\n/;

/** A running condor_token_request. */
export class Requester {
  readonly child: Deno.ChildProcess;
  /** Resolves when the process has exited and its output is read. */
  readonly done: Promise<ToolResult>;
  #stdout = "";
  #stderr = "";
  #changed: () => void = () => {};

  constructor(args: readonly string[], env: Record<string, string>) {
    this.child = spawnTool("condor_token_request", args, { env, requesterFlags: true });
    const read = async (stream: ReadableStream<Uint8Array>, append: (s: string) => void) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        append(chunk);
        this.#changed();
      }
    };
    this.done = Promise.all([
      read(this.child.stdout, (s) => this.#stdout += s),
      read(this.child.stderr, (s) => this.#stderr += s),
      this.child.status,
    ]).then(([, , status]) => ({ code: status.code, stdout: this.#stdout, stderr: this.#stderr }));
  }

  /** Everything on stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the first match of `pattern` on stderr; rejects on exit or timeout. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.done.then(() => exited = true, () => exited = true);
    while (true) {
      const match = this.#stderr.match(pattern);
      if (match) return match;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `stderr never matched ${pattern} (${exited ? "exited" : "timed out"}): ${
            JSON.stringify(this.#stderr)
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for the enqueue line and returns the request id. */
  async requestId(): Promise<string> {
    return (await this.waitFor(ENQUEUED))[1];
  }

  /** Kills the process if it still runs and waits for it (for `finally`). */
  async stop(): Promise<ToolResult> {
    try {
      this.child.kill("SIGKILL");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // already exited
    }
    return await this.done;
  }
}

/** Runs `fn` with a started requester and always reaps it. */
export async function withRequester<T>(
  args: readonly string[],
  env: Record<string, string>,
  fn: (requester: Requester) => Promise<T>,
): Promise<T> {
  const requester = new Requester(args, env);
  try {
    return await fn(requester);
  } finally {
    await requester.stop();
  }
}

/** A client of the daemon authenticated as its administrator, trusting exactly its certificate. */
export function adminClient(
  daemon: { url: string; fingerprint: string; adminToken: string },
): TokenDaemonClient {
  return clientFor(daemon, { admin: true });
}

/** Environment in which the daemon's certificate is not pre-trusted (no CA file). */
export function untrustedEnv(env: Record<string, string>): Record<string, string> {
  return { ...env, ...REMOTE };
}

/**
 * What makes a test daemon look remote to a tool on this host: no CA file,
 * and none of the daemon's own certificate files to read (a tool on the
 * daemon's host trusts those).
 */
export const REMOTE = {
  _CONDOR_AUTH_SSL_CLIENT_CAFILE: "",
  _CONDOR_AUTH_SSL_SERVER_CERTFILE: "",
  _CONDOR_TOKEND_STATE_DIRECTORY: "/nonexistent/remote-daemon-state",
};

/**
 * Starts `main.ts condor_tokend` on a given port in a test daemon's
 * directory: a restart where clients find it again. spawnTestDaemon always
 * takes a new free port, which a waiting requester could not follow.
 * Resolves once the daemon has written its address file.
 */
export async function spawnDaemonOnPort(
  dir: string,
  port: number,
): Promise<{ url: string; stop(signal?: Deno.Signal): Promise<Deno.CommandStatus> }> {
  const paths = await prepareTestDaemonDir(dir);
  await Deno.remove(paths.addressFile).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  const child = spawnTool("condor_tokend", ["-port", String(port)], {
    env: { CONDOR_CONFIG: paths.configPath, HOME: paths.home },
  });
  const output = Promise.all([child.stdout.cancel(), new Response(child.stderr).text()]);
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!exited) child.kill(signal);
    const status = await child.status;
    await output;
    return status;
  };
  const deadline = Date.now() + 30_000;
  while (true) {
    const url = await Deno.readTextFile(paths.addressFile).then((t) => t.trim(), (err) => {
      if (err instanceof Deno.errors.NotFound) return "";
      throw err;
    });
    if (url !== "") return { url, stop };
    if (exited || Date.now() > deadline) {
      await stop("SIGKILL");
      throw new Error(`condor_tokend did not start on port ${port}: ${(await output)[1]}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
