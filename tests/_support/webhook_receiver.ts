/**
 * A real webhook receiver for condor_tokend's notifications: HTTPS (with a
 * certificate from the tests' CA, tests/_support/test_ca.ts) or plain HTTP
 * on 127.0.0.1 at a free port. It records every POST with the time it
 * arrived, and can be told to answer 200, to fail with 500, or never to
 * answer at all.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import { createTestCa } from "./test_ca.ts";

/** One POST as received. */
export interface Delivery {
  headers: Headers;
  /** The body exactly as received. */
  body: string;
  /** The body parsed. */
  payload: Record<string, unknown>;
  /** performance.now() when it arrived. */
  at: number;
}

/** How the receiver answers. */
export type ReceiverMode = "ok" | "fail" | "hang";

/** A running receiver. */
export interface WebhookReceiver {
  /** e.g. `https://127.0.0.1:40123/hooks/T0/B1/secretpath`. */
  url: string;
  /** The CA certificate (PEM) to trust for it (undefined over HTTP). */
  caPem: string | undefined;
  /** POSTs that got an answer of 200, in order. */
  delivered: Delivery[];
  /** Every POST that arrived (answered or not). */
  arrived: number;
  mode: ReceiverMode;
  /** The events delivered, by name. */
  events(): string[];
  close(): Promise<void>;
}

/** The path of every receiver: it stands for a webhook's secret path. */
export const RECEIVER_PATH = "/hooks/T0/B1/webhook-path-secret";

/** Starts a receiver; HTTPS unless `plain`. */
export async function startWebhookReceiver(
  options: { plain?: boolean; mode?: ReceiverMode } = {},
): Promise<WebhookReceiver> {
  const ca = options.plain ? undefined : await createTestCa("Webhook CA");
  const identity = await ca?.issue({ ips: ["127.0.0.1"] });
  const hanging = new AbortController();
  const receiver: WebhookReceiver = {
    url: "",
    caPem: ca?.certPem,
    delivered: [],
    arrived: 0,
    mode: options.mode ?? "ok",
    events: () => receiver.delivered.map((d) => String(d.payload.event)),
    close: async () => {
      hanging.abort();
      await server.shutdown();
    },
  };
  const handler = async (req: Request): Promise<Response> => {
    const body = await req.text();
    const at = performance.now();
    receiver.arrived++;
    if (receiver.mode === "hang") {
      await new Promise((resolve) => hanging.signal.addEventListener("abort", resolve));
      return new Response("gone", { status: 503 });
    }
    if (receiver.mode === "fail") return new Response("no", { status: 500 });
    receiver.delivered.push({
      headers: new Headers(req.headers),
      body,
      payload: JSON.parse(body),
      at,
    });
    return new Response("ok");
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}),
  }, handler);
  receiver.url = `${identity ? "https" : "http"}://127.0.0.1:${server.addr.port}${RECEIVER_PATH}`;
  return receiver;
}

/**
 * What a receiver does to check a POST (docs/operations.md): HMAC-SHA256,
 * keyed with the secret, of `<timestamp>.<body>`, compared with the
 * signature header; the timestamp must be recent.
 */
export function verifySignature(secret: string, delivery: Delivery, nowSeconds: number): boolean {
  const timestamp = delivery.headers.get("x-condor-tokend-timestamp") ?? "";
  const given = delivery.headers.get("x-condor-tokend-signature") ?? "";
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > 300) return false;
  const expected = "sha256=" +
    createHmac("sha256", secret).update(`${timestamp}.${delivery.body}`).digest("hex");
  return given === expected;
}
