/**
 * Every failure a caller may handle is a {@link CondorError} with a stable
 * `code`. Tests and programs branch on codes, never on message text. Messages
 * never contain a token, a key or a client secret.
 *
 * The codes are a closed set, {@link ErrorCode}, and each subclass narrows
 * `code` to its own part of it (as jose's JOSEError subclasses do), so a
 * comparison with a code that does not exist, or a new code that no exit
 * status handles (src/cli/_exit_status.ts), does not compile. The codes
 * condor_tokend answers with on the wire are `RefusalCode` in
 * src/api/protocol.ts.
 *
 * @module
 */
import type { RefusalCode } from "./api/protocol.ts";

/** Codes of {@link UsageError} and {@link UnsupportedOptionError}: the command line. */
export type UsageErrorCode = "USAGE" | "UNSUPPORTED_OPTION";

/** Codes of {@link ConfigError}. */
export type ConfigErrorCode =
  | "CONFIG_BAD_VALUE"
  | "CONFIG_DIRECTIVE"
  | "CONFIG_LOOP"
  | "CONFIG_MISSING"
  | "CONFIG_MISSING_FILE"
  | "CONFIG_SYNTAX"
  | "CONFIG_UNREADABLE"
  | "CONFIG_UNSUPPORTED"
  | "CONFIG_VALUE"
  | "NOTIFY_CA"
  | "NOTIFY_SECRET";

/** Codes of {@link KeyError}. */
export type KeyErrorCode =
  | "KEY_BAD_KID"
  | "KEY_DIRECTORY_MISSING"
  | "KEY_EMPTY"
  | "KEY_INSECURE"
  | "KEY_MISSING"
  | "KEY_NOT_FILE"
  | "KEY_UNREADABLE";

/**
 * Codes of {@link TokenError}. Those a verifier gives (the first seven) are
 * also what condor_tokend answers a bad bearer token with.
 */
export type TokenErrorCode =
  | "TOKEN_MALFORMED"
  | "TOKEN_BAD_ALG"
  | "TOKEN_NO_KID"
  | "TOKEN_UNKNOWN_KEY"
  | "TOKEN_BAD_SIGNATURE"
  | "TOKEN_WRONG_ISSUER"
  | "TOKEN_EXPIRED"
  | "TOKEN_BAD_IDENTITY"
  | "TOKEN_BAD_ISSUER"
  | "TOKEN_BAD_LIFETIME"
  | "TOKEN_NOT_AS_REQUESTED";

/** Codes of {@link TokenFileError}. */
export type TokenFileErrorCode =
  | "TOKEN_FILE_BAD_NAME"
  | "TOKEN_FILE_DENIED"
  | "TOKEN_FILE_IO"
  | "TOKEN_FILE_MISSING"
  | "TOKEN_FILE_NOT_FILE"
  | "TOKEN_FILE_SYMLINK"
  | "TOKEN_FILE_UNPROTECTED"
  | "TOKEN_FILE_UNSAFE_DIR";

/** Codes of {@link TrustError}. */
export type TrustErrorCode =
  | "TRUST_CERT_EXPIRED"
  | "TRUST_CHANGED"
  | "TRUST_KNOWN_HOSTS_IO"
  | "TRUST_KNOWN_HOSTS_UNSAFE"
  | "TRUST_LISTED_UNPROVEN"
  | "TRUST_NAME_MISMATCH"
  | "TRUST_PIN_MISMATCH"
  | "TRUST_REFUSED"
  | "TRUST_UNKNOWN"
  | "TRUST_UNPROVEN";

/**
 * Codes of a {@link DaemonError} that happens before or instead of a
 * daemon's answer (src/client/daemon_client.ts names them DAEMON_ERRORS).
 */
export type DaemonTransportCode =
  | "DAEMON_UNREACHABLE"
  | "DAEMON_TIMEOUT"
  | "DAEMON_NOT_TLS"
  | "DAEMON_TLS"
  | "DAEMON_NOT_CEDAR"
  | "DAEMON_NOT_A_DAEMON"
  | "DAEMON_BAD_RESPONSE"
  | "DAEMON_ABORTED"
  | "DAEMON_NOT_FOUND"
  | "DAEMON_NO_CREDENTIALS";

/**
 * Codes of a {@link DaemonError} the daemon's answer decided: condor_tokend's
 * own refusal codes; `DAEMON_HTTP_<status>` when its answer carries none
 * (a proxy, another version); HTCondor's own error numbers
 * (`HTCONDOR_ERROR_<n>`) and refusals of its protocol; and what a client
 * concludes from an answer (a token collected already, a command HTCondor
 * daemons do not have).
 */
