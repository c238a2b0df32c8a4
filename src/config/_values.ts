/**
 * Typed readings of expanded knob values: booleans, integers and lists as
 * HTCondor's `param_boolean`, `param_integer` and string lists read them.
 *
 * @module
 */

/** `true`/`false`/`yes`/`no`/`1`/`0` in any case; undefined for anything else. */
export function parseBoolean(value: string): boolean | undefined {
  switch (value.trim().toLowerCase()) {
    case "true":
    case "yes":
    case "1":
      return true;
    case "false":
    case "no":
    case "0":
      return false;
    default:
      return undefined;
  }
}

/**
 * An integer, or integer arithmetic (`+ - * / %` and parentheses) since
 * HTCondor evaluates integer knobs as expressions (`60 * 60`); undefined if
 * the value is neither or the result is not a safe integer.
 */
export function parseInteger(value: string): number | undefined {
  const tokens = value.match(/\d+|[-+*/%()]|\S/g) ?? [];
  if (tokens.length === 0) return undefined;
  const parser = new IntegerExpression(tokens);
  const result = parser.parse();
  // `+ 0` turns a -0 result into 0.
  return result !== undefined && Number.isSafeInteger(result) ? result + 0 : undefined;
}

/** Items of a list separated by commas and/or white space, empty items dropped. */
export function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter((item) => item !== "");
}

/** Recursive descent over integer tokens; undefined on any error. */
class IntegerExpression {
  readonly #tokens: readonly string[];
  #next = 0;

  constructor(tokens: readonly string[]) {
    this.#tokens = tokens;
  }

  parse(): number | undefined {
    const value = this.#sum();
    return this.#next === this.#tokens.length ? value : undefined;
  }

  #sum(): number | undefined {
    let value = this.#product();
    while (value !== undefined && (this.#peek() === "+" || this.#peek() === "-")) {
      const operator = this.#tokens[this.#next++];
      const right = this.#product();
      if (right === undefined) return undefined;
      value = operator === "+" ? value + right : value - right;
    }
    return value;
  }

  #product(): number | undefined {
    let value = this.#unary();
    while (value !== undefined && ["*", "/", "%"].includes(this.#peek() ?? "")) {
      const operator = this.#tokens[this.#next++];
      const right = this.#unary();
      if (right === undefined) return undefined;
      if (operator === "*") value *= right;
      else if (right === 0) return undefined;
      // ClassAd integer division truncates toward zero.
      else value = operator === "/" ? Math.trunc(value / right) : value % right;
    }
    return value;
  }

  #unary(): number | undefined {
    const token = this.#peek();
    if (token === "-" || token === "+") {
      this.#next++;
      const value = this.#unary();
      return value === undefined ? undefined : token === "-" ? -value : value;
    }
    if (token === "(") {
      this.#next++;
      const value = this.#sum();
      if (this.#peek() !== ")") return undefined;
      this.#next++;
      return value;
    }
    if (token !== undefined && /^\d+$/.test(token)) {
      this.#next++;
      const value = Number(token);
      return Number.isSafeInteger(value) ? value : undefined;
    }
    return undefined;
  }

  #peek(): string | undefined {
    return this.#tokens[this.#next];
  }
}
