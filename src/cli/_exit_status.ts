/**
 * The exit status of a network tool's failure (the requester's outcomes
 * have their own): by HTTP status for what a daemon answered, else by the
 * error's code, in one switch the compiler checks covers every code; and
 * `-json`'s one object on stdout for a failure.
 *
 * @module
 */
import { CondorError, DaemonError, type ErrorCode, UsageError } from "../errors.ts";
import { isNotAuthorized } from "../client/daemon_client.ts";
import { EXIT } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { jsonText } from "./_json_text.ts";

/** The exit code of an interrupted tool (130 for SIGINT, 143 for SIGTERM), if it was. */
export function interruptedExitCode(io: Io): number | undefined {
  if (!io.signal.aborted) return undefined;
  return io.signal.reason === "SIGTERM" ? EXIT.SIGTERM : EXIT.SIGINT;
}

/**
 * Exit codes of the network tools' failures (the requester's outcomes have
 * their own): 7 daemon unreachable, 8 not trusted (its certificate or
 * session, or the token it issued), 9 no usable credential or
 * refused (401/403), 130/143 interrupted (also when a failure follows the
 * interrupt, e.g. at the trust prompt), 1 anything else (unknown request,
 * request no longer pending).
 */
export function targetExitCode(err: CondorError, io: Io): number {
  const interrupted = interruptedExitCode(io);
  if (interrupted !== undefined) return interrupted;
  // What the daemon answered is read by its status: the code may be another version's.
  if (err instanceof DaemonError && err.status !== undefined) {
    return isNotAuthorized(err) ? EXIT.NOT_AUTHORIZED : EXIT.FAILURE;
  }
  return exitStatusOf(err.code);
}

/** `DAEMON_HTTP_<status>` and `HTCONDOR_ERROR_<n>`: codes that carry a number. */
type NumberedCode = `DAEMON_HTTP_${number}` | `HTCONDOR_ERROR_${number}`;

function isNumberedCode(code: ErrorCode): code is NumberedCode {
  return code.startsWith("DAEMON_HTTP_") || code.startsWith("HTCONDOR_ERROR_");
}

/**
 * The exit status of a failure with `code` that is not a daemon's answer
 * (those go by their HTTP status, see {@link targetExitCode}). Every code has
 * its case: a new code in src/errors.ts does not compile until it has one.
 */
