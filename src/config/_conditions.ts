/**
 * The conditions of `if` and `elif` lines, as far as HTCondor evaluates them
 * without a ClassAd: numbers, booleans, `defined NAME`, a leading `!`, and
 * `$(...)` references expanded first. `version` comparisons need HTCondor's
 * own version and are refused, as are the "complex" conditions HTCondor
 * itself refuses.
 *
 * @module
 */

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
  if (/^version(?![A-Za-z0-9_])/i.test(text)) {
    return refuse(true, "version comparisons need HTCondor's own version");
  }
  const defined = /^defined(?:\s+(.*))?$/is.exec(text);
  if (defined) return evaluateDefined((defined[1] ?? "").trim(), context);
  return refuse(
    false,
    IDENTIFIER.test(text) ? "it is not a conditional" : "complex conditionals are not supported",
  );
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
