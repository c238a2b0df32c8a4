/**
 * Ten thousand pending requests: HTCondor caps pending requests at 1,000;
 * condor_tokend keeps them in SQLite and may be configured for more. This
 * measures, on a real daemon in its own process (shipped permission flags):
 * its resident memory idle and with 10,000 pending requests, how long
 * filling it takes, how long an administrator's list and approve take with
 * that many pending, condor_token_request_list as a whole, and approving
 * them all.
 *
 *     NO_COLOR=1 scripts/deno run --allow-all scripts/bench/pending_10k.ts \
 *       [--pending=10000] [--json=FILE]
 *
 * The pending cap is raised with TOKEND_MAX_PENDING_REQUESTS (its default
 * is HTCondor's 1,000) and the per-peer rate limits are off
 * (TOKEND_RATE_LIMIT = 0, TOKEND_COLLECT_RATE_LIMIT = 0), since every
 * request comes from 127.0.0.1.
 */
import { newSecret } from "../../tests/_support/api.ts";
import { spawnTestDaemon } from "../../tests/_support/daemon.ts";
import { runTool } from "../../tests/_support/run_tool.ts";
import {
  type Figure,
  numberOption,
  report,
  rssMiB,
  sleep,
  summarize,
  summaryLine,
} from "./_report.ts";

const pending = numberOption(Deno.args, "pending", 10_000);
const CONCURRENCY = 16;

const dir = await Deno.makeTempDir({ prefix: "tokend-bench-" });
const daemon = await spawnTestDaemon({
  dir,
  extraConfig: [
    `TOKEND_MAX_PENDING_REQUESTS = ${Math.max(1000, pending * 2)}`,
    "TOKEND_RATE_LIMIT = 0",
    "TOKEND_COLLECT_RATE_LIMIT = 0",
  ].join("\n"),
});
const clients = Array.from(
  { length: CONCURRENCY },
  () => Deno.createHttpClient({ caCerts: [daemon.certPem] }),
);

