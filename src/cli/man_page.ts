/**
 * A tool's manual page in roff (man macros), written from the same ToolDoc
 * that `-help` prints (see _doc.ts): NAME, SYNOPSIS, DESCRIPTION, OPTIONS by
 * group, EXIT STATUS, further sections, EXAMPLES, SEE ALSO. Only the classic
 * macros every man renderer knows (.TH .SH .SS .PP .TP .RS .RE .nf .fi .br
 * .B) are used. `scripts/build.ts` writes one page per tool.
 */
import { type DocumentedOption, synopsisUnits, type ToolDoc } from "./_doc.ts";

/** Where the page of a tool goes under a `man` directory: `man1/NAME.1`. */
export function manPagePath(doc: Pick<ToolDoc, "name" | "section">): string {
  return `man${doc.section}/${doc.name}.${doc.section}`;
}

/** The manual page of `doc`, for release `version`. */
export function manPage(doc: ToolDoc, version: string): string {
  const lines: string[] = [
    `.\\" Written by the condor_token build from the tool's own -help source; do not edit.`,
    `.TH ${doc.name.toUpperCase()} ${doc.section} "" "condor_token ${version}" "${
      doc.section === 8 ? "System Administration" : "User Commands"
    }"`,
    ".SH NAME",
    `${escape(doc.name)} \\- ${escape(doc.summary)}`,
    ".SH SYNOPSIS",
  ];
  doc.synopsis.forEach((form, i) => {
    if (i > 0) lines.push(".br");
    lines.push(`.B ${escape(doc.name)}`);
    lines.push(synopsisUnits(form).map(synopsisUnit).join(" "));
  });
  lines.push(".SH DESCRIPTION", ...paragraphs(doc.description));
  lines.push(".SH OPTIONS");
  for (const group of doc.groups) {
    lines.push(`.SS "${escape(group)}"`);
    for (const option of doc.options.filter((o) => o.group === group)) {
      lines.push(".TP", optionTag(option), prose(option.help));
    }
  }
  lines.push('.SH "EXIT STATUS"', ...paragraphs(doc.exitStatus));
  for (const section of doc.sections ?? []) {
    lines.push(`.SH "${escape(section.title.toUpperCase())}"`, ...paragraphs(section.paragraphs));
  }
  if (doc.examples && doc.examples.length > 0) {
    lines.push(".SH EXAMPLES");
    for (const example of doc.examples) {
      lines.push(".PP", prose(example.about), ".PP", ".RS 4", ".nf");
      lines.push(...example.command.split("\n").map(literal));
      lines.push(".fi", ".RE");
    }
  }
  lines.push('.SH "SEE ALSO"');
  lines.push(
    doc.seeAlso.map((ref) => {
      const [, name, section] = /^(.*)\((\d)\)$/.exec(ref) ?? [ref, ref, ""];
      return `\\fB${escape(name)}\\fR(${section})`;
    }).join(",\n"),
  );
  return lines.join("\n") + "\n";
}

/** Paragraphs as `.PP` blocks. */
function paragraphs(texts: readonly string[]): string[] {
  return texts.flatMap((text) => [".PP", prose(text)]);
}

/** `.B -name` with its placeholder in italics, for `.TP`. */
function optionTag(option: DocumentedOption): string {
  const name = `\\fB\\-${escape(option.name)}\\fR`;
  if (option.colon) return option.arg ? `${name}[:\\fI${escape(option.arg)}\\fR]` : name;
  return option.value ? `${name} \\fI${escape(option.arg ?? "VALUE")}\\fR` : name;
}

/** One synopsis unit: options bold, placeholders (upper case) italic. */
function synopsisUnit(unit: string): string {
  return escape(unit)
    .replace(/(^|[\s[|])\\-([a-z][a-z_]*)/g, "$1\\fB\\-$2\\fR")
    .replace(/\b([A-Z][A-Z0-9_@:.]*[A-Z0-9])\b/g, "\\fI$1\\fR");
}

/** Running text: options (`-name`) bold, everything escaped; one input line. */
function prose(text: string): string {
  const line = escape(text.replace(/\s+/g, " ").trim())
    .replace(/(^|[\s(["'`])\\-([a-z][a-z_]*)(?=$|[\s),.;:'"`\]])/g, "$1\\fB\\-$2\\fR");
  return line;
}

/** A line shown as is (in .nf): escaped, and kept from being read as a request. */
function literal(text: string): string {
  return escape(text);
}

/**
 * Escapes text for roff: backslashes as `\e`, every hyphen as `\-` (a
 * minus, so that options copy and paste as typed), and a line that would
 * begin with `.` or `'` (a request) guarded with `\&`.
 */
export function escape(text: string): string {
  const escaped = text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}
