/**
 * The one rule for text a requester supplies that people are shown and the
 * daemon stores or signs (identities, client ids, deny reasons): it must
 * look like what it is. Control characters (C0, DEL, C1: NUL cuts a string
 * short in C code and in our own database driver), formatting characters
 * (bidirectional overrides and isolates such as U+202E, U+2066..U+2069,
 * marks U+200E, U+200F, U+061C; zero-width U+200B..U+200D, U+2060, U+FEFF;
 * soft hyphens, tags), line and paragraph separators, and lone surrogates
 * (which UTF-8 cannot carry, so each layer would write something else) are
 * refused, by the daemon and by the tools before they send anything.
 *
 * @module
 */

/** Unicode Cc, Cf, Cs (a lone surrogate, under the `u` flag), Zl and Zp. */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/**
 * The first character of `text` that would not show as itself, as `U+XXXX`
 * (see the module comment), or undefined when there is none.
 */
export function hiddenCharacter(text: string): string | undefined {
  const found = HIDDEN.exec(text);
  if (found === null) return undefined;
  return `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** What a refusal says after the field's name, e.g. "contains U+202E, a control or invisible character". */
export function hiddenCharacterReason(character: string): string {
  return `contains ${character}, a control or invisible character`;
}

/** `text` with every character {@link hiddenCharacter} would name replaced by `by`. */
export function replaceHidden(text: string, by: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu, by);
}

/**
 * JSON text (from JSON.stringify) with every character {@link hiddenCharacter}
 * would name written as a `\uXXXX` escape: the same JSON value, but nothing
 * a terminal would obey or hide. JSON.stringify escapes only C0 controls and
 * lone surrogates; bidi overrides, C1 controls and line separators pass raw.
 * A line feed is left alone: JSON.stringify escapes it inside strings, so a
 * raw one is indentation.
 */
export function escapeHiddenInJson(json: string): string {
  return json.replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu, (found) => {
    if (found === "\n") return found;
    let escaped = "";
    for (let i = 0; i < found.length; i++) {
      escaped += `\\u${found.charCodeAt(i).toString(16).padStart(4, "0")}`;
    }
    return escaped;
  });
}
