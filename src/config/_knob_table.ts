/**
 * The knob table: raw values from configuration files layered between
 * HTCondor's detected values, `_CONDOR_<NAME>` environment overrides and the
 * built-in defaults. Names are case-insensitive.
 *
 * @module
 */

import type { ExpansionSource } from "./_expand.ts";

/** Read-only access to environment variables, one name at a time. */
export interface EnvLookup {
  get(name: string): string | undefined;
}

/** Raw knob values with HTCondor's precedence; see {@link KnobTable.raw}. */
export class KnobTable implements ExpansionSource {
  readonly #env: EnvLookup;
  readonly #detected: ReadonlyMap<string, string>;
  readonly #defaults: ReadonlyMap<string, string>;
  readonly #assigned = new Map<string, string>();

  /** Both maps are keyed by upper-case knob name. */
  constructor(
    env: EnvLookup,
    detected: ReadonlyMap<string, string>,
    defaults: ReadonlyMap<string, string>,
  ) {
    this.#env = env;
    this.#detected = detected;
    this.#defaults = defaults;
  }

  /**
   * The raw value of a knob: a detected value (HTCondor re-inserts those
   * after reading everything, so nothing overrides them), else the
   * environment override, else the last assignment, else the default.
   */
  raw(name: string): string | undefined {
    const key = name.toUpperCase();
    return this.#detected.get(key) ?? envOverride(this.#env, name) ?? this.#assigned.get(key) ??
      this.#defaults.get(key);
  }

  /**
   * The value an assignment being read sees for its own knob (for
   * `X = $(X) more` and `X += more`): the configuration read so far, else
   * the default. Environment overrides apply only on top of the result.
   */
  previous(name: string): string | undefined {
    const key = name.toUpperCase();
    return this.#assigned.get(key) ?? this.#detected.get(key) ?? this.#defaults.get(key);
  }

  /** Whether the knob is set by the configuration or the environment, not only by a default. */
  isSet(name: string): boolean {
    const key = name.toUpperCase();
    return this.#detected.has(key) || envOverride(this.#env, name) !== undefined ||
      this.#assigned.has(key);
  }

  /** Records an assignment; a later one replaces an earlier one. */
  assign(name: string, value: string): void {
    this.#assigned.set(name.toUpperCase(), value);
  }

  /** An environment variable, for `$ENV(VAR)`. */
  envVar(name: string): string | undefined {
    return this.#env.get(name);
  }
}

/**
 * The `_CONDOR_<NAME>` (or `_condor_<NAME>`) override of a knob. HTCondor
 * matches these case-insensitively by walking the whole environment; we may
 * only ask for names, so we ask for the usual spellings.
 */
export function envOverride(env: EnvLookup, name: string): string | undefined {
  const spellings = new Set([name.toUpperCase(), name, name.toLowerCase()]);
  for (const spelling of spellings) {
    for (const prefix of ["_CONDOR_", "_condor_"]) {
      const value = env.get(prefix + spelling);
      if (value !== undefined) return value;
    }
  }
  return undefined;
}
