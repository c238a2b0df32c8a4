/**
 * A daemon's refusal said in one clear line: the decision tools' "unknown
 * request", "no longer pending" and "not allowed", the daemon's repeated
 * "Cannot <action>: " dropped, and who the tool acted as. The daemon's own
 * words come from DaemonError.reason, never from slicing a message.
 *
 * @module
 */
import { DaemonError } from "../errors.ts";

/**
 * Rewrites a daemon's refusal of a decision on request `id` into one clear
 * line: unknown request, no longer pending, or not allowed. Keeps the code
 * and status (so the exit code stays right); other errors pass unchanged.
 */
export function decisionError(
  err: unknown,
  verb: "approve" | "deny",
  id: string,
  address: string,
  caller?: string,
): unknown {
  if (!(err instanceof DaemonError) || err.status === undefined) return err;
  const reason = err.reason;
  let message: string | undefined;
  if (err.status === 404) {
    message = `the daemon at ${address} knows no request with that ID`;
  } else if (err.status === 409) {
    message =
      `it is no longer pending (already approved or denied, expired, or withdrawn by the requester)`;
  } else if (err.status === 403 && err.code === "NOT_AUTHORIZED") {
    message = `insufficient privilege${asCaller(caller)}: only an administrator ` +
      `(ALLOW_ADMINISTRATOR) may ${verb} a request for an identity other than the caller's ` +
      `(daemon said: ${reason})`;
  } else if (err.status === 401 || err.status === 403) {
    message = `not authorized${asCaller(caller)} (daemon said: ${reason})`;
  }
  if (message === undefined) return tidyRefusal(err, caller);
  return new DaemonError(err.code, `Cannot ${verb} request ${id}: ${message}`, err.status, {
    cause: err,
  });
}

/**
 * Drops the daemon's own "Cannot <action>: " from a refusal's reason when the
 * client's message already says what could not be done, so the line reads
 * `Cannot install auto-approval rule at ADDRESS: "x" does not have ...`.
 * Anything else passes unchanged.
 */
export function tidyRefusal(err: unknown, caller?: string): unknown {
  if (!(err instanceof DaemonError) || err.status === undefined) return err;
  const reason = err.reason;
  const repeated = /^Cannot [^:]+: /.exec(reason);
  const refused = err.status === 401 || err.status === 403;
  if ((!repeated || reason === err.message) && !(refused && caller)) return err;
  const tidied = repeated && reason !== err.message ? reason.slice(repeated[0].length) : reason;
  const actingAs = refused && caller ? ` (acting as ${caller})` : "";
  return new DaemonError(
    err.code,
    err.message.slice(0, err.message.length - reason.length) + tidied + actingAs,
    err.status,
    { cause: err, reason: tidied + actingAs },
  );
}

/**
 * " (asked as WHO)" after a daemon's "nothing pending": an administrator
 * sees every request, anyone else only those for their own identity, so
 * the answer depends on who asked. Nothing when no credential was used.
 */
export function askedAs(caller: string | undefined): string {
  return caller === undefined ? "" : ` (asked as ${caller})`;
}

/** " for WHO" for a refusal, or nothing when the caller is unknown. */
function asCaller(caller: string | undefined): string {
  return caller === undefined ? "" : ` for ${caller}`;
}
