/**
 * ClassAds as HTCondor's token commands carry them: a count, then one
 * `Name = expression` line per attribute in old-ClassAd syntax, then two
 * empty strings (the old MyType/TargetType slots). Only literal values are
 * written; received expressions that are not literals are kept as their text.
 *
 * Old-syntax string literals escape only `"` (as `\"`); every other
 * backslash is literal, so `q"x\y` travels as `"q\"x\y"`.
 *
 * @module
 */
import { DaemonError } from "../../errors.ts";
import { DAEMON_ERRORS } from "../daemon_client.ts";

/** An expression that is not a literal, kept as its text (e.g. `time()`). */
export interface Expression {
  expr: string;
}

/** A value in a ClassAd: string, integer or real, boolean, or an expression. */
export type ClassAdValue = string | number | boolean | Expression;

/** A ClassAd: attribute names keep the case they arrived in. */
export type ClassAd = Map<string, ClassAdValue>;

/** Most attributes HTCondor accepts in one security ad; also our bound for received ads. */
export const MAX_ATTRIBUTES = 10_000;

/** One `Name = value` line in old-ClassAd syntax. Throws TypeError for an unencodable value. */
export function formatAttribute(name: string, value: ClassAdValue): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new TypeError(`Cannot encode ClassAd attribute "${name}": not an attribute name`);
  }
  return `${name} = ${formatValue(name, value)}`;
}

function formatValue(name: string, value: ClassAdValue): string {
  switch (typeof value) {
    case "string":
      if (value.includes("\0") || value.endsWith("\\")) {
        // A trailing backslash would escape the closing quote in old syntax.
        throw new TypeError(
          `Cannot encode ClassAd attribute "${name}": its value has a NUL or ends in a backslash`,
        );
      }
      return `"${value.replaceAll('"', '\\"')}"`;
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`Cannot encode ClassAd attribute "${name}": not a finite number`);
      }
      return Number.isInteger(value) ? String(value) : value.toExponential();
    case "boolean":
      return value ? "true" : "false";
    default:
      return value.expr;
  }
}

/**
 * Parses one received `Name = expression` line. Literals (strings, integers,
 * reals, booleans) become values; anything else is kept as an Expression.
 * Throws DaemonError (DAEMON_BAD_RESPONSE) for a line that is no attribute.
 */
export function parseAttribute(line: string): [string, ClassAdValue] {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*([\s\S]*?)\s*$/.exec(line);
  if (!m) {
    throw new DaemonError(
      DAEMON_ERRORS.BAD_RESPONSE,
      `Cannot read the daemon's reply: "${line.slice(0, 80)}" is not a ClassAd attribute`,
    );
  }
  return [m[1], parseValue(m[2])];
}

function parseValue(text: string): ClassAdValue {
  // Only \" escapes; any other backslash is itself.
  if (/^"(?:[^"\\]|\\"|\\(?!"))*"$/s.test(text)) return text.slice(1, -1).replaceAll('\\"', '"');
  if (/^[+-]?\d+$/.test(text)) return Number(text);
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (/^true$/i.test(text)) return true;
  if (/^false$/i.test(text)) return false;
  return { expr: text };
}

/** Looks an attribute up the way ClassAds do: names are case-insensitive. */
export function lookup(ad: ClassAd, name: string): ClassAdValue | undefined {
  const exact = ad.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [key, value] of ad) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** A string attribute, or undefined when absent or of another type. */
export function stringOf(ad: ClassAd, name: string): string | undefined {
  const value = lookup(ad, name);
  return typeof value === "string" ? value : undefined;
}

/** An integer attribute, or undefined when absent or of another type. */
export function integerOf(ad: ClassAd, name: string): number | undefined {
  const value = lookup(ad, name);
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}
