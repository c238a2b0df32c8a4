/**
 * Every failure a caller may handle is a {@link CondorError} with a stable
 * `code`. Tests and programs branch on codes, never on message text. Messages
 * never contain a token, a key or a client secret.
 */

/** Base error: a stable machine-readable code plus a human message. */
export class CondorError extends Error {
  /** Stable identifier of the failure, e.g. `CONFIG_SYNTAX`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A command line option, its value, or the combination of options is wrong. */
export class UsageError extends CondorError {
  constructor(message: string, options?: ErrorOptions) {
    super("USAGE", message, options);
  }
}

/**
 * An option HTCondor's tool of the same name takes, which this tool does not
 * support: said in one line, with why (exit status 2, without the usage).
 */
export class UnsupportedOptionError extends CondorError {
  constructor(option: string, why: string, options?: ErrorOptions) {
    super("UNSUPPORTED_OPTION", `Option -${option} is not supported here: ${why}`, options);
  }
}

/** An HTCondor configuration file or value cannot be used. */
export class ConfigError extends CondorError {}

/** A signing key is missing, unreadable, insecure or badly named. */
export class KeyError extends CondorError {}

/** A token is malformed, forged, expired or otherwise not acceptable. */
export class TokenError extends CondorError {}

/**
 * A private file (a token file or directory, the known-hosts file, a saved
 * request) cannot be read or written safely.
 */
export class TokenFileError extends CondorError {}

/** Talking to a daemon failed: unreachable, TLS, protocol or a refusal. */
export class DaemonError extends CondorError {
  /** HTTP status when the daemon answered; undefined for transport failures. */
  readonly status: number | undefined;

  constructor(code: string, message: string, status?: number, options?: ErrorOptions) {
    super(code, message, options);
    this.status = status;
  }
}

/** A certificate presented by a daemon is not trusted. */
export class TrustError extends CondorError {}
