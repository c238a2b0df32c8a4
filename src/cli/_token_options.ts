/**
 * The token options the tools that produce a token share (condor_token_create,
 * condor_token_fetch, condor_token_request): `-authz`, `-lifetime`, and where
 * the token goes (`-token NAME` or `-file PATH`), checked the same way.
 */
import { CondorError, UsageError } from "../errors.ts";
import {
  type Authorization,
  AUTHORIZATION_LEVELS,
  parseAuthorization,
  uniqueAuthz,
} from "../token/authz.ts";
import { assertPlainTokenName } from "../token/token_file.ts";
import { type ParsedOptions, parseSeconds, single } from "./_options.ts";

/** Runs a validation, reporting its failure as a usage error (exit 2, with usage). */
export function asUsageError(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof CondorError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** Validates -authz values against the known authorization levels; duplicates go. */
export function parseAuthzList(values: readonly string[]): Authorization[] {
  return uniqueAuthz(values.map((value) => {
    const level = parseAuthorization(value);
    if (!level) {
      throw new UsageError(
        `Invalid value for -authz: "${value}" is not an authorization level (${
          AUTHORIZATION_LEVELS.join(", ")
        })`,
      );
    }
    return level;
  }));
}

/** `-lifetime` in seconds, at least 1 when given. Throws UsageError. */
export function parseLifetime(parsed: ParsedOptions): number | undefined {
  const text = single(parsed, "lifetime");
  const lifetime = text === undefined ? undefined : parseSeconds(text, "lifetime");
  if (lifetime === 0) {
    throw new UsageError(`Invalid value for -lifetime: "0"; a token must live at least 1 second`);
  }
  return lifetime;
}

/**
 * `-token NAME` (a plain file name in the token directory) or `-file PATH`
 * (not empty), not both. Throws UsageError.
 */
export function parseDestination(
  parsed: ParsedOptions,
): { token: string | undefined; file: string | undefined } {
  const token = single(parsed, "token");
  const file = single(parsed, "file");
  if (token !== undefined && file !== undefined) {
    throw new UsageError("Options -token and -file cannot be used together");
  }
  if (file === "") throw new UsageError("Invalid value for -file: it is empty");
  if (token !== undefined) asUsageError(() => assertPlainTokenName(token));
  return { token, file };
}
