/**
 * Reading and checking what a caller sent: the JSON body (bounded by
 * MAX_BODY_BYTES whether or not its length was declared) and each field the
 * API takes, refused with a 400 and a stable code rather than cleaned up,
 * so that what is stored is exactly what was sent. Used by handler.ts.
 *
 * @module
 */
import { MAX_REASON_LENGTH, MAX_WAIT_SECONDS, type RefusalCode } from "../api/protocol.ts";
import { hiddenCharacter, hiddenCharacterReason } from "../api/hidden_character.ts";
import { type Authorization, parseAuthorization, uniqueAuthz } from "../token/authz.ts";
import { assertPlainKeyId } from "../token/signing_key.ts";
import { badRequest, Refusal } from "./refusal.ts";

/** Largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Longest lifetime (seconds) a request may ask for: ten years. */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 86_400;

/** Reads a JSON object body of at most MAX_BODY_BYTES; an empty body is `{}` when `optional`. */
export async function readJson(req: Request, optional = false): Promise<Record<string, unknown>> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  let bytes: Uint8Array;
  try {
    if (declared !== null && /^\d+$/.test(declared)) {
      // The HTTP layer delivers exactly the declared length (or fails the
      // call), so a declared body within the limit is read in one go.
      bytes = new Uint8Array(await req.arrayBuffer());
    } else {
      bytes = await readLimited(req);
    }
  } catch (err) {
    // The client broke off or garbled the body (bad chunking, a reset, a
    // lying length): its failure, not ours, and no reason to log a fault.
    if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Http) {
      throw badRequest("BAD_JSON", "Cannot parse request body: it did not arrive in full");
    }
    throw err;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw badRequest("BAD_JSON", "Cannot parse request body: it is not UTF-8");
  }
  if (text.trim() === "" && optional) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest("BAD_JSON", "Cannot parse request body: it is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("BAD_JSON", "Cannot parse request body: it must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Reads a body of undeclared length, refusing it as soon as it passes MAX_BODY_BYTES. */
async function readLimited(req: Request): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > MAX_BODY_BYTES) {
          await reader.cancel().catch(() => {});
          throw tooLarge();
        }
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function tooLarge(): Refusal {
  return new Refusal(
    413,
    "BODY_TOO_LARGE",
    `Cannot accept request body: it is larger than ${MAX_BODY_BYTES} bytes`,
  );
}

export function identityField(body: Record<string, unknown>): string {
  const value = body.identity;
  if (value === undefined || value === null || value === "") {
    throw badRequest("NO_IDENTITY", "No identity request.");
  }
  visibleText(value, "BAD_IDENTITY", "Cannot enqueue token request: identity");
  if (typeof value !== "string" || value.length > 256 || !/^[^\s@,]+@[^\s@,]+$/.test(value)) {
    throw badRequest(
      "BAD_IDENTITY",
      `Cannot enqueue token request: identity ${shown(value)} is not of the form user@domain`,
    );
  }
  return value;
}

/**
 * A value from a request body, quoted and cut short for a message. Never
 * String(value): a body like {"toString": 1} makes that throw.
 */
function shown(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? typeof value;
  return JSON.stringify(text.slice(0, 64));
}

export function clientIdField(body: Record<string, unknown>): string {
  const value = body.clientId;
  if (typeof value !== "string" || value === "") {
    throw badRequest("NO_CLIENT_ID", "No client ID provided.");
  }
  visibleText(value, "BAD_CLIENT_ID", "Cannot enqueue token request: client id");
  if (value.length > 256) {
    throw badRequest(
      "BAD_CLIENT_ID",
      "Cannot enqueue token request: client id is longer than 256 characters",
    );
  }
  return value;
}

/**
 * Refuses a string that would not show as itself (see hiddenCharacter):
 * a 400 with `code` saying "<what> contains U+XXXX, ...". Other values pass
 * to the field's own checks.
 */
export function visibleText(value: unknown, code: RefusalCode, what: string): void {
  if (typeof value !== "string") return;
  const hidden = hiddenCharacter(value);
  if (hidden !== undefined) throw badRequest(code, `${what} ${hiddenCharacterReason(hidden)}`);
}

export function secretField(body: Record<string, unknown>): string {
  const value = body.secret;
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]{32,512}$/.test(value)) {
    throw badRequest(
      "BAD_SECRET",
      "Cannot use token request: the requester secret must be 32 to 512 base64url characters",
    );
  }
  return value;
}

export function authzField(value: unknown, name: string): Authorization[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > 32) {
    throw badRequest(
      "BAD_AUTHZ",
      `Cannot use "${name}": it must be a list of authorization levels`,
    );
  }
  return uniqueAuthz(value.map((item) => {
    const level = typeof item === "string" ? parseAuthorization(item) : undefined;
    if (!level) {
      throw badRequest(
        "BAD_AUTHZ",
        `Cannot use "${name}": ${shown(item)} is not an authorization level`,
      );
    }
    return level;
  }));
}

export function lifetimeField(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (
    typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 ||
    value > MAX_LIFETIME_SECONDS
  ) {
    throw badRequest(
      "BAD_LIFETIME",
      `Cannot use "lifetime": it must be null or a whole number of seconds from 0 to ${MAX_LIFETIME_SECONDS}`,
    );
  }
  return value;
}

export function waitField(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw badRequest(
      "BAD_WAIT",
      `Cannot use "waitSeconds": it must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`,
    );
  }
  return Math.min(value, MAX_WAIT_SECONDS);
}

export function reasonField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length > MAX_REASON_LENGTH) {
    throw badRequest(
      "BAD_REASON",
      `Cannot deny token request: reason must be text of at most ${MAX_REASON_LENGTH} characters`,
    );
  }
  // Refused rather than cleaned: the requester is shown exactly what was stored.
  visibleText(value, "BAD_REASON", "Cannot deny token request: reason");
  return value;
}

/** The signing key a token fetch asks for: a plain key name, or undefined for the default. */
export function keyField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw badRequest("BAD_KEY", "Cannot fetch token: key must be a string");
  }
  visibleText(value, "BAD_KEY", "Cannot fetch token: key");
  try {
    assertPlainKeyId(value);
  } catch {
    throw badRequest("BAD_KEY", "Cannot fetch token: key must be a plain key name");
  }
  return value;
}
