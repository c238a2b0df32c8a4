/**
 * A hostile "condor_tokend" for attacks on the administrator's tools: real
 * HTTPS on 127.0.0.1 with its own certificate (the tool is given its
 * fingerprint, so it is trusted: a compromised daemon), answering each call
 * with whatever the test chooses and counting the calls it gets.
 *
 * @module
 */
import { createTestCa } from "../_support/test_ca.ts";

/** What the hostile daemon answers: a JSON body (200), or undefined for a 404. */
export type HostileAnswer = (url: URL, method: string) => unknown;

/** The server and what reached it. */
export interface HostileHttps {
  url: string;
  fingerprint: string;
  /** Paths (with query) asked, in order. */
  calls: string[];
  close(): Promise<void>;
}

/** Starts the server; `answer` picks each reply. */
export async function startHostileHttps(answer: HostileAnswer): Promise<HostileHttps> {
  const ca = await createTestCa("Hostile CA");
  const identity = await ca.issue({ ips: ["127.0.0.1"] });
  const calls: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: identity.certPem,
    key: identity.keyPem,
    onListen: () => {},
  }, (request) => {
    const url = new URL(request.url);
    calls.push(url.pathname + url.search);
    if (url.pathname === "/v1/info") {
      return Response.json({
        version: "hostile",
        trustDomain: "tokend-test.example.org",
        issuerKeys: ["POOL"],
        name: "hostile",
        type: "COLLECTOR",
      });
    }
    const body = answer(url, request.method);
    if (body === undefined) {
      return Response.json({ error: { code: "NOT_FOUND", message: "no" } }, { status: 404 });
    }
    return Response.json(body);
  });
  return {
    url: `https://127.0.0.1:${server.addr.port}`,
    fingerprint: identity.fingerprint,
    calls,
    close: async () => {
      await server.shutdown();
    },
  };
}

/** Characters a terminal obeys or hides: C1 CSI, bidi override, line separator, NEL. */
export const HOSTILE_TEXT = "ev\u009b2J\u202eil\u2028x\u0085y";

/** A pending request whose strings carry {@link HOSTILE_TEXT}. */
export function hostileRequest(requestId: string): Record<string, unknown> {
  return {
    requestId,
    requestedIdentity: `alice${HOSTILE_TEXT}@tokend-test.example.org`,
    authenticatedIdentity: "",
    peerLocation: "127.0.0.1",
    clientId: `host${HOSTILE_TEXT}`,
    authorizations: ["READ"],
    lifetime: null,
    state: "pending",
    requestedAt: Math.floor(Date.now() / 1000),
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
  };
}
