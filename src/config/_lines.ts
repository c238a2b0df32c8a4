/**
 * Splits configuration text into logical lines the way HTCondor's reader
 * does: every physical line is trimmed, a trailing backslash joins the next
 * line on, and comment and blank lines are dropped.
 *
 * @module
 */

/** One logical line: continuations joined, never a comment or blank. */
export interface LogicalLine {
  /** The joined text, trimmed at both ends. */
  readonly text: string;
  /** 1-based number of the physical line the logical line starts on. */
  readonly line: number;
}

/** Returns the logical lines of configuration text, in order. */
export function logicalLines(text: string): LogicalLine[] {
  const physical = text.split("\n");
  const lines: LogicalLine[] = [];
  let pending: string | undefined;
  let start = 0;

  for (let index = 0; index < physical.length; index++) {
    const trimmed = physical[index].trim();
    if (pending === undefined) {
      // A comment never continues, even when it ends in a backslash: a
      // commented-out multi-line value must not swallow the next line.
      if (trimmed === "" || trimmed.startsWith("#")) continue;
      if (trimmed.endsWith("\\")) {
        pending = trimmed.slice(0, -1);
        start = index + 1;
        continue;
      }
      lines.push({ text: trimmed, line: index + 1 });
      continue;
    }
    // HTCondor's manual: a comment line inside a continuation is ignored and
    // the continuation goes on with the line after it.
    if (trimmed.startsWith("#")) continue;
    if (trimmed.endsWith("\\")) {
      pending += trimmed.slice(0, -1);
      continue;
    }
    lines.push({ text: (pending + trimmed).trimEnd(), line: start });
    pending = undefined;
  }
  if (pending !== undefined && pending.trim() !== "") {
    lines.push({ text: pending.trimEnd(), line: start });
  }
  return lines;
}
