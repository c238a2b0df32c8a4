import assert from "node:assert/strict";
import { hiddenCharacter } from "../../src/api/hidden_character.ts";

Deno.test("hiddenCharacter() finds control, bidirectional, zero-width and unpaired characters", () => {
  const hidden: [string, string][] = [
    ["a\u0000b@c", "U+0000"],
    ["condor@pool\u0000.evil.org", "U+0000"],
    ["tab\there", "U+0009"],
    ["line\nbreak", "U+000A"],
    ["del\u007f", "U+007F"],
    ["c1\u0085", "U+0085"],
    ["c1\u009b", "U+009B"],
    ...["202A", "202B", "202C", "202D", "202E", "2066", "2067", "2068", "2069"].map((
      hex,
    ): [string, string] => [`x${String.fromCodePoint(parseInt(hex, 16))}y`, `U+${hex}`]),
    ["lrm\u200e", "U+200E"],
    ["rlm\u200f", "U+200F"],
    ["alm\u061c", "U+061C"],
    ["zw\u200bsp", "U+200B"],
    ["zw\u200cnj", "U+200C"],
    ["zw\u200dj", "U+200D"],
    ["wj\u2060", "U+2060"],
    ["\ufeffbom", "U+FEFF"],
    ["line\u2028sep", "U+2028"],
    ["para\u2029sep", "U+2029"],
    ["tag\u{e0041}", "U+E0041"],
    ["lone\ud800", "U+D800"],
    ["lone\udc00", "U+DC00"],
  ];
  for (const [text, expected] of hidden) {
    assert.equal(hiddenCharacter(text), expected, JSON.stringify(text));
  }
});

Deno.test("hiddenCharacter() passes visible text in any script", () => {
  for (
    const text of [
      "condor@pool.example.org",
      "jörg@example.org",
      "Ŝarlo@esperanto.example",
      "用户@例子.测试",
      "مستخدم@مثال.إختبار",
      "worker 17 (rack b)",
      "😀",
    ]
  ) {
    assert.equal(hiddenCharacter(text), undefined, text);
  }
});