async function call(
  client: Deno.HttpClient,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(daemon.url + path, {
    method,
    client,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, text: await response.text() };
}

/** Runs `work(i)` for i in 0..n-1 on CONCURRENCY connections. */
async function spread(n: number, work: (client: Deno.HttpClient, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(clients.map(async (client) => {
    while (next < n) await work(client, next++);
  }));
}

const figures: Figure[] = [];
const notes: string[] = [];
try {
  await sleep(2000);
  const idle = await rssMiB(daemon.child.pid);

  const ids: string[] = [];
  const fillStart = performance.now();
  await spread(pending, async (client, i) => {
    const answer = await call(client, "POST", "/v1/token-requests", {
      identity: `condor@tokend-test.example.org`,
      authz: ["ADVERTISE_STARTD"],
      lifetime: 3600,
      clientId: `node${i}.example.org-${i % 1000}`,
      secret: newSecret(),
    });
    if (answer.status !== 201) throw new Error(`enqueue ${i}: ${answer.status} ${answer.text}`);
    ids.push(JSON.parse(answer.text).requestId);
  });
  const fillSeconds = (performance.now() - fillStart) / 1000;
  await sleep(2000);
  const full = await rssMiB(daemon.child.pid);

  const lists: number[] = [];
  let listBytes = 0;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const answer = await call(
      clients[0],
      "GET",
      "/v1/token-requests",
      undefined,
      daemon.adminToken,
    );
    lists.push(performance.now() - t);
    const listed = JSON.parse(answer.text).requests.length;
    if (listed !== pending) throw new Error(`listed ${listed} of ${pending}`);
    listBytes = answer.text.length;
  }
  const one = await call(
    clients[0],
    "GET",
    `/v1/token-requests?reqid=${ids[0]}`,
    undefined,
    daemon.adminToken,
  );
  if (one.status !== 200) throw new Error(`list one: ${one.status}`);
  const listOne: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await call(
      clients[0],
      "GET",
      `/v1/token-requests?reqid=${ids[i]}`,
      undefined,
      daemon.adminToken,
    );
    listOne.push(performance.now() - t);
  }

  // The whole tool: a failure is a finding to report, not a reason to lose the other figures.
  const toolRuns: number[] = [];
  let toolFailure: string | undefined;
  for (let i = 0; i < 3 && toolFailure === undefined; i++) {
    const t = performance.now();
    const r = await runTool("condor_token_request_list", ["-json"], { env: daemon.env });
    if (r.code !== 0) toolFailure = `exit ${r.code}: ${r.stderr.trim()}`;
    else toolRuns.push(performance.now() - t);
  }

  const approves: number[] = [];
  const sample = 200;
  for (const id of ids.slice(0, sample)) {
    const t = performance.now();
    const answer = await call(
      clients[0],
      "POST",
      `/v1/token-requests/${id}/approve`,
      {},
      daemon.adminToken,
    );
    approves.push(performance.now() - t);
    if (answer.status !== 200) throw new Error(`approve ${id}: ${answer.status}`);
  }
  const rest = ids.slice(sample);
  const allStart = performance.now();
  await spread(rest.length, async (client, i) => {
    const answer = await call(
      client,
      "POST",
      `/v1/token-requests/${rest[i]}/approve`,
      {},
      daemon.adminToken,
    );
    if (answer.status !== 200) throw new Error(`approve ${rest[i]}: ${answer.status}`);
  });
  const allSeconds = (performance.now() - allStart) / 1000;

  const list = summarize(lists);
  const approve = summarize(approves);
  const tool = summarize(toolRuns);
  console.log(summaryLine(`list of ${pending} (API)`, list));
  console.log(summaryLine("list of one by reqid (API)", summarize(listOne)));
  if (toolFailure === undefined) console.log(summaryLine("condor_token_request_list -json", tool));
  console.log(summaryLine(`approve with ${pending} pending`, approve));
  notes.push(
    `TOKEND_MAX_PENDING_REQUESTS = ${
      Math.max(1000, pending * 2)
    }, rate limits off; ${CONCURRENCY} connections for filling and approving`,
    `filling: ${pending} enqueues in ${fillSeconds.toFixed(1)} s (${
      (pending / fillSeconds).toFixed(0)
    } req/s); the full list is ${(listBytes / 1024 / 1024).toFixed(1)} MiB of JSON`,
    `approve latency is over the first ${sample} approvals, one at a time, with the rest pending`,
  );
  if (toolFailure !== undefined) {
    notes.push(`condor_token_request_list -json FAILED with ${pending} pending: ${toolFailure}`);
  }
  figures.push(
    { name: "daemon RSS idle", value: idle, unit: "MiB" },
    { name: `daemon RSS with ${pending} pending`, value: full, unit: "MiB" },
    { name: `fill ${pending} pending (16 connections)`, value: fillSeconds, unit: "s" },
    { name: `list all ${pending} pending (API), median`, value: list.median, unit: "ms" },
    { name: `list all ${pending} pending (API), p99`, value: list.p99, unit: "ms" },
    {
      name: "list one request by reqid (API), median",
      value: summarize(listOne).median,
      unit: "ms",
    },
    ...(toolFailure === undefined
      ? [{
        name: "condor_token_request_list -json (whole tool), median",
        value: tool.median,
        unit: "ms",
      }]
      : []),
    { name: `approve one with ${pending} pending, median`, value: approve.median, unit: "ms" },
    { name: `approve one with ${pending} pending, p99`, value: approve.p99, unit: "ms" },
    { name: `approve the other ${rest.length} (16 connections)`, value: allSeconds, unit: "s" },
  );
} finally {
  clients.forEach((c) => c.close());
  await daemon.stop();
  await Deno.remove(dir, { recursive: true });
}
await report({ bench: "pending_10k", notes, figures }, Deno.args);
