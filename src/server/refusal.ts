/**
 * The daemon's refusals: a CondorError that also carries the HTTP status it
 * is answered with. Codes are the stable `error.code` of docs/protocol.md;
 * where HTCondor has a message for the same refusal, the message is
 * HTCondor's text.
 *
 * @module
 */
import type { RefusalCode } from "../api/protocol.ts";
import { CondorError } from "../errors.ts";

/** A call the daemon refuses, answered with `status` and `{ error: { code, message } }`. */
export class Refusal extends CondorError {
  declare readonly code: RefusalCode;
  /** HTTP status of the answer (4xx, or 503 when the daemon cannot take more). */
  readonly status: number;
  /** Extra response headers (Retry-After, Allow, WWW-Authenticate). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: RefusalCode,
    message: string,
    options?: ErrorOptions & { headers?: Record<string, string> },
  ) {
    super(code, message, options);
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

/** 400: the body or a parameter is malformed. */
export function badRequest(code: RefusalCode, message: string): Refusal {
  return new Refusal(400, code, message);
}

/** 401: the call needs a valid token. */
export function notAuthenticated(code: RefusalCode, message: string, cause?: unknown): Refusal {
  return new Refusal(401, code, message, {
    cause,
    headers: { "www-authenticate": 'Bearer realm="condor_tokend"' },
  });
}

/** 403: authenticated (or not), but not allowed to do this. */
export function forbidden(code: RefusalCode, message: string): Refusal {
  return new Refusal(403, code, message);
}
