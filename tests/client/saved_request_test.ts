import assert from "node:assert/strict";
import { CondorError } from "../../src/errors.ts";
import {
  forgetSavedRequest,
  readSavedRequest,
  type SavedRequest,
  saveRequest,
} from "../../src/client/saved_request.ts";
import { withTempDir } from "../_support/temp.ts";

const SAVED: SavedRequest = {
  daemon: "https://cm.example.org:9618",
  fingerprint: "sha256:AB",
  requestId: "0123456",
  secret: "s".repeat(43),
  clientId: "host-12",
  identity: "condor@example.org",
  authz: ["ADVERTISE_STARTD"],
  lifetime: null,
  createdAt: 1_700_000_000,
};

Deno.test("saveRequest() writes a 0600 file that readSavedRequest() reads back", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state/req.json`;
    await saveRequest(path, SAVED);
    assert.deepEqual(await readSavedRequest(path), SAVED);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    await forgetSavedRequest(path);
    assert.equal(await readSavedRequest(path), undefined);
    await forgetSavedRequest(path); // twice is fine
  });
});

Deno.test("readSavedRequest() refuses a file other users can read, since it holds the secret", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/req.json`;
    await saveRequest(path, SAVED);
    await Deno.chmod(path, 0o644);
    await assert.rejects(
      readSavedRequest(path),
      (e) => e instanceof CondorError && e.code === "REQUEST_FILE_BAD" && /0644/.test(e.message),
    );
  });
});

Deno.test("readSavedRequest() refuses files that are not saved requests", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/req.json`;
    for (
      const text of [
        "not json",
        "{}",
        JSON.stringify({ format: "condor-token-request/1", daemon: 1 }),
        JSON.stringify({ format: "condor-token-request/1", ...SAVED, requestId: "12" }),
      ]
    ) {
      await Deno.writeTextFile(path, text, { mode: 0o600 });
      await assert.rejects(
        readSavedRequest(path),
        (e) => e instanceof CondorError && e.code === "REQUEST_FILE_BAD",
        text,
      );
      assert.ok(
        !String((await readSavedRequest(path).catch((e) => e)).message).includes(SAVED.secret),
      );
    }
  });
});
