/**
 * The conditions of `if` and `elif` lines, as far as HTCondor evaluates them
 * without a ClassAd: numbers, booleans, `defined NAME`, `version OP X.Y[.Z]`
 * (against HTCONDOR_VERSION, the version this project is compatible with),
 * a leading `!`, and `$(...)` references expanded first. The "complex"
 * conditions HTCondor itself refuses are refused too.
 *
 * @module
 */
import { HTCONDOR_VERSION } from "./htcondor_version.ts";

/** What a condition may consult. */
export interface ConditionContext {
  /** Fully expands text containing `$(...)`. */
  expand(text: string): string;
  /** True when a knob has a non-empty raw value. */
  isDefined(name: string): boolean;
}

/** The outcome: a truth value, or why there is none. */
export type ConditionResult =
  | { readonly ok: true; readonly value: boolean }
  | { readonly ok: false; readonly unsupported: boolean; readonly reason: string };

const NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const IDENTIFIER = /^[A-Za-z0-9_./]+$/;

/** Evaluates the condition of an `if` or `elif` line. */
export function evaluateCondition(condition: string, context: ConditionContext): ConditionResult {
  let text = condition.trim();
  const expanded = text.includes("$");
  if (expanded) text = context.expand(text).trim();
  let inverted = false;
  if (text.startsWith("!")) {
    inverted = true;
    text = text.slice(1).trim();
  }
  // HTCondor: a condition that expands to nothing is false, so that
  // `if $(UNSET)` skips its body.
  const result = expanded && text === "" ? ok(false) : evaluatePlain(text, context);
  return result.ok && inverted ? ok(!result.value) : result;
}

function evaluatePlain(text: string, context: ConditionContext): ConditionResult {
  const literal = literalTruth(text);
  if (literal !== undefined) return ok(literal);
  if (/^version/i.test(text)) {
    const shape = versionShape(text);
    if (shape === "comparison") return evaluateVersion(text.slice("version".length));
    if (shape === "bare") return refuse(false, "the version literal is invalid");
  }
  const defined = /^defined(?:\s+(.*))?$/is.exec(text);
  if (defined) return evaluateDefined((defined[1] ?? "").trim(), context);
  return refuse(
    false,
    IDENTIFIER.test(text) ? "it is not a conditional" : "complex conditionals are not supported",
  );
}

/**
 * Whether HTCondor reads `text` (which starts with "version") as a version
 * comparison: it must be made only of letters, digits, comparison signs,
 * spaces between words and dots in numbers, and hold each of the first four
 * ("version >= 9.0"; "version>=9.0" has no space inside, so it is not one).
 * "bare" is the word alone; undefined is anything else, which HTCondor
 * then judges as it would any other word or expression.
 */
function versionShape(text: string): "comparison" | "bare" | undefined {
  if (/^version$/i.test(text)) return "bare";
  const kinds = new Set<string>();
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const next = text[i + 1] ?? "";
    if (/[0-9]/.test(ch)) kinds.add("digit");
    else if (ch === ".") {
      // A dot is part of a number after digits alone or before a digit (or the end).
      const numeric = (kinds.size === 1 && kinds.has("digit")) || next === "" || /[0-9]/.test(next);
      kinds.add(numeric ? "float" : "other");
    } else if (/[A-Za-z]/.test(ch)) kinds.add("alpha");
    else if (ch === "<" || ch === "=" || ch === ">" || (ch === "!" && next === "=")) {
      kinds.add("cmp");
    } else if (/\s/.test(ch)) {
      if (next !== "" && !/\s/.test(next)) kinds.add("space");
    } else kinds.add("other");
  }
  const needed = ["alpha", "space", "cmp", "digit"];
  const allowed = [...needed, "float"];
  return needed.every((k) => kinds.has(k)) && [...kinds].every((k) => allowed.includes(k))
    ? "comparison"
    : undefined;
}

/**
 * `version OP LITERAL` with HTCondor's semantics, `rest` being what follows
 * the word: OP is `<`, `<=`, `>`, `>=`, `=`, `==` or `!=` (a missing OP is
 * `=`); LITERAL is `[v]MAJOR.MINOR[.SUBMINOR]` with MAJOR at least 6 (a
 * missing SUBMINOR is HTCONDOR_VERSION's, and anything after the numbers is
 * ignored). A part above 99 makes HTCondor's own parser give up, and the
 * version then compares as lower than any real one, as it does there.
 */
function evaluateVersion(rest: string): ConditionResult {
  let text = rest.trimStart();
  const negated = text.startsWith("!");
  if (negated) text = text.slice(1);
  let op = 0;
  let orEqual = false;
  if (text[0] === "<" || text[0] === "=" || text[0] === ">") {
    op = text[0] === "<" ? -1 : text[0] === "=" ? 0 : 1;
    text = text.slice(1);
  }
  if (text[0] === "=") {
    orEqual = true;
    text = text.slice(1);
  }
  text = text.trimStart().replace(/^[vV]/, "");
  const literal = /^\s*([-+]?\d+)\.\s*([-+]?\d+)(?:\.\s*([-+]?\d+))?/.exec(text);
  const ours = versionParts(HTCONDOR_VERSION);
  const numbers = literal?.slice(1).filter((part) => part !== undefined).map(Number) ?? [];
  if (numbers.length < 2 || numbers[0] < 6 || numbers.some((n) => n > 0x7fff_ffff)) {
    return refuse(false, "the version literal is invalid");
  }
  const [major, minor, subminor = ours[2]] = numbers;
  const theirs = minor > 99 || subminor > 99 ? 0 : scalar([major, minor, subminor]);
  const diff = Math.sign(scalar(ours) - theirs);
  const result = diff === op || (orEqual && diff === 0);
  return ok(negated ? !result : result);
}

/** `[major, minor, subminor]` of a version string such as "25.14.0". */
function versionParts(version: string): [number, number, number] {
  const [major, minor, subminor] = version.split(".").map(Number);
  return [major, minor, subminor ?? 0];
}

/** One number that orders versions, as HTCondor compares them. */
function scalar([major, minor, subminor]: readonly number[]): number {
  return major * 1_000_000 + minor * 1_000 + subminor;
}

/** `defined NAME`: the knob has a non-empty value. */
function evaluateDefined(argument: string, context: ConditionContext): ConditionResult {
  if (argument === "") return ok(false);
  if (/^use\s/i.test(argument)) {
    return refuse(true, '"defined use" needs HTCondor\'s table of metaknobs');
  }
  if (NUMBER.test(argument) || /^(true|false)$/i.test(argument)) return ok(true);
  if (!IDENTIFIER.test(argument)) {
    return refuse(false, "defined needs a knob name, a boolean or a number");
  }
  // HTCondor counts the old boolean words as defined even when unset.
  return ok(context.isDefined(argument) || /^(yes|no|t|f)$/i.test(argument));
}

/** Numbers are true when non-zero; also true/false and the old yes/no/t/f. */
function literalTruth(text: string): boolean | undefined {
  if (NUMBER.test(text)) return Number(text) !== 0;
  if (/^(true|yes|t)$/i.test(text)) return true;
  if (/^(false|no|f)$/i.test(text)) return false;
  return undefined;
}

function ok(value: boolean): ConditionResult {
  return { ok: true, value };
}

function refuse(unsupported: boolean, reason: string): ConditionResult {
  return { ok: false, unsupported, reason };
}
