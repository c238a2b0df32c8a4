import { strict as assert } from "node:assert";
import { loadConfig } from "../../src/config/condor_config.ts";
import type { LoadOptions } from "../../src/config/condor_config.ts";
import { assertRejectsConfigError, envOf, rootedAt, writeFile } from "./_helpers.ts";
import { withTempDir } from "../_support/temp.ts";

const HOST = "node1.example.org";

/** Options reading the real file system, with only `vars` in the environment. */
function options(vars: Record<string, string>): LoadOptions {
  return { env: envOf(vars), hostname: HOST };
}

Deno.test("loadConfig() reads the file named by CONDOR_CONFIG and records it in files", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", "COLLECTOR_HOST = cm.example.org:9620\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("COLLECTOR_HOST"), "cm.example.org:9620");
    assert.equal(config.get("CONFIG_ROOT"), dir);
    assert.deepEqual(config.files, [root]);
  });
});

Deno.test("loadConfig() throws CONFIG_MISSING_FILE when CONDOR_CONFIG names a missing file", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/no_such_config`;
    const error = await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: missing })),
      "CONFIG_MISSING_FILE",
    );
    assert.ok(error.message.includes(missing));
  });
});

Deno.test("loadConfig() throws CONFIG_UNREADABLE when CONDOR_CONFIG names a directory", async () => {
  await withTempDir(async (dir) => {
    const error = await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: dir })),
      "CONFIG_UNREADABLE",
    );
    assert.ok(error.message.includes(dir));
  });
});

Deno.test("loadConfig() reads no file when CONDOR_CONFIG is ONLY_ENV", async () => {
  await withTempDir(async (dir) => {
    await writeFile(dir, "etc/condor/condor_config", "A = from-file\n");
    const config = await loadConfig({
      ...options({ CONDOR_CONFIG: "ONLY_ENV", _CONDOR_B: "from-env" }),
      ...rootedAt(dir),
    });
    assert.deepEqual(config.files, []);
    assert.equal(config.get("A"), undefined);
    assert.equal(config.get("B"), "from-env");
    assert.equal(config.get("TRUST_DOMAIN"), HOST);
  });
});

Deno.test("loadConfig() uses the defaults when no configuration file exists", async () => {
  await withTempDir(async (dir) => {
    const config = await loadConfig({ ...options({ HOME: "/home/bob" }), ...rootedAt(dir) });
    assert.deepEqual(config.files, []);
    assert.equal(config.get("COLLECTOR_HOST"), HOST);
    assert.equal(config.get("SEC_TOKEN_DIRECTORY"), "/home/bob/.condor/tokens.d");
  });
});

Deno.test("loadConfig() reads /etc/condor/condor_config before /usr/local/etc/condor_config", async () => {
  await withTempDir(async (dir) => {
    await writeFile(dir, "usr/local/etc/condor_config", "A = usr-local\n");
    const local = await loadConfig({ ...options({}), ...rootedAt(dir) });
    assert.equal(local.get("A"), "usr-local");
    assert.deepEqual(local.files, ["/usr/local/etc/condor_config"]);

    await writeFile(dir, "etc/condor/condor_config", "A = etc\n");
    const etc = await loadConfig({ ...options({}), ...rootedAt(dir) });
    assert.equal(etc.get("A"), "etc");
    assert.deepEqual(etc.files, ["/etc/condor/condor_config"]);
  });
});

Deno.test("loadConfig() reads LOCAL_CONFIG_DIR in lexical order", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `LOCAL_CONFIG_DIR = ${dir}/config.d\nA = root\n`,
    );
    const second = await writeFile(dir, "config.d/20-second.conf", "A = $(A),20\n");
    const first = await writeFile(dir, "config.d/10-first.conf", "A = $(A),10\n");
    const last = await writeFile(dir, "config.d/99-last", "A = $(A),99\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("A"), "root,10,20,99");
    assert.deepEqual(config.files, [root, first, second, last]);
  });
});

Deno.test("loadConfig() skips LOCAL_CONFIG_DIR names matching the exclude pattern and subdirectories", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", `LOCAL_CONFIG_DIR = ${dir}/d\n`);
    const kept = await writeFile(dir, "d/50-kept", "KEPT = yes\n");
    for (
      const name of [
        "50-kept~",
        ".hidden",
        "#autosave#",
        "x.rpmsave",
        "x.rpmnew",
        "x.dpkg-old",
        "x.dpkg-dist",
        "script.sh",
        "script.py",
      ]
    ) {
      await writeFile(dir, `d/${name}`, "not valid configuration\n");
    }
    await Deno.mkdir(`${dir}/d/subdir.conf`);
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("KEPT"), "yes");
    assert.deepEqual(config.files, [root, kept]);
  });
});

Deno.test("loadConfig() reads several LOCAL_CONFIG_DIR directories left to right and skips missing ones", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `LOCAL_CONFIG_DIR = ${dir}/b, ${dir}/missing ${dir}/a\n`,
    );
    await writeFile(dir, "b/1", "A = b\n");
    await writeFile(dir, "a/1", "A = $(A) a\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("A"), "b a");
  });
});

Deno.test("loadConfig() reads LOCAL_CONFIG_DIR before LOCAL_CONFIG_FILE", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `LOCAL_CONFIG_DIR = ${dir}/d\nLOCAL_CONFIG_FILE = ${dir}/one.local, ${dir}/two.local\n`,
    );
    await writeFile(dir, "d/conf", "A = dir\n");
    await writeFile(dir, "one.local", "A = $(A) one\n");
    await writeFile(dir, "two.local", "A = $(A) two\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("A"), "dir one two");
    assert.deepEqual(config.files, [
      root,
      `${dir}/d/conf`,
      `${dir}/one.local`,
      `${dir}/two.local`,
    ]);
  });
});

Deno.test("loadConfig() evaluates LOCAL_CONFIG_FILE with the values read so far", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `LOCAL_CONFIG_FILE = ${dir}/$(HOSTNAME).local\nLATER = x\n`,
    );
    await writeFile(dir, "node1.local", "FROM_HOST_FILE = yes\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("FROM_HOST_FILE"), "yes");
  });
});

Deno.test("loadConfig() follows a LOCAL_CONFIG_FILE and LOCAL_CONFIG_DIR changed by a local file", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", `LOCAL_CONFIG_FILE = ${dir}/one\n`);
    await writeFile(
      dir,
      "one",
      `LOCAL_CONFIG_FILE = ${dir}/one ${dir}/two\nLOCAL_CONFIG_DIR = ${dir}/late.d\n`,
    );
    await writeFile(dir, "two", "TWO = yes\n");
    await writeFile(dir, "late.d/x", "LATE = yes\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("TWO"), "yes");
    assert.equal(config.get("LATE"), "yes");
    assert.deepEqual(config.files, [root, `${dir}/one`, `${dir}/two`, `${dir}/late.d/x`]);
  });
});

Deno.test("loadConfig() throws CONFIG_MISSING_FILE for a missing LOCAL_CONFIG_FILE", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", `LOCAL_CONFIG_FILE = ${dir}/absent.local\n`);
    const error = await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: root })),
      "CONFIG_MISSING_FILE",
    );
    assert.ok(error.message.includes(`${dir}/absent.local`));
  });
});

Deno.test("loadConfig() skips a missing LOCAL_CONFIG_FILE when REQUIRE_LOCAL_CONFIG_FILE is false", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `REQUIRE_LOCAL_CONFIG_FILE = false\nLOCAL_CONFIG_FILE = ${dir}/absent ${dir}/present\n`,
    );
    await writeFile(dir, "present", "P = 1\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("P"), "1");
    assert.deepEqual(config.files, [root, `${dir}/present`]);
  });
});

Deno.test("loadConfig() takes LOCAL_CONFIG_FILE from an environment override", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", `LOCAL_CONFIG_FILE = ${dir}/file.local\n`);
    await writeFile(dir, "env.local", "WHICH = env\n");
    const config = await loadConfig(
      options({ CONDOR_CONFIG: root, _CONDOR_LOCAL_CONFIG_FILE: `${dir}/env.local` }),
    );
    assert.equal(config.get("WHICH"), "env");
  });
});

Deno.test("loadConfig() reads include files at the point of the include", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `INC = ${dir}/first.inc\nA = before\ninclude : $(INC)\nINC = ${dir}/unused.inc\nB = $(A) after\n`,
    );
    await writeFile(dir, "first.inc", "A = $(A) included\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root }));
    assert.equal(config.get("B"), "before included after");
    assert.deepEqual(config.files, [root, `${dir}/first.inc`]);
  });
});

Deno.test("loadConfig() skips a missing include ifexist and fails on a missing include", async () => {
  await withTempDir(async (dir) => {
    const optional = await writeFile(
      dir,
      "optional",
      `include ifexist : ${dir}/absent\nA = 1\n`,
    );
    assert.equal((await loadConfig(options({ CONDOR_CONFIG: optional }))).get("A"), "1");

    const required = await writeFile(dir, "required", `A = 1\ninclude : ${dir}/absent\n`);
    const error = await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: required })),
      "CONFIG_MISSING_FILE",
    );
    assert.ok(error.message.includes(`${dir}/absent`));
    assert.ok(error.message.includes(`${required}" line 2`));
  });
});

