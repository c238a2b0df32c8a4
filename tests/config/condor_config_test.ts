import { strict as assert } from "node:assert";
import { configFromText } from "../../src/config/condor_config.ts";
import type { Env } from "../../src/config/condor_config.ts";
import { VERSION_CONDITIONS } from "../_support/version_conditions.ts";
import { assertConfigError, envOf } from "./_helpers.ts";

const HOST = "node1.example.org";

function config(text: string, env: Env = envOf()) {
  return configFromText(text, { env, hostname: HOST, source: "/test/condor_config" });
}

// --- Syntax -----------------------------------------------------------------

Deno.test("configFromText() skips comment and blank lines", () => {
  const c = config("# a comment\n\n   # indented comment\nA = 1\n\t\nB = x # not a comment\n");
  assert.equal(c.get("A"), "1");
  assert.equal(c.get("B"), "x # not a comment");
});

Deno.test("configFromText() trims around = and at the end of the value", () => {
  const c = config("  A   =   some value  \t\nB=\nC =x=y\r\n");
  assert.equal(c.get("A"), "some value");
  assert.equal(c.get("B"), "");
  assert.equal(c.get("C"), "x=y");
});

Deno.test("configFromText() joins backslash continuations", () => {
  const c = config("A = one, \\\n    two, \\\n    three\nB = x\\\ny\n");
  assert.equal(c.get("A"), "one, two, three");
  assert.equal(c.get("B"), "xy");
});

Deno.test("configFromText() skips a comment line inside a continuation", () => {
  const c = config("A = $(B) \\\n# $(C)\n$(D)\nB = b\nC = c\nD = d\n");
  assert.equal(c.get("A"), "b d");
});

Deno.test("configFromText() does not continue a comment that ends in a backslash", () => {
  const c = config("# A = 1 \\\nB = 2\n");
  assert.equal(c.get("A"), undefined);
  assert.equal(c.get("B"), "2");
});

Deno.test("configFromText() ends a continuation at a blank line", () => {
  const c = config("A = x \\\n\nB = y\n");
  assert.equal(c.get("A"), "x");
  assert.equal(c.get("B"), "y");
});

Deno.test("get() treats knob names case-insensitively", () => {
  const c = config("Some_Knob = 1\nsome_knob = 2\n");
  assert.equal(c.get("SOME_KNOB"), "2");
  assert.equal(c.get("some_KNOB"), "2");
});

Deno.test("configFromText() lets a later assignment override an earlier one", () => {
  const c = config("A = first\nB = $(A)\nA = second\n");
  assert.equal(c.get("A"), "second");
  assert.equal(c.get("B"), "second");
});

