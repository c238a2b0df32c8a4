/**
 * Finds the macro references in a configuration value, following the
 * character rules of HTCondor's scanner: `$(NAME)`, `$(NAME:default)`,
 * `$ENV(VAR)` and the `$FUNCTION(...)` forms. `$$(...)` belongs to job ads
 * and is left as text, as is anything that does not scan as a macro.
 *
 * @module
 */

/** A piece of a value: literal text or one macro reference. */
export type MacroPiece =
  | { readonly kind: "text"; readonly text: string }
  | {
    /** `ref` is `$(NAME)`, `env` is `$ENV(VAR)`. */
    readonly kind: "ref" | "env";
    /** The whole reference as written, e.g. `$(A:b)`. */
    readonly source: string;
    readonly name: string;
    /** Text after the first `:`, unexpanded; undefined without a colon. */
    readonly fallback: string | undefined;
  }
  | {
    /** A `$NAME(...)` function HTCondor knows (`$INT`, `$CHOICE`, ...). */
    readonly kind: "function";
    readonly source: string;
    readonly name: string;
  };

/** Characters of a knob name (HTCondor also allows `.` and `/`). */
const NAME_CHAR = /[A-Za-z0-9_./]/;
/** Characters HTCondor allows after the `:` of a default, besides name characters. */
const FALLBACK_EXTRA = "$ ,\\:";
/** Names of HTCondor's `$NAME(...)` functions, apart from the `$F...` family. */
const FUNCTIONS: ReadonlySet<string> = new Set([
  "RANDOM_CHOICE",
  "RANDOM_INTEGER",
  "CHOICE",
  "SUBSTR",
  "INT",
  "REAL",
  "STRING",
  "EVAL",
  "BASENAME",
  "DIRNAME",
]);
/** `$F(...)`, `$Fpn(...)`, ...: HTCondor's file name functions. */
const FILENAME_FUNCTION = /^F[pnxdqabfwu]*$/i;

/** True when `name` is a legal knob name. */
export function isValidKnobName(name: string): boolean {
  return /^[A-Za-z0-9_./]+$/.test(name);
}

/** Splits a value into literal text and macro references, left to right. */
export function parseMacros(value: string): MacroPiece[] {
  const pieces: MacroPiece[] = [];
  let textStart = 0;
  let scan = 0;

  while (true) {
    const dollar = value.indexOf("$", scan);
    if (dollar < 0) break;
    let prefixStart = dollar + 1;
    const doubled = value[prefixStart] === "$";
    if (doubled) prefixStart++;
    let open = prefixStart;
    while (open < value.length && /[A-Za-z0-9_]/.test(value[open])) open++;
    // Whatever fails to scan as a macro stays text; scanning goes on after
    // its prefix, so `$$(X $(Y))` still expands `$(Y)` as HTCondor does.
    scan = open;
    if (value[open] !== "(" || doubled) continue;

    const prefix = value.slice(prefixStart, open);
    const bodyStart = open + 1;
    let piece: MacroPiece | undefined;
    let end = -1;
    if (prefix === "" || prefix === "ENV") {
      const body = scanReferenceBody(value, bodyStart);
      if (body) {
        end = body.end;
        piece = {
          kind: prefix === "" ? "ref" : "env",
          source: value.slice(dollar, end + 1),
          name: body.name,
          fallback: body.fallback,
        };
      }
    } else if (FUNCTIONS.has(prefix) || (prefix[0] === "F" && FILENAME_FUNCTION.test(prefix))) {
      end = value.indexOf(")", bodyStart);
      if (end >= 0) {
        piece = { kind: "function", source: value.slice(dollar, end + 1), name: prefix };
      }
    } else {
      continue;
    }
    if (!piece) {
      scan = bodyStart;
      continue;
    }
    if (dollar > textStart) pieces.push({ kind: "text", text: value.slice(textStart, dollar) });
    pieces.push(piece);
    textStart = scan = end + 1;
  }
  if (textStart < value.length) pieces.push({ kind: "text", text: value.slice(textStart) });
  return pieces;
}

/** Scans `NAME` or `NAME:default` up to its closing parenthesis. */
function scanReferenceBody(
  value: string,
  start: number,
): { end: number; name: string; fallback: string | undefined } | undefined {
  let colon = -1;
  let index = start;
  while (index < value.length && value[index] !== ")") {
    const char = value[index];
    if (char === ":" && colon < 0) {
      colon = index++;
      continue;
    }
    if (colon >= 0) {
      if (char === "(") {
        const close = matchingParenthesis(value, index);
        if (close < 0) return undefined;
        index = close + 1;
        continue;
      }
      if (FALLBACK_EXTRA.includes(char)) {
        index++;
        continue;
      }
    }
    if (!NAME_CHAR.test(char)) return undefined;
    index++;
  }
  if (index >= value.length) return undefined;
  return colon < 0
    ? { end: index, name: value.slice(start, index), fallback: undefined }
    : { end: index, name: value.slice(start, colon), fallback: value.slice(colon + 1, index) };
}

/** Index of the `)` closing the `(` at `open`, or -1. */
function matchingParenthesis(value: string, open: number): number {
  let depth = 0;
  for (let index = open; index < value.length; index++) {
    if (value[index] === "(") depth++;
    else if (value[index] === ")" && --depth === 0) return index;
  }
  return -1;
}
