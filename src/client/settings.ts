/**
 * The client's typed knobs: every configuration value a network tool reads
 * to find, trust and authenticate to a daemon, read once into
 * {@link ClientSettings} (as src/server/settings.ts does for the daemon), so
 * the rest of the client never parses configuration text. The knobs:
 *
 * - COLLECTOR_HOST, COLLECTOR_PORT (default 9618): where the pool's daemons
 *   are listed (-pool replaces COLLECTOR_HOST).
 * - SEC_TOKEN_DIRECTORY (default `$(HOME)/.condor/tokens.d`),
 *   SEC_TOKEN_SYSTEM_DIRECTORY (root only), LOCAL_CONFIG_DIR_EXCLUDE_REGEXP:
 *   the token files a tool presents, and which names in them to skip.
 * - SEC_TOKEN_POOL_SIGNING_KEY_FILE, SEC_PASSWORD_DIRECTORY,
 *   SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD: signing keys a tool may mint a
 *   token from when no token file is accepted.
 * - TOKEND_TRUST: fingerprints of self-signed daemon certificates to trust.
 * - AUTH_SSL_CLIENT_CAFILE: the certificate authorities a daemon's
 *   certificate may be signed by.
 * - TOKEND_KNOWN_HOSTS, else SEC_KNOWN_HOSTS, else `$(HOME)/.condor/known_hosts`:
 *   the known-hosts file.
 * - AUTH_SSL_SERVER_CERTFILE, TOKEND_STATE_DIRECTORY (else `$(SPOOL)/tokend`):
 *   the certificate files of a condor_tokend on this host.
 * - SEC_CLIENT_AUTHENTICATION_METHODS, else SEC_DEFAULT_AUTHENTICATION_METHODS,
 *   and TRUST_DOMAIN: what is offered to HTCondor daemons.
 *
 * @module
 */
import type { CondorConfig } from "../config/condor_config.ts";
import { ConfigError } from "../errors.ts";
import { type KeyLocations, keyLocationsOf } from "../token/signing_key.ts";
import type { MethodName } from "./cedar/handshake.ts";
import { DEFAULT_PORT } from "./locate.ts";
import { parseFingerprint } from "../api/fingerprint.ts";

/** Knob: the known-hosts file (default `$(HOME)/.condor/known_hosts`). */
export const KNOWN_HOSTS_KNOB = "TOKEND_KNOWN_HOSTS";
/** Knob: fingerprints (`sha256:...`) of self-signed daemon certificates to trust. */
export const TRUST_KNOB = "TOKEND_TRUST";

/** Knobs HTCondor's tools read for the methods a client offers, in order of precedence. */
export const CLIENT_METHODS_KNOBS = [
  "SEC_CLIENT_AUTHENTICATION_METHODS",
  "SEC_DEFAULT_AUTHENTICATION_METHODS",
] as const;

/** The file a condor_tokend keeps its self-signed certificate in, inside its state directory. */
const STATE_CERT_FILE = "tokend_cert.pem";

/** Everything a network tool takes from the configuration. */
export interface ClientSettings {
  /** COLLECTOR_HOST, as written; undefined when unset. */
  collectorHost: string | undefined;
  /**
   * COLLECTOR_PORT; its ConfigError when the value is not a number, thrown
   * only when a daemon is located (a resumed request goes straight to its
   * daemon and needs none).
   */
  collectorPort: number | ConfigError;
  /** Undefined when the tool presents no credential (it was not asked for; see below). */
  credentials: CredentialSettings | undefined;
  trust: TrustSettings;
  cedar: CedarSettings;
}

/** Where a tool's credential comes from. */
export interface CredentialSettings {
  /** SEC_TOKEN_DIRECTORY; undefined when it cannot be worked out (no HOME). */
  tokenDirectory: string | undefined;
  /** SEC_TOKEN_SYSTEM_DIRECTORY; undefined when unset or empty. */
  systemTokenDirectory: string | undefined;
  /** LOCAL_CONFIG_DIR_EXCLUDE_REGEXP: token file names to skip. */
  excludedFileNames: RegExp | undefined;
  /** The signing key files; undefined when the configuration names none. */
  keys: KeyLocations | undefined;
}

/** Where trust in a daemon's certificate may come from, besides the command line. */
export interface TrustSettings {
  /** TOKEND_TRUST: normalised `sha256:AB:...` fingerprints. */
  pins: string[];
  /** AUTH_SSL_CLIENT_CAFILE; undefined when unset or empty. */
  caFile: string | undefined;
  /** TOKEND_KNOWN_HOSTS, else SEC_KNOWN_HOSTS, else `$(HOME)/.condor/known_hosts`. */
  knownHostsFile: string | undefined;
  /** AUTH_SSL_SERVER_CERTFILE and the state directory's certificate: a local daemon's. */
  localCertificateFiles: string[];
}

/** What the native protocol takes from the configuration. */
export interface CedarSettings {
  /** Authentication methods to offer, in order. */
  methods: MethodName[];
  /** Methods the configuration lists that this tool cannot use. */
  ignored: string[];
  /** Where the methods came from, for messages. */
  source: string;
  trustDomain: string | undefined;
}

/**
 * Reads every knob of {@link ClientSettings}; the credential's only when
 * `options.credentials` is not false (the requester presents none, and a
 * bad key knob is none of its business). Throws ConfigError for a value
 * that cannot be used (a knob that is unset where a default makes no sense
 * gives undefined instead: having no credential is a case the tool explains).
 */