Deno.test("configFromText() throws CONFIG_SYNTAX naming source and line for a line without =", () => {
  const error = assertConfigError(
    () => config("A = 1\n\n# c\nthis is not valid\n"),
    "CONFIG_SYNTAX",
  );
  assert.match(error.message, /\/test\/condor_config" line 4/);
});

Deno.test("configFromText() throws CONFIG_SYNTAX for a bare word and for extra words before =", () => {
  assertConfigError(() => config("JUSTANAME\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("A B = 1\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("A+B = 1\n"), "CONFIG_SYNTAX");
});

Deno.test("configFromText() reports the first line of a continued statement", () => {
  const error = assertConfigError(() => config("A = 1\nnot \\\n valid\n"), "CONFIG_SYNTAX");
  assert.match(error.message, / line 2/);
});

Deno.test("configFromText() accepts the obsolete NAME : value with a warning", () => {
  const c = config("RunBenchmarks : 0\n");
  assert.equal(c.get("RUNBENCHMARKS"), "0");
  assert.equal(c.warnings.length, 1);
});

Deno.test("configFromText() ignores .ini style [section] lines", () => {
  assert.equal(config("[Section]\nA = 1\n").get("A"), "1");
});

Deno.test("configFromText() reads NAME @=TAG multi-line values", () => {
  const c = config("A @=end\n  line one\n  # comment\n  line two\n@end\nB = 2\n");
  assert.equal(c.get("A"), "line one\nline two");
  assert.equal(c.get("B"), "2");
  assertConfigError(() => config("A @=end\nx\n"), "CONFIG_SYNTAX");
});

Deno.test("configFromText() appends with += and separators", () => {
  const c = config("A += x\nA += y\nB = p\nB +,= q\nC = e1\nC +&&= e2\n");
  assert.equal(c.get("A"), "x y");
  assert.equal(c.get("B"), "p,q");
  assert.equal(c.get("C"), "e1 && e2");
});

Deno.test("configFromText() expands $(...) in an assigned name", () => {
  const c = config("WHICH = COLOR\n$(WHICH)_A = red\n");
  assert.equal(c.get("COLOR_A"), "red");
});

Deno.test("configFromText() throws CONFIG_DIRECTIVE for an error : line and records warning : lines", () => {
  const error = assertConfigError(() => config("X = 3\nerror : X is $(X)\n"), "CONFIG_DIRECTIVE");
  assert.match(error.message, /X is 3/);
  assert.equal(config("warning : careful\n").warnings.length, 1);
});

Deno.test("configFromText() refuses include with CONFIG_UNSUPPORTED", () => {
  assertConfigError(() => config("include : /etc/other.conf\n"), "CONFIG_UNSUPPORTED");
});

// --- Conditionals -------------------------------------------------------------

Deno.test("configFromText() reads if/elif/else/endif with defined, booleans and numbers", () => {
  const c = config(`
    FOO = 1
    if defined FOO
      A = foo
    else
      A = nofoo
    endif
    if defined BAR
      B = bar
    elif true
      B = elif
    else
      B = else
    endif
    if 0
      C = zero
    elif ! false
      C = notfalse
    endif
    if $(UNSET_KNOB)
      D = set
    else
      D = unset
    endif
    if ! defined BAR
      E = nobar
    endif
  `);
  assert.equal(c.get("A"), "foo");
  assert.equal(c.get("B"), "elif");
  assert.equal(c.get("C"), "notfalse");
  assert.equal(c.get("D"), "unset");
  assert.equal(c.get("E"), "nobar");
});

Deno.test("configFromText() nests if blocks and skips bodies of false branches", () => {
  const c = config(`
    if false
      if version >= 9.0
        A = never evaluated
      endif
      not even valid syntax
    else
      if true
        A = inner
      endif
    endif
  `);
  assert.equal(c.get("A"), "inner");
});

Deno.test("configFromText() counts a knob defined as empty as not defined", () => {
  const c = config("EMPTY =\nif defined EMPTY\nA = yes\nelse\nA = no\nendif\n");
  assert.equal(c.get("A"), "no");
});

Deno.test("configFromText() evaluates if version as HTCondor 25.14 does", () => {
  for (const [condition, expected] of VERSION_CONDITIONS) {
    const text = `if ${condition}\nA = yes\nelse\nA = no\nendif\n`;
    if (expected === "error") {
      assertConfigError(() => config(text), "CONFIG_SYNTAX");
    } else {
      assert.equal(config(text).get("A"), expected ? "yes" : "no", condition);
    }
  }
});

Deno.test("configFromText() evaluates if version after expanding references, and in elif", () => {
  const c = config(`
    WANT = 9.0
    if version >= $(WANT)
      A = new
    endif
    if version >= 99.0
      B = future
    elif version >= 8.9.0
      B = current
    endif
  `);
  assert.equal(c.get("A"), "new");
  assert.equal(c.get("B"), "current");
  assertConfigError(() => config("if version >= $(UNSET)\nendif\n"), "CONFIG_SYNTAX");
});

Deno.test("configFromText() throws CONFIG_SYNTAX for bad conditions and unbalanced blocks", () => {
  assertConfigError(() => config("if $(A) == 2\nendif\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("if SOMENAME\nendif\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("if true\nA = 1\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("else\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("endif\n"), "CONFIG_SYNTAX");
  assertConfigError(() => config("if true\nelse\nelse\nendif\n"), "CONFIG_SYNTAX");
});

// --- Metaknobs ----------------------------------------------------------------

Deno.test("configFromText() expands the security metaknobs", () => {
  const v9 = config("use security:recommended_v9_0\n");
  assert.equal(v9.get("ALLOW_ADMINISTRATOR"), "condor@* condor_pool@* root@*");
  assert.equal(v9.get("SEC_DEFAULT_ENCRYPTION"), "REQUIRED");
  const current = config("use SECURITY : recommended(svc, admin@example.org)\n");
  assert.equal(current.get("ALLOW_ADMINISTRATOR"), "svc@* condor@password admin@example.org");
});

Deno.test("configFromText() sets TRUST_DOMAIN to CONDOR_HOST for get_htcondor roles", () => {
  const c = config("CONDOR_HOST = cm.example.org\nuse role:get_htcondor_central_manager\n");
  assert.equal(c.get("TRUST_DOMAIN"), "cm.example.org");
  assert.equal(c.get("DAEMON_LIST"), "MASTER COLLECTOR NEGOTIATOR");
});

Deno.test("configFromText() ignores unknown metaknobs with a warning", () => {
  const c = config("use FEATURE : GPUs\nA = 1\n");
  assert.equal(c.get("A"), "1");
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0], /FEATURE:GPUs/);
});

// --- References -------------------------------------------------------------

Deno.test("get() expands $(NAME) lazily with the final values", () => {
  const c = config("A = $(B)/x\nB = $(C)\nC = first\nC = last\n");
  assert.equal(c.get("A"), "last/x");
});

Deno.test("get() expands an unknown $(NAME) to the empty string", () => {
  assert.equal(config("A = [$(NO_SUCH_KNOB)]\n").get("A"), "[]");
});

Deno.test("get() uses $(NAME:default) when NAME is unset or empty", () => {
  const c = config("EMPTY =\nSET = s\nA = $(UNSET:dflt)\nB = $(EMPTY:dflt)\nC = $(SET:dflt)\n");
  assert.equal(c.get("A"), "dflt");
  assert.equal(c.get("B"), "dflt");
  assert.equal(c.get("C"), "s");
});

Deno.test("get() expands nested defaults", () => {
  const c = config(
    "Y = why\nA = $(U1:$(U2:$(Y)))\nB = $(U1:/path/$(Y), more)\nC = $(U1:$(U2:$(U3)))x\n",
  );
  assert.equal(c.get("A"), "why");
  assert.equal(c.get("B"), "/path/why, more");
  assert.equal(c.get("C"), "x");
});

Deno.test("get() leaves $$(...) and non-macros alone and turns $(DOLLAR) into $", () => {
  const c = config("A = $$(Memory) $(DOLLAR)(B) cost $5 $(not a macro)\nB = b\n");
  assert.equal(c.get("A"), "$$(Memory) $(B) cost $5 $(not a macro)");
});

Deno.test("get() reads $ENV(VAR) through the env, with default and UNDEFINED", () => {
  const c = config(
    "A = $ENV(SOME_VAR)\nB = $ENV(NOT_SET:fallback)\nC = $ENV(NOT_SET)\n",
    envOf({ SOME_VAR: "v" }),
  );
  assert.equal(c.get("A"), "v");
  assert.equal(c.get("B"), "fallback");
  assert.equal(c.get("C"), "UNDEFINED");
  const literal = config("A = $ENV(V)\n", envOf({ V: "$ENV(V) $(A)" }));
  assert.equal(literal.get("A"), "$ENV(V) $(A)");
});

Deno.test("get() throws CONFIG_UNSUPPORTED for HTCondor macro functions", () => {
  const c = config("A = $INT(B)\nB = 2\nC = ok\n");
  assertConfigError(() => c.get("A"), "CONFIG_UNSUPPORTED");
  assert.equal(c.get("C"), "ok");
});

Deno.test("configFromText() binds a self-reference to the previous value", () => {
  const c = config("A = one\nA = $(A) two\nA = $(a), three\nB = $(B) alone\nC = $(C:start) next\n");
  assert.equal(c.get("A"), "one two, three");
  assert.equal(c.get("B"), " alone");
  assert.equal(c.get("C"), "start next");
});

Deno.test("configFromText() binds a self-reference to the default when first assigned", () => {
  const c = config("LOCAL_DIR = $(LOCAL_DIR)/sub\n");
  assert.equal(c.get("LOCAL_DIR"), "/var/sub");
});

Deno.test("configFromText() keeps other references in a self-referencing value lazy", () => {
  const c = config("A = a\nA = $(A) $(B)\nB = late\n");
  assert.equal(c.get("A"), "a late");
});

Deno.test("get() throws CONFIG_LOOP naming the knobs of a two-knob loop", () => {
  const c = config("A = $(B)\nB = $(A)\nC = fine\n");
  const error = assertConfigError(() => c.get("A"), "CONFIG_LOOP");
  assert.match(error.message, /"A" -> "B" -> "A"/);
  assert.equal(c.get("C"), "fine");
});

Deno.test("get() throws CONFIG_LOOP for a three-knob loop reached through another knob", () => {
  const c = config("START = x$(A)\nA = $(B)\nB = $(C:)\nC = $(D:$(A))\n");
  const error = assertConfigError(() => c.get("START"), "CONFIG_LOOP");
  assert.match(error.message, /"A" -> "B" -> "C" -> "A"/);
});

Deno.test("get() throws CONFIG_LOOP for a knob that refers to itself through an override", () => {
  const c = config("A = 1\n", envOf({ _CONDOR_A: "$(A)+1" }));
  const error = assertConfigError(() => c.get("A"), "CONFIG_LOOP");
  assert.match(error.message, /"A" -> "A"/);
});

Deno.test("get() expands repeated references without exponential work", () => {
  const lines = ["K0 = x"];
  for (let i = 1; i <= 20; i++) lines.push(`K${i} = $(K${i - 1})`);
  lines.push("ALL = " + Array.from({ length: 21 }, (_, i) => `$(K${i})`).join(""));
  assert.equal(config(lines.join("\n")).get("ALL"), "x".repeat(21));
});

Deno.test("configFromText() throws CONFIG_LOOP with a location for a loop met while reading", () => {
  const error = assertConfigError(
    () => config("A = $(B)\nB = $(A)\nX = 1\nif defined $(A)\nendif\n"),
    "CONFIG_LOOP",
  );
  assert.match(error.message, /line 4/);
});

// --- Environment overrides ------------------------------------------------------

Deno.test("get() prefers a _CONDOR_NAME environment override to the file value", () => {
  const env = envOf({ _CONDOR_COLLECTOR_HOST: "cm.env.org", _condor_UID_DOMAIN: "env.org" });
  const c = config("COLLECTOR_HOST = cm.file.org\nUID_DOMAIN = file.org\n", env);
  assert.equal(c.get("collector_host"), "cm.env.org");
  assert.equal(c.get("UID_DOMAIN"), "env.org");
});

Deno.test("get() applies overrides to referenced knobs and to knobs set nowhere else", () => {
  const env = envOf({ _CONDOR_B: "from-env", _CONDOR_ONLY_ENV_KNOB: "e", _CONDOR_EMPTY: "" });
  const c = config("A = <$(B)>\nB = from-file\nEMPTY = full\n", env);
  assert.equal(c.get("A"), "<from-env>");
  assert.equal(c.get("ONLY_ENV_KNOB"), "e");
  assert.equal(c.get("EMPTY"), "");
});

Deno.test("get() expands references inside an override value", () => {
  const c = config("B = b\n", envOf({ _CONDOR_A: "$(B)-x" }));
  assert.equal(c.get("A"), "b-x");
});

// --- Defaults -----------------------------------------------------------------

Deno.test("get() derives TRUST_DOMAIN from UID_DOMAIN from FULL_HOSTNAME by default", () => {
  const c = config("");
  assert.equal(c.get("FULL_HOSTNAME"), HOST);
  assert.equal(c.get("HOSTNAME"), "node1");
  assert.equal(c.get("UID_DOMAIN"), HOST);
  assert.equal(c.get("TRUST_DOMAIN"), HOST);
  assert.equal(c.get("COLLECTOR_HOST"), HOST);
  assert.equal(config("UID_DOMAIN = example.org\n").get("TRUST_DOMAIN"), "example.org");
  assert.equal(config("TRUST_DOMAIN = t.org\nUID_DOMAIN = u.org\n").get("TRUST_DOMAIN"), "t.org");
});

Deno.test("get() keeps detected host names even when the configuration sets them", () => {
  const c = config("FULL_HOSTNAME = other.org\n", envOf({ _CONDOR_HOSTNAME: "other" }));
  assert.equal(c.get("FULL_HOSTNAME"), HOST);
  assert.equal(c.get("HOSTNAME"), "node1");
});

Deno.test("get() returns the built-in defaults of the token knobs", () => {
  const c = config("", envOf({ HOME: "/home/alice", USER: "alice" }));
  assert.equal(c.get("SEC_TOKEN_POOL_SIGNING_KEY_FILE"), "/etc/condor/passwords.d/POOL");
  assert.equal(c.get("SEC_TOKEN_ISSUER_KEY"), "POOL");
  assert.equal(c.get("SEC_TOKEN_DIRECTORY"), "/home/alice/.condor/tokens.d");
  assert.equal(c.get("SEC_TOKEN_SYSTEM_DIRECTORY"), "/etc/condor/tokens.d");
  assert.equal(c.get("SPOOL"), "/var/lib/condor/spool");
  assert.equal(c.get("USERNAME"), "alice");
  assert.equal(c.bool("SEC_ENABLE_TOKEN_REQUEST", false), true);
  assert.equal(c.int("SEC_TOKEN_REQUEST_LIFETIME", 0), 3600);
  assert.equal(c.int("TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME", 0), 3600);
  assert.equal(c.int("COLLECTOR_PORT", 0), 9618);
  assert.equal(c.get("NETWORK_INTERFACE"), "*");
  assert.deepEqual(c.list("AUTH_SSL_SERVER_CERTFILE"), [
    "/etc/pki/tls/certs/localhost.crt",
    "/etc/condor/hostcert.pem",
  ]);
  for (const unset of ["SEC_ISSUED_TOKEN_EXPIRATION", "SEC_TOKEN_REQUEST_LIMITS", "TOOL_DEBUG"]) {
    assert.equal(c.get(unset), undefined, unset);
  }
});

Deno.test("get() follows overridden directories in defaults", () => {
  const c = config("ETC = /opt/condor/etc\n");
  assert.equal(c.get("SEC_TOKEN_POOL_SIGNING_KEY_FILE"), "/opt/condor/etc/passwords.d/POOL");
});

Deno.test("require() throws CONFIG_MISSING for SEC_TOKEN_DIRECTORY without HOME", () => {
  const c = config("");
  assert.equal(c.get("SEC_TOKEN_DIRECTORY"), undefined);
  const error = assertConfigError(() => c.require("SEC_TOKEN_DIRECTORY"), "CONFIG_MISSING");
  assert.match(error.message, /SEC_TOKEN_DIRECTORY/);
});

// --- Typed values ---------------------------------------------------------------

Deno.test("require() returns set values and throws CONFIG_MISSING for unset or empty ones", () => {
  const c = config("A = a\nEMPTY =  \n");
  assert.equal(c.require("A"), "a");
  assertConfigError(() => c.require("EMPTY"), "CONFIG_MISSING");
  assertConfigError(() => c.require("UNSET"), "CONFIG_MISSING");
});

Deno.test("bool() reads HTCondor booleans and falls back when unset or empty", () => {
  const c = config("T1 = TRUE\nT2 = yes\nT3 = 1\nF1 = false\nF2 = No\nF3 = 0\nE =\n");
  for (const name of ["T1", "T2", "T3"]) assert.equal(c.bool(name, false), true, name);
  for (const name of ["F1", "F2", "F3"]) assert.equal(c.bool(name, true), false, name);
  assert.equal(c.bool("E", true), true);
  assert.equal(c.bool("UNSET", false), false);
});

Deno.test("bool() throws CONFIG_VALUE naming the knob and value for a non-boolean", () => {
  const error = assertConfigError(() => config("B = maybe\n").bool("B", true), "CONFIG_VALUE");
  assert.match(error.message, /"B".*"maybe"/);
});

Deno.test("int() reads integers and integer arithmetic and falls back when unset", () => {
  const c = config("A = 42\nB = -7\nC = 60 * 60\nD = (1 + 2) * 3 - 10 / 4\nE = $(A) + 1\n");
  assert.equal(c.int("A", 0), 42);
  assert.equal(c.int("B", 0), -7);
  assert.equal(c.int("C", 0), 3600);
  assert.equal(c.int("D", 0), 7);
  assert.equal(c.int("E", 0), 43);
  assert.equal(c.int("UNSET", 5), 5);
});

Deno.test("int() throws CONFIG_VALUE for non-integers", () => {
  const c = config("A = 1.5\nB = ten\nC = 1 +\nD = 99999999999999999999\nE = 1/0\n");
  for (const name of ["A", "B", "C", "D", "E"]) {
    const error = assertConfigError(() => c.int(name, 0), "CONFIG_VALUE");
    assert.match(error.message, new RegExp(`"${name}"`));
  }
});

Deno.test("list() splits on commas and white space and drops empty items", () => {
  const c = config("L = a, b,,c  d \\\n  e\nE =\n");
  assert.deepEqual(c.list("L"), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(c.list("E"), []);
  assert.deepEqual(c.list("UNSET"), []);
});

Deno.test("configFromText() reads no files", () => {
  assert.deepEqual(config("A = 1\n").files, []);
});

Deno.test("configFromText() takes the home and user from USERPROFILE and USERNAME on Windows only", () => {
  const env = envOf({ USERPROFILE: "C:\\Users\\alice", USERNAME: "alice" });
  const windows = configFromText("", { env, hostname: HOST, os: "windows" });
  assert.equal(windows.get("HOME"), "C:\\Users\\alice");
  assert.equal(windows.get("SEC_TOKEN_DIRECTORY"), "C:\\Users\\alice/.condor/tokens.d");
  assert.equal(windows.get("USERNAME"), "alice");
  const linux = configFromText("", { env, hostname: HOST, os: "linux" });
  assert.equal(linux.get("HOME"), undefined);
  assert.equal(linux.get("SEC_TOKEN_DIRECTORY"), undefined);
  // HOME, when set, wins there too.
  const both = configFromText("", {
    env: envOf({ HOME: "D:\\home\\alice", USERPROFILE: "C:\\Users\\alice" }),
    hostname: HOST,
    os: "windows",
  });
  assert.equal(both.get("HOME"), "D:\\home\\alice");
});
