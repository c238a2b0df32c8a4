import assert from "node:assert/strict";
import { DaemonError } from "../../../src/errors.ts";
import {
  type ClassAd,
  type ClassAdValue,
  formatAttribute,
  integerOf,
  lookup,
  parseAttribute,
  stringOf,
} from "../../../src/client/cedar/classad.ts";

// --- formatAttribute ------------------------------------------------------------

Deno.test("formatAttribute() escapes only the double quote in a string, backslashes stay literal", () => {
  assert.equal(formatAttribute("ClientId", 'q"x\\y'), 'ClientId = "q\\"x\\y"');
  // The wire example of spec §1.3: the characters q " x \ y \ n.
  assert.equal(formatAttribute("ClientId", 'q"x\\y\\n'), 'ClientId = "q\\"x\\y\\n"');
  assert.equal(formatAttribute("User", "walk@example"), 'User = "walk@example"');
  assert.equal(formatAttribute("Empty", ""), 'Empty = ""');
});

Deno.test("formatAttribute() refuses a string with a NUL or a trailing backslash", () => {
  for (const value of ["a\0b", "\0", "ends in \\", "\\"]) {
    assert.throws(() => formatAttribute("ClientId", value), TypeError, JSON.stringify(value));
  }
});

Deno.test("formatAttribute() writes integers in decimal and booleans as true/false", () => {
  assert.equal(formatAttribute("TokenLifetime", 600), "TokenLifetime = 600");
  assert.equal(formatAttribute("Command", 60047), "Command = 60047");
  assert.equal(formatAttribute("Status", -1), "Status = -1");
  assert.equal(formatAttribute("Zero", 0), "Zero = 0");
  assert.equal(formatAttribute("NegotiatedSession", true), "NegotiatedSession = true");
  assert.equal(formatAttribute("ResumeResponse", false), "ResumeResponse = false");
});

Deno.test("formatAttribute() writes an expression as its text", () => {
  assert.equal(formatAttribute("Expr", { expr: "1+2" }), "Expr = 1+2");
  assert.equal(formatAttribute("Now", { expr: "time()" }), "Now = time()");
});

Deno.test("formatAttribute() refuses a bad attribute name or a non-finite number", () => {
  for (const name of ["", "1abc", "a b", "a=b", "a.b", 'a"']) {
    assert.throws(() => formatAttribute(name, 1), TypeError, JSON.stringify(name));
  }
  for (const value of [NaN, Infinity, -Infinity]) {
    assert.throws(() => formatAttribute("X", value), TypeError, String(value));
  }
});

// --- parseAttribute -------------------------------------------------------------

Deno.test('parseAttribute() reads a string literal, turning only \\" into a quote', () => {
  assert.deepEqual(parseAttribute('Sid = "vm:6604:1795661616:35"'), [
    "Sid",
    "vm:6604:1795661616:35",
  ]);
  const [name, value] = parseAttribute('ClientId = "q\\"x\\y\\n"');
  assert.equal(name, "ClientId");
  assert.equal(value, 'q"x\\y\\n');
  assert.equal((value as string).length, 7);
  assert.deepEqual(parseAttribute('Token = ""'), ["Token", ""]);
});

Deno.test("parseAttribute() reads integers, reals and booleans", () => {
  const cases: [string, ClassAdValue][] = [
    ["SessionLease = 3600", 3600],
    ["Status = -1", -1],
    ["Plus = +7", 7],
    ["Ratio = 2.5", 2.5],
    ["Small = 1.5E-2", 0.015],
    ["Big = 1e3", 1000],
    ["Half = .5", 0.5],
    ["Real = 1.5e+0", 1.5],
    ["NegotiatedSession = true", true],
    ["Shouting = TRUE", true],
    ["TriedAuthentication = false", false],
    ["Mixed = False", false],
  ];
  for (const [line, value] of cases) {
    assert.deepEqual(parseAttribute(line), [line.split(" ")[0], value]);
  }
});

Deno.test("parseAttribute() keeps a non-literal expression as its text", () => {
  const cases: [string, string][] = [
    ["Expr = 1+2", "1+2"],
    ["Now = time()", "time()"],
    ['Joined = "a" + "b"', '"a" + "b"'],
    ["Other = OtherAttr", "OtherAttr"],
    ['Open = "unterminated', '"unterminated'],
  ];
  for (const [line, expr] of cases) {
    assert.deepEqual(parseAttribute(line), [line.split(" ")[0], { expr }], line);
  }
});

Deno.test("parseAttribute() trims the spaces around the name, the = and the value", () => {
  assert.deepEqual(parseAttribute('  MyType="Collector"  '), ["MyType", "Collector"]);
  assert.deepEqual(parseAttribute("A\t=\t1"), ["A", 1]);
});

Deno.test("parseAttribute() reads back what formatAttribute() writes", () => {
  const values: ClassAdValue[] = [
    "plain",
    'q"x\\y',
    'a\\"b',
    "\\leading",
    "",
    0,
    -42,
    600,
    2.5,
    true,
    false,
  ];
  for (const value of values) {
    assert.deepEqual(
      parseAttribute(formatAttribute("Attr", value)),
      ["Attr", value],
      String(value),
    );
  }
});

Deno.test("parseAttribute() does not read a string whose last quote is escaped", () => {
  assert.deepEqual(parseAttribute('A = "x\\"'), ["A", { expr: '"x\\"' }]);
});

Deno.test("parseAttribute() refuses a line that is no attribute as DAEMON_BAD_RESPONSE", () => {
  for (const line of ["", "garbage", "= 5", "1abc = 2", "has space = 1", '"Quoted" = 1']) {
    assert.throws(
      () => parseAttribute(line),
      (err) => err instanceof DaemonError && err.code === "DAEMON_BAD_RESPONSE",
      JSON.stringify(line),
    );
  }
});

// --- lookup ---------------------------------------------------------------------

Deno.test("lookup() finds an attribute whatever the case of the name asked for", () => {
  const ad = adOf(["TrustDomain", "htcondor.test"], ["SessionLease", 3600]);
  assert.equal(lookup(ad, "TrustDomain"), "htcondor.test");
  assert.equal(lookup(ad, "trustdomain"), "htcondor.test");
  assert.equal(lookup(ad, "TRUSTDOMAIN"), "htcondor.test");
  assert.equal(lookup(ad, "sessionLEASE"), 3600);
  assert.equal(lookup(ad, "Missing"), undefined);
});

Deno.test("lookup() prefers the attribute whose name matches exactly", () => {
  const ad = adOf(["User", "upper"], ["user", "lower"]);
  assert.equal(lookup(ad, "user"), "lower");
  assert.equal(lookup(ad, "User"), "upper");
});

Deno.test("stringOf() and integerOf() return undefined for a value of another type", () => {
  const ad = adOf(["Token", "abc"], ["Lease", 3600], ["Ratio", 2.5], ["Flag", true]);
  assert.equal(stringOf(ad, "token"), "abc");
  assert.equal(stringOf(ad, "Lease"), undefined);
  assert.equal(integerOf(ad, "LEASE"), 3600);
  assert.equal(integerOf(ad, "Ratio"), undefined);
  assert.equal(integerOf(ad, "Token"), undefined);
  assert.equal(integerOf(ad, "Flag"), undefined);
  assert.equal(stringOf(ad, "Missing"), undefined);
});

function adOf(...entries: [string, ClassAdValue][]): ClassAd {
  return new Map(entries);
}
