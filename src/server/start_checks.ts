/**
 * Everything condor_tokend checks before it creates anything: the signing
 * keys (and, when the POOL key is missing, that its directory exists and
 * is safe to create it in), the state directory and database files, the
 * TLS files and the address file's place. A mistyped path or an unsafe
 * file is refused here with one line, before a new key, directory,
 * database or certificate exists to be confused with the real one.
 *
 * @module
 */
import { CondorError, KeyError } from "../errors.ts";
import { fileErrorReason } from "../token/private_file.ts";
import { POOL_KEY_ID, readSigningKey } from "../token/signing_key.ts";
import { inspectTrusted, type TrustRule } from "../token/trusted_file.ts";
import { checkTlsIdentity } from "./certificate.ts";
import type { TokendSettings } from "./settings.ts";
import { checkStateDirectory, type StateDirectory } from "./state_directory.ts";

/** What the checks found that start-up must create. */
export interface StartPlan {
  /** The state directory and database, and whether they exist. */
  state: StateDirectory;
  /** SEC_TOKEN_POOL_SIGNING_KEY_FILE does not exist: a new POOL key is to be made. */
  createPoolKey: boolean;
}

/** A directory a new key may be created in: no link games with its contents, nobody else writing. */
const KEY_DIRECTORY_RULE: TrustRule = {
  kind: "directory",
  privateBits: 0o022,
  fixMode: 0o700,
  followSymlinks: true,
  checkOwner: true,
};

/**
 * Checks every file the daemon is configured to use, creating nothing.
 * Not AUTH_SSL_CLIENT_CAFILE: it may name the certificate this very start
 * creates, and is read when advertising starts. Throws a CondorError
 * naming the knob or path on the first problem. Needs --allow-read and
 * --allow-sys=uid.
 */
export async function checkBeforeStart(settings: TokendSettings): Promise<StartPlan> {
  const createPoolKey = await checkSigningKeys(settings);
  const state = await checkStateDirectory(settings.stateDirectory);
  if (!settings.allowPlainHttp) {
    await checkTlsIdentity(
      { certFiles: settings.certFiles, keyFiles: settings.keyFiles },
      state.exists ? state.path : undefined,
    );
  }
  if (settings.addressFile) await checkAddressFile(settings.addressFile);
  return { state, createPoolKey };
}

/**
 * The issuer key must be usable, unless it is the POOL key and that is to
 * be created. A missing POOL key may be created only in an existing
 * directory that nobody else may write: a missing directory means a
 * mistyped SEC_TOKEN_POOL_SIGNING_KEY_FILE (or no configuration at all),
 * and a new key there would silently split the daemon from its pool.
 * Returns whether the POOL key is to be created.
 */
async function checkSigningKeys(settings: TokendSettings): Promise<boolean> {
  const poolKeyFile = settings.keys.poolKeyFile;
  let poolExists: boolean;
  try {
    await Deno.stat(poolKeyFile);
    poolExists = true;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new KeyError(
        "KEY_UNREADABLE",
        `Cannot use SEC_TOKEN_POOL_SIGNING_KEY_FILE ${poolKeyFile}: ${fileErrorReason(err)}`,
        { cause: err },
      );
    }
    poolExists = false;
  }
  if (!poolExists) {
    const slash = poolKeyFile.lastIndexOf("/");
    const dir = slash < 0 ? "." : poolKeyFile.slice(0, slash) || "/";
    let inspection;
    try {
      inspection = await inspectTrusted(dir, KEY_DIRECTORY_RULE);
    } catch (err) {
      throw new KeyError(
        "KEY_DIRECTORY_MISSING",
        `Cannot create SEC_TOKEN_POOL_SIGNING_KEY_FILE ${poolKeyFile}: ${fileErrorReason(err)}`,
        { cause: err },
      );
    }
    if (inspection.info === undefined) {
      throw new KeyError(
        "KEY_DIRECTORY_MISSING",
        `Cannot create SEC_TOKEN_POOL_SIGNING_KEY_FILE ${poolKeyFile}: its directory ${dir} does not exist; correct the knob to name the pool's key, or create the directory (mode 0700) for a new key`,
      );
    }
    if (inspection.problem) {
      throw new KeyError(
        "KEY_INSECURE",
        `Cannot create SEC_TOKEN_POOL_SIGNING_KEY_FILE ${poolKeyFile}: its directory ${inspection.problem.reason}`,
      );
    }
  }
  if (poolExists || settings.issuerKey !== POOL_KEY_ID) await checkIssuerKey(settings);
  return !poolExists;
}

/** Reads SEC_TOKEN_ISSUER_KEY, saying that the daemon cannot work without it. */
export async function checkIssuerKey(settings: TokendSettings): Promise<void> {
  try {
    await readSigningKey(settings.issuerKey, settings.keys);
  } catch (err) {
    if (err instanceof KeyError) {
      throw new KeyError(err.code, `${err.message}; condor_tokend cannot issue tokens without it`, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Checks where TOKEND_ADDRESS_FILE goes: scripts find the daemon by it, so
 * nobody else may replace it. Its directory must exist, belong to this
 * user or root and be writable by nobody else (unless sticky, as /tmp);
 * an existing file must be a regular file of this user or root that nobody
 * else may write. Throws CondorError ADDRESS_FILE.
 */
async function checkAddressFile(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const checks: [string, TrustRule][] = [
    [dir, {
      kind: "directory",
      privateBits: 0o022,
      checkOwner: true,
      followSymlinks: true,
      allowSticky: true,
    }],
    [path, { kind: "file", privateBits: 0o022, fixMode: 0o644, checkOwner: true }],
  ];
  for (const [target, rule] of checks) {
    let inspection;
    try {
      inspection = await inspectTrusted(target, rule);
    } catch (err) {
      throw new CondorError(
        "ADDRESS_FILE",
        `Cannot use TOKEND_ADDRESS_FILE ${path}: ${fileErrorReason(err)}`,
        { cause: err },
      );
    }
    if (inspection.problem) {
      throw new CondorError(
        "ADDRESS_FILE",
        `Cannot use TOKEND_ADDRESS_FILE: ${inspection.problem.reason}`,
      );
    }
    if (target === dir && inspection.info === undefined) {
      throw new CondorError(
        "ADDRESS_FILE",
        `Cannot use TOKEND_ADDRESS_FILE ${path}: directory ${dir} does not exist`,
      );
    }
  }
}
