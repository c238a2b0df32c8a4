/**
 * An impostor: real HTTPS on 127.0.0.1 whose certificate chains to a CA
 * the test writes to a file (to hand to AUTH_SSL_CLIENT_CAFILE or
 * DENO_CERT), so a trusted authority vouches for it while any pin on the
 * genuine server's fingerprint does not. It records one line per request,
 * as the test chooses, and answers every request with the same JSON body.
 *
 * @module
 */
import { createTestCa } from "./test_ca.ts";

/** The running impostor. */
export interface ImpostorHttps {
  port: number;
  /** PEM file of the CA that signed the impostor's certificate. */
  caFile: string;
  /** One entry per request that reached the impostor, made by `record`. */
  seen: string[];
  close(): Promise<void>;
}

/** Starts the impostor, writing its CA to `caFile`. */
export async function startImpostorHttps(options: {
  caFile: string;
  record: (req: Request) => string | Promise<string>;
  answer: unknown;
}): Promise<ImpostorHttps> {
  const ca = await createTestCa("Impostor CA");
  const identity = await ca.issue({ ips: ["127.0.0.1"], dns: ["localhost"] });
  await Deno.writeTextFile(options.caFile, ca.certPem);
  const seen: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: identity.certPem,
    key: identity.keyPem,
    onListen: () => {},
  }, async (req) => {
    seen.push(await options.record(req));
    return Response.json(options.answer);
  });
  return {
    port: server.addr.port,
    caFile: options.caFile,
    seen,
    close: () => server.shutdown(),
  };
}
