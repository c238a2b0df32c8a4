/**
 * The requesters of scripts/bench/storm.ts, in a process of their own: N
 * concurrent token requests, each through the requester's own code path
 * (src/client/request_flow.ts over src/client/https_client.ts, as
 * condor_token_request runs it) with its own TLS connection, all started at
 * once. Prints one JSON line: when each requester held its token, and how
 * many tokens verified against the POOL key.
 *
 *     deno run --allow-net --allow-read _storm_client.ts JOB.json
 *
 * JOB.json: { baseUrl, caFile, poolKeyFile, passwordDirectory, trustDomain, requesters }
 */
import { httpsClient, TrustSessions } from "../../src/client/connect.ts";
import { newRequesterSecret, requestToken } from "../../src/client/request_flow.ts";
import { verifyToken } from "../../src/token/idtoken.ts";
import { POOL_KEY_ID, readSigningKey } from "../../src/token/signing_key.ts";

interface Job {
  baseUrl: string;
  caFile: string;
  poolKeyFile: string;
  passwordDirectory: string;
  trustDomain: string;
  requesters: number;
}

const job: Job = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const caCert = await Deno.readTextFile(job.caFile);
const signal = new AbortController().signal;

async function one(i: number, started: number) {
  const client = httpsClient(
    job.baseUrl,
    new TrustSessions({ caPem: caCert, pins: [], knownHostsFile: undefined, now: Date.now }),
    { timeoutMs: 60_000 },
  );
  try {
    const outcome = await requestToken({
      client,
      request: {
        identity: `condor@${job.trustDomain}`,
        authz: ["ADVERTISE_STARTD", "ADVERTISE_MASTER"],
        lifetime: 86_400,
        clientId: `storm-${i}`,
      },
      secret: newRequesterSecret(),
      deadline: Date.now() + 120_000,
      cancelOnTimeout: false,
      signal,
    });
    const token = outcome.outcome === "approved" ? outcome.token : undefined;
    return { ms: performance.now() - started, token, outcome: outcome.outcome };
  } catch (err) {
    return { ms: performance.now() - started, token: undefined, outcome: String(err) };
  } finally {
    client.close();
  }
}

const started = performance.now();
const results = await Promise.all(
  Array.from({ length: job.requesters }, (_, i) => one(i, started)),
);
const allMs = performance.now() - started;

const key = await readSigningKey(POOL_KEY_ID, {
  poolKeyFile: job.poolKeyFile,
  passwordDirectory: job.passwordDirectory,
});
const keys = (kid: string) => Promise.resolve(kid === POOL_KEY_ID ? key : undefined);
const now = Math.floor(Date.now() / 1000);
const jtis = new Set<string>();
let valid = 0;
for (const r of results) {
  if (r.token === undefined) continue;
  const verified = await verifyToken(r.token, keys, { issuer: job.trustDomain, now });
  if (verified.claims.sub === `condor@${job.trustDomain}`) valid++;
  jtis.add(verified.claims.jti);
}
const failures = results.filter((r) => r.token === undefined).map((r) => r.outcome);
console.log(JSON.stringify({
  requesters: job.requesters,
  allMs,
  perRequesterMs: results.map((r) => r.ms),
  valid,
  distinctJti: jtis.size,
  failures: failures.slice(0, 5),
  failureCount: failures.length,
}));