export type DaemonAnswerCode =
  | RefusalCode
  | `DAEMON_HTTP_${number}`
  | `HTCONDOR_ERROR_${number}`
  | "HTCONDOR_QUEUE_FULL"
  | "DAEMON_AUTH_FAILED"
  | "DAEMON_REFUSED"
  | "SESSION_UNKNOWN"
  | "UNSUPPORTED"
  | "REQUEST_ALREADY_COLLECTED";

/** Codes of {@link DaemonError}. */
export type DaemonErrorCode = DaemonTransportCode | DaemonAnswerCode;

/** Codes of the daemon's store (StoreError in src/server/store/store.ts). */
export type StoreErrorCode =
  | "STORE_CLOSED"
  | "STORE_CONFIG"
  | "STORE_EMPTY"
  | "STORE_FOREIGN"
  | "STORE_LEFTOVER"
  | "STORE_LOCK"
  | "STORE_OPEN"
  | "STORE_SCHEMA"
  | "STORE_TEXT"
  | "STORE_TOO_NEW"
  | "STORE_TX_ENDED"
  | "STORE_UNAVAILABLE";

/** Codes of a plain {@link CondorError}: the daemon's files and its listening socket. */
export type DaemonFileErrorCode =
  | "ADDRESS_FILE"
  | "LISTEN_FAILED"
  | "LOG_FILE"
  | "STATE_DIRECTORY"
  | "STATE_INSECURE"
  | "TLS_BAD_PEM"
  | "TLS_CERT_INSECURE"
  | "TLS_IDENTITY"
  | "TLS_IO"
  | "TLS_KEY_INSECURE"
  | "TLS_MISSING"
  | "TLS_NO_KEY"
  | "TLS_UNREADABLE";

/** Codes of a plain {@link CondorError}: the requester's saved request (-state). */
export type RequestFileErrorCode = "REQUEST_FILE_BAD" | "REQUEST_FILE_IO" | "REQUEST_FILE_MISMATCH";

/** Every code a {@link CondorError} may carry. */
export type ErrorCode =
  | UsageErrorCode
  | ConfigErrorCode
  | KeyErrorCode
  | TokenErrorCode
  | TokenFileErrorCode
  | TrustErrorCode
  | DaemonErrorCode
  | StoreErrorCode
  | DaemonFileErrorCode
  | RequestFileErrorCode;

/** Base error: a stable machine-readable code plus a human message. */
export class CondorError extends Error {
  /** Stable identifier of the failure, e.g. `CONFIG_SYNTAX`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A command line option, its value, or the combination of options is wrong. */
export class UsageError extends CondorError {
  declare readonly code: "USAGE";

  constructor(message: string, options?: ErrorOptions) {
    super("USAGE", message, options);
  }
}

/**
 * An option HTCondor's tool of the same name takes, which this tool does not
 * support: said in one line, with why (exit status 2, without the usage).
 */
export class UnsupportedOptionError extends CondorError {
  declare readonly code: "UNSUPPORTED_OPTION";

  constructor(option: string, why: string, options?: ErrorOptions) {
    super("UNSUPPORTED_OPTION", `Option -${option} is not supported here: ${why}`, options);
  }
}

/** An HTCondor configuration file or value cannot be used. */
export class ConfigError extends CondorError {
  declare readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A signing key is missing, unreadable, insecure or badly named. */
export class KeyError extends CondorError {
  declare readonly code: KeyErrorCode;

  constructor(code: KeyErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A token is malformed, forged, expired or otherwise not acceptable. */
export class TokenError extends CondorError {
  declare readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A private file (a token file or directory, the known-hosts file, a saved
 * request) cannot be read or written safely.
 */
export class TokenFileError extends CondorError {
  declare readonly code: TokenFileErrorCode;

  constructor(code: TokenFileErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** Talking to a daemon failed: unreachable, TLS, protocol or a refusal. */
export class DaemonError extends CondorError {
  declare readonly code: DaemonErrorCode;
  /** HTTP status when the daemon answered; undefined for transport failures. */
  readonly status: number | undefined;
  /**
   * What went wrong in the words of whoever said it, without the client's
   * "Cannot <action> at <address>: ": the daemon's own message for a
   * refusal, the network's for a connection that failed. The whole message
   * when nothing narrower was given.
   */
  readonly reason: string;

  constructor(
    code: DaemonErrorCode,
    message: string,
    status?: number,
    options?: ErrorOptions & { reason?: string },
  ) {
    super(code, message, options);
    this.status = status;
    this.reason = options?.reason ?? message;
  }
}

/** A certificate presented by a daemon is not trusted. */
export class TrustError extends CondorError {
  declare readonly code: TrustErrorCode;

  constructor(code: TrustErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
