/**
 * A real HTCondor pool for the benchmarks that compare us with it: one
 * collector on loopback (tests/_support/htcondor_pool.ts writes its
 * configuration), started by `condor_master` and stopped by a
 * {@link Teardown}, so that neither the master nor its collector outlives
 * the benchmark, even when it is interrupted.
 */
import {
  collectorLog,
  exists,
  type Pool,
  type PoolOptions,
  PREFIX,
  preparePool,
  stopMaster,
} from "../../tests/_support/htcondor_pool.ts";
import type { Teardown } from "./_teardown.ts";

/** Upper bound for the master to start the collector. */
const START_WAIT_MS = 20_000;

/** A running one-collector pool. */
export interface RunningPool {
  pool: Pool;
  /** The collector's process ID (for its RSS and CPU time). */
  collectorPid: number;
  /** Stops the master and its collector (also registered with the teardown). */
  stop(): Promise<void>;
}

/**
 * Writes a pool's configuration into a new directory under `parent`,
 * starts `condor_master -f` and resolves once the collector has written its
 * address file and its CA file, and the POOL key exists. The master and collector are
 * stopped at teardown: SIGQUIT to the master (its fast shutdown, which
 * stops the collector), SIGKILL when it does not stop in time, and the
 * collector is killed by itself when the master is gone but it is not (a
 * master killed outright leaves its collector running). Needs --allow-all
 * (runs HTCondor, reads /proc).
 */
export async function startPool(
  teardown: Teardown,
  parent: string,
  options: PoolOptions,
): Promise<RunningPool> {
  if (!PREFIX) throw new Error("No HTCondor prefix (CONDOR_TOKEN_HTCONDOR_PREFIX)");
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "pool-" });
  const pool = await preparePool(dir, options);
  const master = new Deno.Command(`${PREFIX}/sbin/condor_master`, {
    args: ["-f"],
    env: pool.env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = master.status.finally(() => exited = true);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await stopMaster(pool, master, status, () => exited);
      await killOrphanCollector(pool);
    })();
  const unregister = teardown.add(`stop the HTCondor pool in ${dir}`, stop);
  const deadline = Date.now() + START_WAIT_MS;
  // The collector writes its CA (the trust domain's, which the requesters
  // are given) after its address file: a requester started before it
  // exists fails to read AUTH_SSL_CLIENT_CAFILE.
  const ready = async () =>
    await exists(`${pool.dir}/log/.collector_address`) && await exists(pool.poolKeyFile) &&
    await exists(pool.caFile);
  while (!(await ready())) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `The collector did not start (${
          exited ? "the master exited" : "timed out"
        })\n${await collectorLog(
          pool,
        )}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const collectorPid = (await collectorPids(pool)).at(-1);
  if (collectorPid === undefined) throw new Error("The master's log names no collector");
  return {
    pool,
    collectorPid,
    stop: async () => {
      unregister();
      await stop();
    },
  };
}

/** The collectors the master says it started (pids from its log). */
async function collectorPids(pool: Pool): Promise<number[]> {
  const log = await Deno.readTextFile(`${pool.dir}/log/MasterLog`).catch(() => "");
  return [...log.matchAll(/condor_collector", pid and pgroup = (\d+)/g)].map((m) => Number(m[1]));
}

/**
 * Kills a collector of this pool that is still running after its master
 * stopped: one whose environment names this pool's configuration (so a
 * reused pid is never touched). Needs --allow-read=/proc, --allow-run.
 */
async function killOrphanCollector(pool: Pool): Promise<void> {
  for (const pid of await collectorPids(pool)) {
    let environ: string;
    try {
      environ = await Deno.readTextFile(`/proc/${pid}/environ`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue; // gone: good
      throw err;
    }
    if (!environ.split("\0").includes(`CONDOR_CONFIG=${pool.configPath}`)) continue;
    console.error(`teardown: the collector (pid ${pid}) outlived its master: killing it`);
    Deno.kill(pid, "SIGKILL");
  }
}

/**
 * Finds an HTCondor install for the comparison: CONDOR_TOKEN_HTCONDOR_PREFIX,
 * else the prebuilt test peer beside the project (`../shared/htcondor/`,
 * as .ci/run finds it), unpacked by scripts/htcondor_peer. Resolves to the
 * prefix, or to undefined with the reason.
 */
export async function findHtcondor(
  root: string,
): Promise<{ prefix: string } | { prefix: undefined; why: string }> {
  const given = Deno.env.get("CONDOR_TOKEN_HTCONDOR_PREFIX");
  if (given) return { prefix: given };
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return { prefix: undefined, why: "the test peer is built for x86_64 Linux only" };
  }
  const shared = `${root}/../shared/htcondor`;
  const tarballs: string[] = [];
  try {
    for await (const entry of Deno.readDir(shared)) {
      if (/^htcondor-.*-x86_64-linux-gnu\.tar\.gz$/.test(entry.name)) tarballs.push(entry.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (tarballs.length === 0) {
    return {
      prefix: undefined,
      why: `CONDOR_TOKEN_HTCONDOR_PREFIX is not set and ${shared} holds no test peer`,
    };
  }
  const tarball = `${shared}/${tarballs.sort().at(-1)}`;
  const out = await new Deno.Command(`${root}/scripts/htcondor_peer`, {
    args: [tarball],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    return {
      prefix: undefined,
      why: `scripts/htcondor_peer failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    };
  }
  return { prefix: new TextDecoder().decode(out.stdout).trim() };
}
