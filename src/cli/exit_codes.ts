/**
 * Exit codes of every tool. 0 is success; HTCondor's tools use 1 for every
 * failure, and so do ours except where a script benefits from telling
 * outcomes apart. Documented in README.md.
 */
export const EXIT = {
  /** The tool did what was asked (for a requester: a token was delivered). */
  OK: 0,
  /** Any failure not listed below. */
  FAILURE: 1,
  /** Bad command line: unknown option, missing or bad value. */
  USAGE: 2,
  /** The administrator denied the request. */
  DENIED: 3,
  /** The request expired at the daemon before anyone approved it. */
  EXPIRED: 4,
  /** The request was cancelled at the daemon. */
  CANCELLED: 5,
  /** `-timeout` (or the one-hour default) passed before a decision. */
  TIMED_OUT: 6,
  /** The daemon could not be reached (after retries). */
  UNREACHABLE: 7,
  /** The daemon's certificate is not trusted (unknown or changed). */
  UNTRUSTED: 8,
  /** The daemon refused the caller's credentials or authorization. */
  NOT_AUTHORIZED: 9,
  /** Interrupted by SIGINT (128 + 2). */
  SIGINT: 130,
  /** Interrupted by SIGTERM (128 + 15). */
  SIGTERM: 143,
} as const;
