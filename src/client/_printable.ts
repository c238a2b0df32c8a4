/**
 * Text a daemon sent, made safe to show on a terminal: what a hostile or
 * broken server says (an error message, a deny reason) must not move the
 * cursor, rewrite the screen or hide itself with bidi controls.
 *
 * @module
 */

import { replaceHidden } from "../api/hidden_character.ts";

/** Longest daemon-supplied text shown in one message. */
export const MAX_SHOWN = 500;

/**
 * `text` with C0/C1 control characters, DEL, bidi controls and zero-width
 * characters replaced by U+FFFD, cut at {@link MAX_SHOWN} characters.
 */
export function printable(text: string, max = MAX_SHOWN): string {
  const clean = replaceHidden(text, "\ufffd");
  return clean.length > max ? clean.slice(0, max) + "…" : clean;
}
