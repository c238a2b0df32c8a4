/**
 * JSON the tools print: what a daemon sent (identities, client IDs, token
 * IDs, reasons) may hold bidi overrides, C1 controls or line separators,
 * which JSON.stringify leaves raw; here they are `\uXXXX` escapes, so a
 * terminal shows the JSON as it is and a parser reads the same values.
 *
 * @module
 */
import { escapeHiddenInJson } from "../api/hidden_character.ts";

/** `value` as JSON text (indented by `space` when given) with hidden characters escaped. */
export function jsonText(value: unknown, space?: number): string {
  return escapeHiddenInJson(JSON.stringify(value, null, space));
}
