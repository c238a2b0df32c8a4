/**
 * The load generator of the comparison with HTCondor, in a process of its
 * own: many token requesters or enqueues against condor_tokend over HTTPS
 * or against an HTCondor collector over its own protocol, CEDAR. Prints one
 * JSON line with what it saw.
 *
 *     deno run --allow-net --allow-read _compare_load.ts JOB.json
 *
 * JOB.json ({@link Job}):
 *
 * - mode "storm": `count` hosts ask for a token under an auto-approval
 *   rule through this project's requester code (src/client/request_flow.ts
 *   over src/client/https_client.ts or src/client/cedar/cedar_client.ts:
 *   the same code for both daemons), each with a client of its own (its own
 *   TCP connection and TLS session; over CEDAR a new security session, ECDH
 *   and TLS inside the protocol), with the flow's retries, at most
 *   `concurrency` at a time (0: all at once); a host whose request failed
 *   tries again a second later, up to five tries. Every token is then
 *   verified against the POOL key.
 * - mode "enqueue": `count` new pending requests on `concurrency` workers,
 *   with Deno's `fetch` for condor_tokend and our CEDAR client for a
 *   collector (see newEnqueuer). `reuse` false: a new client per request (a
 *   new TLS handshake each; over CEDAR a new security session each);
 *   `reuse` true: one client per worker (HTTPS keep-alive; over CEDAR one
 *   TCP connection per command, as HTCondor allows, but the security
 *   session resumed: no handshake).
 */
import { type EnqueueRequest, PATHS } from "../../src/api/protocol.ts";
import type { TokenDaemonClient } from "../../src/client/daemon_client.ts";
import { cedarDaemonClient } from "../../src/client/cedar/cedar_client.ts";
import { httpsClient, TrustSessions } from "../../src/client/connect.ts";
import { newRequesterSecret, requestToken } from "../../src/client/request_flow.ts";
import { verifyToken } from "../../src/token/idtoken.ts";
import { POOL_KEY_ID, readSigningKey } from "../../src/token/signing_key.ts";
import { cpuUsage } from "node:process";
import { percentile } from "./_report.ts";

/** What to run. */
export interface Job {
  mode: "storm" | "enqueue";
  /** `https://127.0.0.1:PORT` (condor_tokend) or `cedar://HOST:PORT` (a collector). */
  url: string;
  /** PEM file of the CA (or self-signed certificate) that vouches for the daemon. */
  caFile: string;
  count: number;
  /** Requests in flight at most; 0 for all at once. */
  concurrency: number;
  /** enqueue: one client per worker instead of one per request. */
  reuse?: boolean;
  /**
   * enqueue: calls that warm up (TLS, the JIT, caches) before the rate is
   * measured: it runs from the end of call number `warmup` to the last.
   */
  warmup?: number;
  /** The identity asked for (condor@TRUST_DOMAIN for auto-approval). */
  identity: string;
  authz: string[];
  /** storm: the POOL key and trust domain the tokens must verify against. */
  poolKeyFile?: string;
  passwordDirectory?: string;
  trustDomain?: string;
}

/** What one run saw. */
export interface LoadResult {
  count: number;
  /** Requests that ended as asked (storm: a verified token; enqueue: a request ID). */
  ok: number;
  failureCount: number;
  /** The first few failures, as text. */
  failures: string[];
  /** Calls the requester's flow retried after a failure (storm only). */
  retries: number;
  /** Storm: hosts' later tries after a request that failed, and why they failed (a few). */
  hostRetries: number;
  retryReasons: string[];
  /** From the first start to the last end. */
  allMs: number;
  /** enqueue: calls a second after the warm-up (see {@link Job.warmup}), else over allMs. */
  perSecond: number;
  /** Each request's own time, start to end: median and p99. */
  eachMs: { median: number; p99: number };
  /** Distinct token IDs (storm): one per host. */
  distinctJti: number;
  /** CPU time this load generator used (user + system). */
  clientCpuMs: number;
}

/**
 * Per-call timeout. The tools give up on a call after 15 s and retry; in a
 * storm of thousands against a daemon that serves one at a time, hosts
 * would then give up while queued and come back at the end of the queue,
 * which measures the retry policy more than the daemon. Here a host waits
 * its turn instead (a failed call is still retried by the flow).
 */
const CALL_TIMEOUT_MS = 600_000;

/**
 * How often a host in a storm tries, and how long it waits between tries.
 * The requester's flow retries what it knows to be passing (a refused
 * connection, a timeout), not a daemon that hangs up after the handshake;
 * but a collector that is too busy does just that (its authentication
 * deadline passes), and a daemon that wants a token asks again later.
 */
const HOST_ATTEMPTS = 5;
const HOST_RETRY_PAUSE_MS = 1000;

const job: Job = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const caPem = await Deno.readTextFile(job.caFile);
const url = new URL(job.url);
const cedar = url.protocol === "cedar:";

/** A client as one host has it: its own trust session, connections and (CEDAR) security session. */
function newClient(): TokenDaemonClient {
  const trust = new TrustSessions({
    caPem,
    pins: [],
    knownHostsFile: undefined,
    now: Date.now,
    timeoutMs: CALL_TIMEOUT_MS,
  });
  return cedar
    ? cedarDaemonClient({ url, trust, methods: ["SSL"], timeoutMs: CALL_TIMEOUT_MS })
    : httpsClient(url, trust, { timeoutMs: CALL_TIMEOUT_MS });
}

