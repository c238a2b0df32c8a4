/** Runs a test body against a fresh in-process daemon over HTTPS, cleaning everything up. */
import { startTestDaemon, type TestDaemon } from "../_support/daemon.ts";
import { withTempDir } from "../_support/temp.ts";
import { type Api, apiFor } from "./_api.ts";

/** Starts a daemon in a temp dir, hands `fn` the daemon and an API client, then stops both. */
export async function withDaemon(
  options: { extraConfig?: string; now?: () => number },
  fn: (daemon: TestDaemon, api: Api, dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const daemon = await startTestDaemon({ dir, ...options });
    const api = apiFor(daemon);
    try {
      await fn(daemon, api, dir);
    } finally {
      api.close();
      await daemon.close();
    }
  });
}
