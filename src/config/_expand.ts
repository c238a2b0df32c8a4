/**
 * Expands macro references in configuration values, lazily and with
 * HTCondor's rules: `$(NAME)` is the expanded value of NAME or empty,
 * `$(NAME:default)` uses the default when NAME is unset or empty, `$ENV(VAR)`
 * reads the environment, `$(DOLLAR)` is a literal `$`. A reference loop is an
 * error naming the knobs, never a hang.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { parseMacros } from "./_macros.ts";

/** Where expansion looks up raw (unexpanded) knob values and variables. */
export interface ExpansionSource {
  /** Raw value of a knob after overrides and defaults; undefined if unset. */
  raw(name: string): string | undefined;
  /** An environment variable, for `$ENV(VAR)`. */
  envVar(name: string): string | undefined;
}

/** Deeper nesting than this is a runaway, not a configuration. */
const MAX_DEPTH = 400;

/** Fully expands the value of knob `name`; undefined when the knob is unset. */
export function expandKnob(source: ExpansionSource, name: string): string | undefined {
  const raw = source.raw(name);
  return raw === undefined ? undefined : new Expansion(source).knob(name, raw);
}

/** Fully expands free text such as an include path or an `if` condition. */
export function expandText(source: ExpansionSource, text: string): string {
  return new Expansion(source).text(text);
}

/**
 * Replaces references to knob `self` with its previous raw value, leaving
 * every other reference for later: this is how `X = $(X) more` appends to
 * the earlier X instead of referring to itself.
 */
export function expandSelfReferences(
  value: string,
  self: string,
  previous: string | undefined,
): string {
  const key = self.toUpperCase();
  let result = "";
  for (const piece of parseMacros(value)) {
    if (piece.kind === "text") result += piece.text;
    else if (piece.kind !== "ref" || piece.name.toUpperCase() !== key) result += piece.source;
    else if (previous !== undefined && previous !== "") result += previous;
    else if (piece.fallback !== undefined) {
      result += expandSelfReferences(piece.fallback, self, previous);
    }
  }
  return result;
}

/** One top-level expansion: the chain being expanded and what is done. */
class Expansion {
  readonly #source: ExpansionSource;
  /** Upper-cased names being expanded, outermost first. */
  readonly #chain: string[] = [];
  /** A knob's expansion does not depend on who asks, so each is done once. */
  readonly #done = new Map<string, string>();

  constructor(source: ExpansionSource) {
    this.#source = source;
  }

  knob(name: string, raw: string): string {
    const key = name.toUpperCase();
    const done = this.#done.get(key);
    if (done !== undefined) return done;
    const loopStart = this.#chain.indexOf(key);
    if (loopStart >= 0) {
      const loop = [...this.#chain.slice(loopStart), key].map((knob) => `"${knob}"`);
      throw new ConfigError(
        "CONFIG_LOOP",
        `Cannot expand configuration: reference loop ${loop.join(" -> ")}`,
      );
    }
    if (this.#chain.length >= MAX_DEPTH) {
      throw new ConfigError(
        "CONFIG_LOOP",
        `Cannot expand configuration: references nest more than ${MAX_DEPTH} deep below "${
          this.#chain[0]
        }"`,
      );
    }
    this.#chain.push(key);
    const value = this.text(raw);
    this.#chain.pop();
    this.#done.set(key, value);
    return value;
  }

  text(text: string): string {
    let result = "";
    for (const piece of parseMacros(text)) {
      switch (piece.kind) {
        case "text":
          result += piece.text;
          break;
        case "ref":
          result += this.#reference(piece.name, piece.fallback);
          break;
        case "env": {
          // The variable's value is taken literally: expanding it could
          // loop through the environment, where no knob chain sees it.
          const value = this.#source.envVar(piece.name);
          if (value !== undefined) result += value;
          else if (piece.fallback !== undefined) result += this.text(piece.fallback);
          else result += "UNDEFINED"; // HTCondor's word for an unset variable
          break;
        }
        case "function":
          throw new ConfigError(
            "CONFIG_UNSUPPORTED",
            `Cannot expand configuration: ${piece.source} uses $${piece.name}(), which this reader does not support${this.#where()}`,
          );
      }
    }
    return result;
  }

  #reference(name: string, fallback: string | undefined): string {
    if (name.toUpperCase() === "DOLLAR") return "$";
    const raw = this.#source.raw(name);
    if (raw === undefined || raw === "") return fallback === undefined ? "" : this.text(fallback);
    return this.knob(name, raw);
  }

  #where(): string {
    return this.#chain.length === 0 ? "" : ` (in "${this.#chain[this.#chain.length - 1]}")`;
  }
}
