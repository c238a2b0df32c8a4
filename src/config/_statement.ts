/**
 * The syntax of one logical configuration line, without evaluating anything:
 * `NAME = value`, `NAME += value`, `NAME @=TAG` (a multi-line value),
 * `use CATEGORY : NAME`, `include [ifexist] : path`, `error : message`,
 * `warning : message` and `if`/`elif`/`else`/`endif`.
 *
 * @module
 */

/** What one logical line says. */
export type Statement =
  | { readonly kind: "if" | "elif"; readonly condition: string }
  | { readonly kind: "else" | "endif" }
  | {
    readonly kind: "assign";
    readonly name: string;
    readonly value: string;
    readonly legacyColon: boolean;
  }
  | {
    readonly kind: "append";
    readonly name: string;
    readonly value: string;
    /** Put between the old and the new value when the old one is not empty. */
    readonly separator: string;
  }
  | { readonly kind: "here"; readonly name: string; readonly tag: string }
  | { readonly kind: "use"; readonly category: string; readonly templates: string }
  | {
    readonly kind: "include";
    readonly target: string;
    readonly ifExists: boolean;
    /** `include command : ...` runs a program. */
    readonly command: boolean;
  }
  | { readonly kind: "error" | "warning"; readonly message: string }
  /** A line without an operator that starts with `[`: HTCondor skips it (.ini style). */
  | { readonly kind: "section" }
  | { readonly kind: "invalid"; readonly reason: string };

const EXPECTED_ASSIGNMENT = "expected NAME = value";
/** Separators allowed between `+` and `=`, as in `LIST +,= item`. */
const APPEND_SEPARATORS = ",;|&*";

/**
 * Parses one logical line. Inside an `if` body a leading `:` is dropped, as
 * HTCondor does so that if-bodies can hide from pre-8.1.5 readers.
 */
export function parseStatement(text: string, insideIf: boolean): Statement {
  if (text.startsWith(":") && (insideIf || /^:if(\s|$)/i.test(text))) text = text.slice(1);

  const conditional = /^(if|elif|else|endif)(?:\s+|$)(.*)$/is.exec(text);
  if (conditional) {
    const keyword = conditional[1].toLowerCase();
    if (keyword === "if" || keyword === "elif") {
      return { kind: keyword, condition: conditional[2] };
    }
    return { kind: keyword as "else" | "endif" };
  }

  const nameEnd = text.search(/[\s=:]/);
  if (nameEnd < 0) {
    return text.startsWith("[")
      ? { kind: "section" }
      : { kind: "invalid", reason: EXPECTED_ASSIGNMENT };
  }
  const name = text.slice(0, nameEnd);
  const operator = findOperator(text, nameEnd);
  if (!operator) return { kind: "invalid", reason: EXPECTED_ASSIGNMENT };
  const value = text.slice(operator.valueStart).trimStart();
  const words = operator.words;

  if (operator.op === ":") {
    const keyword = (name.startsWith("@") ? name.slice(1) : name).toLowerCase();
    switch (keyword) {
      case "use":
        return words === ""
          ? { kind: "invalid", reason: "expected use CATEGORY : NAME" }
          : { kind: "use", category: words, templates: value };
      case "include":
        return parseInclude(words, value);
      case "error":
      case "warning":
        return { kind: keyword, message: value };
    }
  }
  if (words !== "") return { kind: "invalid", reason: EXPECTED_ASSIGNMENT };

  switch (operator.op) {
    case "@=":
      return { kind: "here", name, tag: value };
    case "+=":
      return { kind: "append", name, value, separator: operator.separator };
    default:
      // `NAME : value` is obsolete; HTCondor still assigns, with a warning.
      return { kind: "assign", name, value, legacyColon: operator.op === ":" };
  }
}

interface Operator {
  readonly op: "=" | ":" | "@=" | "+=";
  /** Words between the name and the operator (keywords of use/include). */
  readonly words: string;
  readonly separator: string;
  readonly valueStart: number;
}

/** Finds the operator after the name ending at `nameEnd`. */
function findOperator(text: string, nameEnd: number): Operator | undefined {
  const direct = text[nameEnd];
  if (direct === "=" || direct === ":") {
    return { op: direct, words: "", separator: "", valueStart: nameEnd + 1 };
  }
  let index = nameEnd;
  while (index < text.length && !"=:@+".includes(text[index])) index++;
  if (index >= text.length) return undefined;
  const words = text.slice(nameEnd, index).trim();
  const char = text[index];
  if (char === "=" || char === ":") {
    return { op: char, words, separator: "", valueStart: index + 1 };
  }
  if (char === "@") {
    return text[index + 1] === "="
      ? { op: "@=", words, separator: "", valueStart: index + 2 }
      : undefined;
  }
  // `+=`, `+,=` (single separator) or `+&&=` (doubled, written with spaces).
  let next = index + 1;
  let separator = " ";
  const sep = text[next];
  if (sep !== undefined && APPEND_SEPARATORS.includes(sep)) {
    next++;
    separator = sep;
    if (text[next] === sep) {
      next++;
      separator = ` ${sep}${sep} `;
    }
  }
  return text[next] === "=" ? { op: "+=", words, separator, valueStart: next + 1 } : undefined;
}

/** `include [ifexist|ifexists] [command|output [into FILE]] : target`. */
function parseInclude(words: string, target: string): Statement {
  const keywords = words.split(/\s+/).filter((word) => word !== "");
  let ifExists = false;
  if (keywords[0] === "ifexist" || keywords[0] === "ifexists") {
    ifExists = true;
    keywords.shift();
  }
  let command = false;
  if (keywords[0] === "command" || keywords[0] === "output") {
    command = true;
  } else if (keywords.length > 0) {
    return { kind: "invalid", reason: `unexpected "${keywords.join(" ")}" after include` };
  }
  if (target === "") return { kind: "invalid", reason: "include needs a file name" };
  return { kind: "include", target, ifExists, command };
}
