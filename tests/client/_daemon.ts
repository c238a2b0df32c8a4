/** Test helpers for the client against a real in-process daemon over HTTPS. */
import { startTestDaemon, type TestDaemon } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import type { TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { pinnedHttpsClient } from "../../src/client/connect.ts";

/** A client that trusts exactly the test daemon's certificate, with its admin token or none. */
export function clientFor(
  daemon: Pick<TestDaemon, "url" | "fingerprint" | "adminToken">,
  options: { admin?: boolean; timeoutMs?: number } = {},
): TokenDaemonClient {
  return pinnedHttpsClient(daemon.url, daemon.fingerprint, {
    credential: options.admin ? () => Promise.resolve(daemon.adminToken) : undefined,
    timeoutMs: options.timeoutMs,
  });
}

/** Runs `fn` with a fresh in-process daemon, a requester-side client and an admin client. */
export async function withDaemon(
  options: { extraConfig?: string; now?: () => number },
  fn: (
    ctx: { daemon: TestDaemon; client: TokenDaemonClient; admin: TokenDaemonClient; dir: string },
  ) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir, ...options });
    const client = clientFor(daemon);
    const admin = clientFor(daemon, { admin: true });
    try {
      await fn({ daemon, client, admin, dir });
    } finally {
      client.close();
      admin.close();
      await daemon.close();
    }
  });
}

/** A request body with a fresh secret. */
export function requestBody(overrides: Record<string, unknown> = {}) {
  return {
    identity: "alice@tokend-test.example.org",
    authz: [] as string[],
    lifetime: null as number | null,
    clientId: "test-1",
    secret: crypto.randomUUID() + crypto.randomUUID(),
    ...overrides,
  };
}