Deno.test("loadConfig() throws CONFIG_LOOP for a file that includes itself", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", `include : ${dir}/condor_config\n`);
    await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: root })),
      "CONFIG_LOOP",
    );
  });
});

Deno.test("loadConfig() refuses include command with CONFIG_UNSUPPORTED", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", "include command : /bin/echo A=1\n");
    await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: root })),
      "CONFIG_UNSUPPORTED",
    );
  });
});

Deno.test("loadConfig() reports a syntax error with the included file and its line", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(dir, "condor_config", `LOCAL_CONFIG_DIR = ${dir}/d\n`);
    const bad = await writeFile(dir, "d/bad.conf", "A = 1\n# comment\nB 2\n");
    const error = await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: root })),
      "CONFIG_SYNTAX",
    );
    assert.ok(error.message.includes(`"${bad}" line 3`), error.message);
  });
});

Deno.test("loadConfig() reads ~/.condor/user_config last", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `A = root\nLOCAL_CONFIG_FILE = ${dir}/local\n`,
    );
    await writeFile(dir, "local", "A = $(A) local\n");
    const user = await writeFile(dir, "home/.condor/user_config", "A = $(A) user\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: root, HOME: `${dir}/home` }));
    assert.equal(config.get("A"), "root local user");
    assert.equal(config.files[config.files.length - 1], user);
  });
});

Deno.test("loadConfig() does not read the user configuration with ONLY_ENV", async () => {
  await withTempDir(async (dir) => {
    await writeFile(dir, "home/.condor/user_config", "A = user\n");
    const config = await loadConfig(options({ CONDOR_CONFIG: "ONLY_ENV", HOME: `${dir}/home` }));
    assert.equal(config.get("A"), undefined);
  });
});

Deno.test("loadConfig() throws CONFIG_VALUE for an invalid LOCAL_CONFIG_DIR_EXCLUDE_REGEXP", async () => {
  await withTempDir(async (dir) => {
    const root = await writeFile(
      dir,
      "condor_config",
      `LOCAL_CONFIG_DIR_EXCLUDE_REGEXP = ^(unclosed\nLOCAL_CONFIG_DIR = ${dir}\n`,
    );
    await assertRejectsConfigError(
      () => loadConfig(options({ CONDOR_CONFIG: root })),
      "CONFIG_VALUE",
    );
  });
});