export function clientSettingsFromConfig(
  config: CondorConfig,
  options: { credentials?: boolean } = {},
): ClientSettings {
  const credentials = options.credentials === false ? undefined : {
    tokenDirectory: unlessMissing(() => tokenDirectoryOf(config)),
    systemTokenDirectory: config.get("SEC_TOKEN_SYSTEM_DIRECTORY")?.trim() || undefined,
    excludedFileNames: config.excludedFileNames(),
    keys: unlessMissing(() => keyLocationsOf(config)),
  };
  const trust = trustSettingsFromConfig(config);
  const cedar = cedarSettingsFromConfig(config);
  let collectorPort: number | ConfigError;
  try {
    collectorPort = config.int("COLLECTOR_PORT", DEFAULT_PORT);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    collectorPort = err;
  }
  return {
    collectorHost: config.get("COLLECTOR_HOST"),
    collectorPort,
    credentials,
    trust,
    cedar,
  };
}

/**
 * The user's token directory, SEC_TOKEN_DIRECTORY (default
 * `~/.condor/tokens.d`). Throws ConfigError CONFIG_MISSING when it cannot be
 * worked out (no HOME).
 */
export function tokenDirectoryOf(config: CondorConfig): string {
  const dir = config.get("SEC_TOKEN_DIRECTORY");
  // Unset by default without HOME; "/.condor/..." is a `$(HOME)/.condor/...`
  // written in a configuration file, expanded with HOME unset.
  if (!dir || dir.startsWith("/.condor/")) {
    throw new ConfigError(
      "CONFIG_MISSING",
      "Cannot find the token directory: HOME is not set; set SEC_TOKEN_DIRECTORY or HOME",
    );
  }
  return dir;
}

/**
 * Reads the trust knobs (see {@link TrustSettings}). Throws ConfigError
 * CONFIG_VALUE for a TOKEND_TRUST item that is not a fingerprint.
 */
export function trustSettingsFromConfig(config: CondorConfig): TrustSettings {
  const pins: string[] = [];
  for (const item of config.list(TRUST_KNOB)) {
    const fingerprint = parseFingerprint(item);
    if (!fingerprint) {
      throw new ConfigError(
        "CONFIG_VALUE",
        `Cannot use ${TRUST_KNOB}: "${item}" is not a SHA-256 fingerprint (sha256:AB:CD:...)`,
      );
    }
    pins.push(fingerprint);
  }
  const home = config.get("HOME")?.trim();
  const state = config.get("TOKEND_STATE_DIRECTORY")?.trim() ||
    (config.get("SPOOL")?.trim()
      ? `${config.get("SPOOL")!.trim().replace(/\/+$/, "")}/tokend`
      : "");
  return {
    pins,
    caFile: config.get("AUTH_SSL_CLIENT_CAFILE")?.trim() || undefined,
    knownHostsFile: config.get(KNOWN_HOSTS_KNOB)?.trim() ||
      config.get("SEC_KNOWN_HOSTS")?.trim() ||
      (home ? `${home.replace(/\/+$/, "")}/.condor/known_hosts` : undefined),
    localCertificateFiles: [
      ...config.list("AUTH_SSL_SERVER_CERTFILE"),
      ...(state ? [`${state.replace(/\/+$/, "")}/${STATE_CERT_FILE}`] : []),
    ],
  };
}

/** The methods offered when neither knob is set: local identity, token, then anonymous TLS. */
const DEFAULT_METHODS: readonly MethodName[] = ["FS", "TOKEN", "SSL"];

/** The native protocol's settings when the configuration says nothing. */
export function defaultCedarSettings(trustDomain: string | undefined): CedarSettings {
  return { methods: [...DEFAULT_METHODS], ignored: [], source: "the default", trustDomain };
}

/**
 * Reads SEC_CLIENT_AUTHENTICATION_METHODS (else
 * SEC_DEFAULT_AUTHENTICATION_METHODS) and TRUST_DOMAIN. IDTOKENS, IDTOKEN
 * and TOKENS all mean TOKEN, as in HTCondor. Throws ConfigError when the
 * list names none of the methods this tool speaks (FS, TOKEN, SSL).
 */
export function cedarSettingsFromConfig(config: CondorConfig): CedarSettings {
  const knob = CLIENT_METHODS_KNOBS.find((k) => (config.get(k) ?? "").trim() !== "");
  const trustDomain = config.get("TRUST_DOMAIN")?.trim() || undefined;
  if (knob === undefined) {
    return defaultCedarSettings(trustDomain);
  }
  const methods: MethodName[] = [];
  const ignored: string[] = [];
  for (const item of config.get(knob)!.split(/[\s,]+/).filter(Boolean)) {
    const upper = item.toUpperCase();
    const name = /^(ID)?TOKENS?$/.test(upper) ? "TOKEN" : upper;
    if ((name === "FS" || name === "TOKEN" || name === "SSL") && !methods.includes(name)) {
      methods.push(name);
    } else if (!methods.includes(name as MethodName) && !ignored.includes(item)) {
      ignored.push(item);
    }
  }
  if (methods.length === 0) {
    throw new ConfigError(
      "CONFIG_VALUE",
      `Cannot talk to HTCondor daemons with ${knob} = ${
        config.get(knob)!.trim()
      }: this tool authenticates with FS, IDTOKENS or SSL; add one of them`,
    );
  }
  return { methods, ignored, source: knob, trustDomain };
}

/**
 * `read()`, or undefined when the knobs it needs are unset: having no
 * credential is a case the tool explains; a knob with a bad value is not,
 * and is reported as such.
 */
function unlessMissing<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof ConfigError && err.code === "CONFIG_MISSING") return undefined;
    throw err;
  }
}