export function exitStatusOf(code: ErrorCode): number {
  // A daemon's answer without a code of ours: nothing more to tell apart.
  if (isNumberedCode(code)) return EXIT.FAILURE;
  switch (code) {
    case "DAEMON_UNREACHABLE":
    case "DAEMON_TIMEOUT":
    case "DAEMON_NOT_TLS":
    case "DAEMON_NOT_CEDAR":
    case "DAEMON_NOT_A_DAEMON":
      return EXIT.UNREACHABLE;
    // A certificate or session not trusted, and a daemon that hands over a
    // token other than the one asked for (TokenError), is not to be trusted.
    case "DAEMON_TLS":
    case "TRUST_CERT_EXPIRED":
    case "TRUST_CHANGED":
    case "TRUST_KNOWN_HOSTS_IO":
    case "TRUST_KNOWN_HOSTS_UNSAFE":
    case "TRUST_LISTED_UNPROVEN":
    case "TRUST_NAME_MISMATCH":
    case "TRUST_PIN_MISMATCH":
    case "TRUST_REFUSED":
    case "TRUST_UNKNOWN":
    case "TRUST_UNPROVEN":
    case "TOKEN_MALFORMED":
    case "TOKEN_BAD_ALG":
    case "TOKEN_NO_KID":
    case "TOKEN_UNKNOWN_KEY":
    case "TOKEN_BAD_SIGNATURE":
    case "TOKEN_WRONG_ISSUER":
    case "TOKEN_EXPIRED":
    case "TOKEN_BAD_IDENTITY":
    case "TOKEN_BAD_ISSUER":
    case "TOKEN_BAD_LIFETIME":
    case "TOKEN_NOT_AS_REQUESTED":
      return EXIT.UNTRUSTED;
    case "DAEMON_NO_CREDENTIALS":
    // condor_tokend's own refusals of the caller (401, 403).
    case "NOT_AUTHENTICATED":
    case "AUTH_SCHEME":
    case "TOKEN_BAD_SUBJECT":
    case "TOKEN_REQUEST_DISABLED":
    case "AUTHZ_ELIMINATED":
    case "SECRET_INCORRECT":
    case "NOT_AUTHORIZED":
    case "SCOPE_RESTRICTED":
    case "LIFETIME_EXCEEDED":
    case "TOKEN_FETCH_DISABLED":
    case "AUTHZ_NOT_ALLOWED":
    case "KEY_NOT_ALLOWED":
    case "KEY_UNAVAILABLE":
      return EXIT.NOT_AUTHORIZED;
    case "USAGE":
    case "UNSUPPORTED_OPTION":
      return EXIT.USAGE;
    case "DAEMON_BAD_RESPONSE":
    case "DAEMON_ABORTED":
    case "DAEMON_NOT_FOUND":
    case "HTCONDOR_QUEUE_FULL":
    // An HTCondor daemon refusing us: with a status (401, 403) read by it
    // above; without one it hung up, which says nothing about the caller.
    case "DAEMON_AUTH_FAILED":
    case "DAEMON_REFUSED":
    case "SESSION_UNKNOWN":
    case "UNSUPPORTED":
    case "REQUEST_ALREADY_COLLECTED":
    // condor_tokend's other refusals: malformed, unknown, too late, too many, its fault.
    case "BAD_HTTP":
    case "METHOD_NOT_ALLOWED":
    case "LENGTH_REQUIRED":
    case "BODY_TOO_LARGE":
    case "URI_TOO_LONG":
    case "EXPECTATION_FAILED":
    case "HEADERS_TOO_LARGE":
    case "WRONG_SCHEME":
    case "NOT_FOUND":
    case "BAD_JSON":
    case "NO_IDENTITY":
    case "BAD_IDENTITY":
    case "NO_CLIENT_ID":
    case "BAD_CLIENT_ID":
    case "BAD_SECRET":
    case "BAD_AUTHZ":
    case "BAD_LIFETIME":
    case "BAD_WAIT":
    case "BAD_REQUEST_ID":
    case "BAD_REASON":
    case "RULE_BAD_LIFETIME":
    case "RULE_BAD_NETBLOCK":
    case "BAD_RULE_ID":
    case "BAD_KEY":
    case "BAD_DAEMON_AD":
    case "BAD_QUERY":
    case "BAD_NETBLOCK":
    case "REQUEST_UNKNOWN":
    case "RULE_UNKNOWN":
    case "WRONG_STATE":
    case "RATE_LIMITED":
    case "TOO_MANY_PENDING_FROM_PEER":
    case "TOO_MANY_REQUESTS":
    case "NO_REQUEST_ID":
    case "NO_SIGNING_KEY":
    case "STORE_UNWRITABLE":
    case "TOO_MANY_WATCHERS":
    case "INTERNAL":
    // This host's files and configuration.
    case "CONFIG_BAD_VALUE":
    case "CONFIG_DIRECTIVE":
    case "CONFIG_LOOP":
    case "CONFIG_MISSING":
    case "CONFIG_MISSING_FILE":
    case "CONFIG_SYNTAX":
    case "CONFIG_UNREADABLE":
    case "CONFIG_UNSUPPORTED":
    case "CONFIG_VALUE":
    case "NOTIFY_CA":
    case "NOTIFY_SECRET":
    case "KEY_BAD_KID":
    case "KEY_DIRECTORY_MISSING":
    case "KEY_EMPTY":
    case "KEY_INSECURE":
    case "KEY_MISSING":
    case "KEY_NOT_FILE":
    case "KEY_UNREADABLE":
    case "TOKEN_FILE_BAD_NAME":
    case "TOKEN_FILE_DENIED":
    case "TOKEN_FILE_IO":
    case "TOKEN_FILE_MISSING":
    case "TOKEN_FILE_NOT_FILE":
    case "TOKEN_FILE_SYMLINK":
    case "TOKEN_FILE_UNPROTECTED":
    case "TOKEN_FILE_UNSAFE_DIR":
    case "REQUEST_FILE_BAD":
    case "REQUEST_FILE_IO":
    case "REQUEST_FILE_MISMATCH":
    // The daemon's own (condor_tokend has its own exit statuses; see condor_tokend.ts).
    case "STORE_CLOSED":
    case "STORE_CONFIG":
    case "STORE_EMPTY":
    case "STORE_FOREIGN":
    case "STORE_LEFTOVER":
    case "STORE_LOCK":
    case "STORE_OPEN":
    case "STORE_SCHEMA":
    case "STORE_TEXT":
    case "STORE_TOO_NEW":
    case "STORE_TX_ENDED":
    case "STORE_UNAVAILABLE":
    case "ADDRESS_FILE":
    case "LISTEN_FAILED":
    case "LOG_FILE":
    case "STATE_DIRECTORY":
    case "STATE_INSECURE":
    case "TLS_BAD_PEM":
    case "TLS_CERT_INSECURE":
    case "TLS_IDENTITY":
    case "TLS_IO":
    case "TLS_KEY_INSECURE":
    case "TLS_MISSING":
    case "TLS_NO_KEY":
    case "TLS_UNREADABLE":
      return EXIT.FAILURE;
    default: {
      const unhandled: never = code;
      return unhandled;
    }
  }
}

/**
 * Runs a tool's work; with `json`, a failure is also said on stdout as one
 * JSON object, `{"outcome": "error", "exitCode", "code", "message"}` (the
 * line on stderr stays), so a script reading stdout always gets an object.
 */
export async function withJsonFailure(
  json: boolean,
  io: Io,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (json && err instanceof CondorError && !(err instanceof UsageError)) {
      const exitCode = targetExitCode(err, io);
      await io.out(
        jsonText({ outcome: "error", exitCode, code: err.code, message: err.message }) +
          "\n",
      );
    }
    throw err;
  }
}
