/**
 * Text a daemon sent, made safe to show on a terminal: what a hostile or
 * broken server says (an error message, a deny reason) must not move the
 * cursor, rewrite the screen or hide itself with bidi controls.
 *
 * @module
 */

/** Longest daemon-supplied text shown in one message. */
export const MAX_SHOWN = 500;

/** C0/C1 controls, DEL, bidi controls and zero-width characters. */
// deno-lint-ignore no-control-regex -- control characters are what is replaced
const UNPRINTABLE = new RegExp(
  "[\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff]",
  "g",
);

/**
 * `text` with C0/C1 control characters, DEL, bidi controls and zero-width
 * characters replaced by U+FFFD, cut at {@link MAX_SHOWN} characters.
 */
export function printable(text: string, max = MAX_SHOWN): string {
  const clean = text.replace(UNPRINTABLE, "\ufffd");
  return clean.length > max ? clean.slice(0, max) + "…" : clean;
}
