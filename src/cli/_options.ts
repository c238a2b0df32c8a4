/**
 * HTCondor-style command line options: single-dash words (double dash works
 * too), each accepted by any prefix at least `min` characters long, tried in
 * declaration order, as HTCondor's tools do; a `colon` option also takes
 * `-name:TEXT` (HTCondor's `-debug:D_SECURITY,D_FULLDEBUG`).
 */
import { UnsupportedOptionError, UsageError } from "../errors.ts";

/** One option a tool accepts. */
export interface OptionSpec {
  /** Full name without dashes, e.g. `identity`. */
  name: string;
  /** Shortest accepted prefix length (HTCondor's `is_dash_arg_prefix` minimum). */
  min: number;
  /** Whether the option takes a value (the next argument). */
  value: boolean;
  /** Whether the option may be given more than once (values accumulate). */
  repeat?: boolean;
  /** Accept only the full name. */
  exact?: boolean;
  /**
   * A flag that also takes `-PREFIX:TEXT`, as HTCondor's `-debug:CATEGORIES`
   * does; TEXT (may be empty) is its parsed value, `[]` without a colon.
   */
  colon?: boolean;
  /**
   * HTCondor's tool takes this option but this one does not support it:
   * why, for the one line that refuses it.
   */
  unsupported?: string;
}

/** Parsed options: values by full option name; flags map to `[]` (a colon flag to `[TEXT]`). */
export type ParsedOptions = Map<string, string[]>;

/**
 * Parses `args` against `specs`. Throws UsageError naming the offending
 * argument, or UnsupportedOptionError for an option HTCondor's tool takes
 * but this one does not.
 */
export function parseOptions(args: readonly string[], specs: readonly OptionSpec[]): ParsedOptions {
  const parsed: ParsedOptions = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const spec = matchOption(arg, specs);
    if (!spec) throw new UsageError(`Invalid command line argument: ${arg}`);
    if (spec.unsupported !== undefined) {
      throw new UnsupportedOptionError(spec.name, spec.unsupported);
    }
    const seen = parsed.get(spec.name);
    if (seen && !spec.repeat) {
      throw new UsageError(`Option -${spec.name} given more than once`);
    }
    if (!spec.value) {
      const colon = spec.colon ? arg.indexOf(":") : -1;
      parsed.set(spec.name, colon < 0 ? [] : [arg.slice(colon + 1)]);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new UsageError(`Option -${spec.name} requires a value`);
    i++;
    parsed.set(spec.name, [...(seen ?? []), value]);
  }
  return parsed;
}

/** Returns the spec `arg` selects, or undefined. */
export function matchOption(arg: string, specs: readonly OptionSpec[]): OptionSpec | undefined {
  const whole = arg.startsWith("--")
    ? arg.slice(2)
    : arg.startsWith("-")
    ? arg.slice(1)
    : undefined;
  if (whole === undefined || whole === "") return undefined;
  return specs.find((spec) => {
    const word = spec.colon ? whole.replace(/:.*$/s, "") : whole;
    return spec.exact ? word === spec.name : word.length >= spec.min && spec.name.startsWith(word);
  });
}

/** The single value of option `name`, or undefined. */
export function single(parsed: ParsedOptions, name: string): string | undefined {
  return parsed.get(name)?.[0];
}

/**
 * Parses a lifetime in seconds: a non-negative whole number. Throws a
 * UsageError naming the option and the value otherwise.
 */
export function parseSeconds(value: string, option: string): number {
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(
      `Invalid value for -${option}: "${value}" is not a whole number of seconds (0 or more)`,
    );
  }
  return Number(value);
}
