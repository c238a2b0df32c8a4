/**
 * A stand-in benchmark for tests/scripts/bench_test.ts: registers a
 * temporary directory and a long-running child with a Teardown, prints
 * `DIR PID` on stdout, and waits to be signalled.
 */
import { exitOnSignals, Teardown } from "../../scripts/bench/_teardown.ts";

const teardown = new Teardown();
exitOnSignals(teardown, "fixture");
const dir = teardown.dir(await Deno.makeTempDir({ prefix: "condor-token-teardown-test-" }));
const child = teardown.child(
  new Deno.Command("sleep", { args: ["300"], stdout: "null", stderr: "null" }).spawn(),
);
console.log(`${dir} ${child.pid}`);
await child.status;
