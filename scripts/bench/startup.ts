/**
 * Requester start-up: from spawning condor_token_request to the first byte
 * it sends to the daemon (its TLS ClientHello), seen by a plain TCP listener
 * on 127.0.0.1 that stands in for the daemon and records when the first
 * bytes arrive. Everything the requester does before it talks to the daemon
 * counts: starting Deno, loading the program, reading the configuration,
 * locating the daemon, preparing TLS. The floor is a Deno script that only
 * connects and writes one byte, with the same flags.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/startup.ts \
 *       [--runs=30] [--bundle=dist/VERSION/bundle/condor_token_request.js] [--json=FILE]
 *
 * `--bundle` also measures the bundle the shipped binary embeds (run with
 * `deno run --no-config` and the requester's flags).
 */
import { REQUESTER_FLAGS } from "../permissions.ts";
import { prepareTestDaemonDir } from "../../tests/_support/daemon.ts";
import { spawnTool } from "../../tests/_support/run_tool.ts";
import { type Figure, numberOption, report, summarize, summaryLine } from "./_report.ts";

const runs = numberOption(Deno.args, "runs", 30);
const bundle = Deno.args.find((a) => a.startsWith("--bundle="))?.slice("--bundle=".length);

const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const paths = await prepareTestDaemonDir(dir);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
const env = {
  CONDOR_CONFIG: paths.configPath,
  HOME: paths.home,
  _CONDOR_COLLECTOR_HOST: `127.0.0.1:${port}`,
  // No CA file: the requester would trust on first use, after the handshake.
  _CONDOR_AUTH_SSL_CLIENT_CAFILE: "",
};
const floorScript = `${dir}/floor.ts`;
await Deno.writeTextFile(
  floorScript,
  `const c = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });\n` +
    `await c.write(new Uint8Array([22]));\nc.close();\n`,
);

/** Accepts the next connection and resolves when its first bytes arrive. */
async function firstByte(): Promise<number> {
  const conn = await listener.accept();
  try {
    const buf = new Uint8Array(1);
    await conn.read(buf);
    return performance.now();
  } finally {
    conn.close();
  }
}

async function measure(spawn: () => Deno.ChildProcess): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const arrived = firstByte();
    const start = performance.now();
    const child = spawn();
    const at = await Promise.race([
      arrived,
      child.status.then((s) => {
        throw new Error(`exited (${s.code}) before sending a byte`);
      }),
    ]);
    try {
      child.kill("SIGKILL");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // already exited
    }
    await child.output();
    if (i >= 2) samples.push(at - start); // the first runs warm the OS caches
  }
  return samples;
}

const command = (args: string[]) =>
  new Deno.Command(Deno.execPath(), {
    args,
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();

const figures: Figure[] = [];
try {
  const floor = summarize(
    await measure(() => command(["run", "--quiet", ...REQUESTER_FLAGS, floorScript])),
  );
  console.log(summaryLine("deno floor: connect + write", floor));
  const source = summarize(
    await measure(() => spawnTool("condor_token_request", [], { env, requesterFlags: true })),
  );
  console.log(summaryLine("condor_token_request (source)", source));
  figures.push(
    { name: "requester start -> first byte sent, median", value: source.median, unit: "ms" },
    { name: "requester start -> first byte sent, p99", value: source.p99, unit: "ms" },
    { name: "Deno floor (connect + write one byte), median", value: floor.median, unit: "ms" },
  );
  if (bundle) {
    const bundled = summarize(
      await measure(() => command(["run", "--quiet", "--no-config", ...REQUESTER_FLAGS, bundle])),
    );
    console.log(summaryLine("condor_token_request (bundle)", bundled));
    figures.push({
      name: "requester bundle start -> first byte sent, median",
      value: bundled.median,
      unit: "ms",
    });
  }
} finally {
  listener.close();
  await Deno.remove(dir, { recursive: true });
}
await report({
  bench: "startup",
  notes: [`${runs} runs each after 2 warm-up runs; a TCP listener stands in for the daemon`],
  figures,
}, Deno.args);