/** What the enqueue mode needs of a client. */
interface Enqueuer {
  enqueue(request: EnqueueRequest): Promise<unknown>;
  close(): void;
}

/**
 * A client for the enqueue mode. For condor_tokend, Deno's own `fetch`
 * (its HTTP and TLS in Rust) with an HTTP client of its own: the cheapest
 * client there is, so that the daemon, not the load generator, sets the
 * pace; a new one is a new TCP connection and a full TLS handshake. For a
 * collector, this project's CEDAR client (there is no other here).
 */
function newEnqueuer(): Enqueuer {
  if (cedar) return newClient();
  const client = Deno.createHttpClient({ caCerts: [caPem], http1: true, http2: false });
  return {
    enqueue: async (request) => {
      const response = await fetch(new URL(PATHS.requests, url), {
        method: "POST",
        client,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      const text = await response.text();
      if (response.status !== 201) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    },
    close: () => client.close(),
  };
}

/** Runs `work(i)` for i in 0..count-1, at most `concurrency` at once (0: all). */
async function spread(work: (i: number, worker: number) => Promise<void>): Promise<void> {
  const lanes = job.concurrency === 0 ? job.count : Math.min(job.concurrency, job.count);
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async (_, worker) => {
    while (next < job.count) await work(next++, worker);
  }));
}

const times: number[] = [];
/** When each call ended (enqueue mode). */
const ends: number[] = [];
const failures: string[] = [];
const tokens: string[] = [];
let retries = 0;
/** Hosts' second and later tries, after a request that failed. */
let hostRetries = 0;
const retryReasons = new Set<string>();
const signal = new AbortController().signal;
const cpuBefore = cpuUsage();
const started = performance.now();

if (job.mode === "storm") {
  await spread(async (i) => {
    const t = performance.now();
    let failure: string | undefined;
    // A host whose request failed tries again, as a daemon asking for its token does.
    for (let attempt = 1; attempt <= HOST_ATTEMPTS; attempt++) {
      if (attempt > 1) {
        hostRetries++;
        retryReasons.add(failure!.slice(0, 200));
        await new Promise((resolve) => setTimeout(resolve, HOST_RETRY_PAUSE_MS));
      }
      failure = undefined;
      const client = newClient();
      try {
        const outcome = await requestToken({
          client,
          request: {
            identity: job.identity,
            authz: job.authz,
            lifetime: 86_400,
            clientId: `storm-${i}`,
          },
          secret: newRequesterSecret(),
          deadline: Date.now() + 2 * CALL_TIMEOUT_MS,
          cancelOnTimeout: false,
          signal,
          onEvent: (event) => {
            if (event.type === "retrying") retries++;
          },
        });
        if (outcome.outcome === "approved") tokens.push(outcome.token);
        else failure = outcome.outcome;
      } catch (err) {
        failure = String(err);
      } finally {
        client.close();
      }
      if (failure === undefined) break;
    }
    if (failure !== undefined) failures.push(failure);
    times.push(performance.now() - t);
  });
} else {
  const shared = job.reuse ? new Map<number, Enqueuer>() : undefined;
  await spread(async (i, worker) => {
    let client = shared?.get(worker);
    if (client === undefined) {
      client = newEnqueuer();
      shared?.set(worker, client);
    }
    const t = performance.now();
    try {
      await client.enqueue({
        identity: job.identity,
        authz: job.authz,
        lifetime: 3600,
        clientId: `enqueue-${i}`,
        secret: newRequesterSecret(),
      });
    } catch (err) {
      failures.push(String(err));
    } finally {
      if (!shared) client.close();
      const end = performance.now();
      times.push(end - t);
      ends.push(end);
    }
  });
  for (const client of shared?.values() ?? []) client.close();
}
const allMs = performance.now() - started;
const cpu = cpuUsage(cpuBefore);
const clientCpuMs = (cpu.user + cpu.system) / 1000;

let verified = 0;
const jtis = new Set<string>();
if (job.mode === "storm") {
  const key = await readSigningKey(POOL_KEY_ID, {
    poolKeyFile: job.poolKeyFile!,
    passwordDirectory: job.passwordDirectory!,
  });
  const keys = (kid: string) => Promise.resolve(kid === POOL_KEY_ID ? key : undefined);
  const now = Math.floor(Date.now() / 1000);
  for (const token of tokens) {
    try {
      const { claims } = await verifyToken(token, keys, { issuer: job.trustDomain!, now });
      if (claims.sub === job.identity) verified++;
      else failures.push(`token for ${claims.sub}`);
      jtis.add(claims.jti);
    } catch (err) {
      failures.push(`token does not verify: ${err}`);
    }
  }
}

times.sort((a, b) => a - b);
ends.sort((a, b) => a - b);
const warmup = Math.min(job.warmup ?? 0, Math.max(0, job.count - 2));
const perSecond = warmup > 0 && ends.length === job.count
  ? (job.count - warmup) / ((ends[job.count - 1] - ends[warmup - 1]) / 1000)
  : job.count / (allMs / 1000);
const ok = job.mode === "storm" ? verified : job.count - failures.length;
const result: LoadResult = {
  count: job.count,
  ok,
  failureCount: job.count - ok,
  failures: failures.slice(0, 5),
  retries,
  hostRetries,
  retryReasons: [...retryReasons].slice(0, 3),
  allMs,
  perSecond,
  eachMs: { median: percentile(times, 0.5), p99: percentile(times, 0.99) },
  distinctJti: jtis.size,
  clientCpuMs,
};
console.log(JSON.stringify(result));
