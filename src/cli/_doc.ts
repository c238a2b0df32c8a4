/**
 * One source for what a tool says about itself: its options (the very specs
 * the parser matches against, each with its help text), synopsis,
 * description and exit status. `-help` prints {@link usageText} of it and
 * the build writes the manual page from it (man_page.ts), so neither can
 * name an option the other lacks.
 */
import type { OptionSpec } from "./_options.ts";

/** An option as the parser matches it and as -help and the manual page describe it. */
export interface DocumentedOption extends OptionSpec {
  /** The value's placeholder (`SECONDS`); for a colon flag, what may follow the colon. */
  arg?: string;
  /** What it does: sentences, wrapped when shown. */
  help: string;
  /** The heading it is listed under (one of the tool's `groups`). */
  group: string;
}

/** Everything -help and the manual page say about a tool. */
export interface ToolDoc {
  name: string;
  /** Manual section: 1 for commands, 8 for the daemon. */
  section: 1 | 8;
  /** One line, lower case, no final period: the NAME line and the tool list. */
  summary: string;
  /** The ways to call it, each the arguments after the name (`[-reqid ID] [-json] ...`). */
  synopsis: readonly string[];
  /** Paragraphs. */
  description: readonly string[];
  /** The option headings, in the order shown. */
  groups: readonly string[];
  /** Every option the tool parses, in matching order (the first match wins). */
  options: readonly DocumentedOption[];
  /** Paragraphs on exit status. */
  exitStatus: readonly string[];
  /** Further manual page sections (not shown by -help). */
  sections?: readonly { title: string; paragraphs: readonly string[] }[];
  /** Examples for the manual page: what it does, then the command line(s). */
  examples?: readonly { about: string; command: string }[];
  /** Related manual pages, `name(section)`. */
  seeAlso: readonly string[];
}

/** The heading of options HTCondor's tool takes that this one refuses. */
export const NOT_SUPPORTED = "HTCondor options not supported here";

/** Width -help wraps to. */
const WIDTH = 78;
/** The widest option label that still has its text beside it. */
const LABEL_MAX = 26;

/** The label of an option as -help shows it: `-lifetime <SECONDS>`, `-debug[:CATEGORIES]`. */
export function optionLabel(option: DocumentedOption): string {
  if (option.colon) return `-${option.name}${option.arg ? `[:${option.arg}]` : ""}`;
  return option.value ? `-${option.name} <${option.arg ?? "VALUE"}>` : `-${option.name}`;
}

/** The text -help prints: usage lines, description, options by group, exit status. */
export function usageText(doc: ToolDoc): string {
  const lead = `Usage: ${doc.name} `;
  const indent = " ".repeat(lead.length);
  const synopsis = doc.synopsis.map((form, i) =>
    wrap(synopsisUnits(form), WIDTH, i === 0 ? lead : lead.replace("Usage:", "      "), indent)
  ).join("\n");
  const labels = doc.options.map(optionLabel);
  const column = Math.min(LABEL_MAX, Math.max(...labels.map((l) => l.length))) + 6;
  const groups = doc.groups.map((group) => {
    const lines = doc.options.flatMap((option, i) => {
      if (option.group !== group) return [];
      const label = `    ${labels[i]}`;
      const indent = " ".repeat(column);
      if (label.length + 2 > column) return [label, wrap(option.help, WIDTH, indent, indent)];
      return [wrap(option.help, WIDTH, label.padEnd(column), indent)];
    });
    return `${group}:\n${lines.join("\n")}\n`;
  }).join("");
  const description = doc.description.map((p) => wrap(p, WIDTH, "", "")).join("\n\n");
  const exit = doc.exitStatus.map((p, i) => wrap(i === 0 ? `Exit status: ${p}` : p, WIDTH, "", ""))
    .join("\n\n");
  return `${synopsis}\n\n${description}\n\n${groups}\n${exit}\n`;
}

/**
 * The words of a synopsis form, a bracketed group (`[-token NAME | -file
 * PATH]`) counting as one, so that wrapping never splits it.
 */
export function synopsisUnits(form: string): string[] {
  const units: string[] = [];
  let depth = 0;
  let unit = "";
  for (const ch of form) {
    if (/\s/.test(ch) && depth === 0) {
      if (unit !== "") units.push(unit);
      unit = "";
      continue;
    }
    if (ch === "[") depth++;
    if (ch === "]") depth = Math.max(0, depth - 1);
    unit += ch;
  }
  if (unit !== "") units.push(unit);
  return units;
}

/**
 * Words of `text` (or the given units) filled to `width`, the first line
 * after `first`, the rest after `rest`.
 */
export function wrap(
  text: string | readonly string[],
  width: number,
  first: string,
  rest: string,
): string {
  const words = typeof text === "string" ? text.split(/\s+/).filter(Boolean) : text;
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest;
      empty = true;
    }
    line += (empty ? "" : " ") + word;
    empty = false;
  }
  lines.push(line);
  return lines.map((l) => l.trimEnd()).join("\n");
}
