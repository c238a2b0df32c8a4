/**
 * Helpers for the administrator's and users' tools end to end: a real daemon
 * on loopback, environments that authenticate the tools in each way the
 * docs describe (a token in SEC_TOKEN_DIRECTORY, the signing key, nothing),
 * and requests made straight over HTTPS so tests need not wait on
 * requester processes.
 */
import type { EnqueueRequest } from "../../src/api/protocol.ts";
import type { Authorization } from "../../src/token/authz.ts";
import { startTestDaemon, TEST_TRUST_DOMAIN, type TestDaemon } from "../_support/daemon.ts";
import { runTool, type ToolResult } from "../_support/run_tool.ts";
import { withTempDir } from "../_support/temp.ts";

/** `name@` the test daemon's trust domain. */
export function id(name: string): string {
  return `${name}@${TEST_TRUST_DOMAIN}`;
}

/** A test daemon plus the helpers the tests use. */
export interface Fixture {
  daemon: TestDaemon;
  dir: string;
  /** Environment that authenticates with the daemon's signing key only (condor@ administrator). */
  keyEnv: Record<string, string>;
  /** Environment whose token directory holds `token` and which cannot read any signing key. */
  tokenEnv(name: string, token: string): Promise<Record<string, string>>;
  /** tokenEnv with a fresh token for `identity` (scope and lifetime optional). */
  userEnv(
    identity: string,
    authz?: Authorization[],
    lifetime?: number,
  ): Promise<Record<string, string>>;
  /** Environment with no token and no readable signing key. */
  noCredentialEnv: Record<string, string>;
  /** Runs a tool as a subprocess with the shipped flags. */
  run(
    tool: string,
    args: string[],
    env: Record<string, string>,
    stdin?: string,
  ): Promise<ToolResult>;
  /** Enqueues a request over HTTPS as an anonymous requester from 127.0.0.1. */
  enqueue(request: Partial<EnqueueRequest>): Promise<{ requestId: string; secret: string }>;
  /** The requester's collect (no wait): the state, and the token once approved. */
  collect(requestId: string, secret: string): Promise<{ state: string; token?: string }>;
  /** Lists a daemon of `type` named `name` at this daemon's own address, as its administrator. */
  advertise(name: string, type: string): Promise<void>;
}

/** Runs `fn` against a fresh in-process daemon in a temporary directory. */
export async function withFixture(
  fn: (f: Fixture) => Promise<void>,
  extraConfig = "",
): Promise<void> {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir, extraConfig });
    const http = Deno.createHttpClient({ caCerts: [daemon.certPem] });
    const noKeys = {
      _CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE: `${dir}/no-keys/POOL`,
      _CONDOR_SEC_PASSWORD_DIRECTORY: `${dir}/no-keys`,
    };
    let dirs = 0;
    const tokenEnv = async (name: string, token: string) => {
      const tokens = `${dir}/tokens-${++dirs}`;
      await Deno.mkdir(tokens, { mode: 0o700 });
      await Deno.writeTextFile(`${tokens}/${name}`, token + "\n", { mode: 0o600 });
      return { ...daemon.env, ...noKeys, _CONDOR_SEC_TOKEN_DIRECTORY: tokens };
    };
    const call = async (path: string, body: unknown, token?: string) => {
      const response = await fetch(daemon.url + path, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(body),
        client: http,
        signal: AbortSignal.timeout(15_000),
      });
      const answer = await response.json();
      if (!response.ok) {
        throw new Error(`${path}: HTTP ${response.status} ${JSON.stringify(answer)}`);
      }
      return answer;
    };
    const fixture: Fixture = {
      daemon,
      dir,
      keyEnv: daemon.env,
      tokenEnv,
      userEnv: async (identity, authz = [], lifetime) =>
        await tokenEnv("token", await daemon.mintToken(identity, authz, lifetime)),
      noCredentialEnv: {
        ...daemon.env,
        ...noKeys,
        _CONDOR_SEC_TOKEN_DIRECTORY: `${dir}/no-tokens`,
      },
      run: (tool, args, env, stdin) => runTool(tool, args, { env, stdin }),
      async enqueue(request) {
        const secret = newSecret();
        const answer = await call("/v1/token-requests", {
          identity: id("condor"),
          authz: [],
          lifetime: null,
          clientId: "worker-17",
          ...request,
          secret,
        });
        return { requestId: answer.requestId, secret };
      },
      collect: (requestId, secret) =>
        call(`/v1/token-requests/${requestId}/collect`, { secret, waitSeconds: 0 }),
      async advertise(name, type) {
        await call("/v1/daemons", { name, type, address: daemon.url }, daemon.adminToken);
      },
    };
    try {
      await fn(fixture);
    } finally {
      http.close();
      await daemon.close();
    }
  });
}

/** A fresh 43-character base64url requester secret. */
function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The one line a failing tool prints (usage errors add the usage after it). */
export function firstLine(text: string): string {
  return text.split("\n")[0];
}
