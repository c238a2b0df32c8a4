/**
 * HTCondor's built-in knob defaults for the knobs this project reads, as raw
 * values (expanded at lookup like any other value, so overriding UID_DOMAIN
 * changes TRUST_DOMAIN), plus the values HTCondor detects about the host.
 *
 * Sources: `src/condor_utils/param_info.in` for most defaults; the RPM and
 * Debian packaging of `condor_config` for the directory layout (RELEASE_DIR,
 * LOCAL_DIR, ETC, SPOOL, LOG, RUN, LOCK), because param_info's own layout
 * hangs off the home directory of a `condor` user that a login node without
 * HTCondor does not have; the daemon sources for the two token request
 * lifetimes, which are defaults in code rather than in param_info.
 *
 * @module
 */

/** What HTCondor would detect about the host and the user. */
/** HTCondor's default LOCAL_CONFIG_DIR_EXCLUDE_REGEXP: dot files, scripts, backups, package leftovers. */
export const DEFAULT_EXCLUDE_REGEXP =
  "^((\\..*)|(.*\\.pl)|(.*\\.py)|(.*\\.sh)|(.*~)|(#.*)|(.*\\.rpmsave)|(.*\\.rpmnew)|(.*\\.dpkg-old)|(.*\\.dpkg-dist)|(.*\\.cfsaved))$";

export interface HostFacts {
  /** Fully qualified host name. */
  readonly hostname: string;
  /** The user's home directory ($HOME), if known. */
  readonly home: string | undefined;
  /** The user's login name ($USER), if known. */
  readonly user: string | undefined;
}

/** Defaults that do not depend on the host, keyed by knob name. */
const DEFAULTS: Readonly<Record<string, string>> = {
  // Identity of the host and the pool.
  UID_DOMAIN: "$(FULL_HOSTNAME)",
  TRUST_DOMAIN: "$(UID_DOMAIN)",
  // HTCondor itself has no CONDOR_HOST default (COLLECTOR_HOST is then empty
  // and tools refuse to run); ours lets tools on a bare host try the host.
  CONDOR_HOST: "$(FULL_HOSTNAME)",
  COLLECTOR_HOST: "$(CONDOR_HOST)",
  COLLECTOR_PORT: "9618",
  NETWORK_INTERFACE: "*",
  DAEMON_LIST: "MASTER",

  // Directory layout of the RPM and Debian packages.
  RELEASE_DIR: "/usr",
  LOCAL_DIR: "/var",
  ETC: "/etc/condor",
  SPOOL: "$(LOCAL_DIR)/lib/condor/spool",
  LOG: "$(LOCAL_DIR)/log/condor",
  RUN: "$(LOCAL_DIR)/run/condor",
  LOCK: "$(LOCAL_DIR)/lock/condor",

  // How configuration is read.
  REQUIRE_LOCAL_CONFIG_FILE: "true",
  LOCAL_CONFIG_DIR_EXCLUDE_REGEXP: DEFAULT_EXCLUDE_REGEXP,
  USER_CONFIG_FILE: "user_config",

  // Signing keys and tokens.
  SEC_PASSWORD_DIRECTORY: "$(ETC)/passwords.d",
  SEC_PASSWORD_FILE: "$(SEC_PASSWORD_DIRECTORY)/POOL",
  SEC_TOKEN_POOL_SIGNING_KEY_FILE: "$(SEC_PASSWORD_FILE)",
  SEC_TOKEN_ISSUER_KEY: "POOL",
  SEC_TOKEN_SYSTEM_DIRECTORY: "$(ETC)/tokens.d",
  SEC_ENABLE_TOKEN_REQUEST: "true",
  SEC_TOKEN_REQUEST_LIFETIME: "3600",
  TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME: "3600",
  // HTCondor's methods, less those no tool here speaks (security metaknobs
  // build SEC_CLIENT_AUTHENTICATION_METHODS from it).
  SEC_DEFAULT_AUTHENTICATION_METHODS: "FS, IDTOKENS, SSL",

  // TLS: each is a list, the first file that exists wins.
  AUTH_SSL_SERVER_CERTFILE: "/etc/pki/tls/certs/localhost.crt,$(AUTH_SSL_AUTOGENERATE_CERTFILE)",
  AUTH_SSL_SERVER_KEYFILE: "/etc/pki/tls/private/localhost.key,$(AUTH_SSL_AUTOGENERATE_KEYFILE)",
  AUTH_SSL_AUTOGENERATE_CERTFILE: "$(ETC)/hostcert.pem",
  AUTH_SSL_AUTOGENERATE_KEYFILE: "$(ETC)/hostkey.pem",
};

/**
 * The built-in defaults, keyed by upper-case knob name. Knobs whose HTCondor
 * default is empty (ALLOW_ADMINISTRATOR, TOOL_DEBUG, SEC_ISSUED_TOKEN_EXPIRATION,
 * SEC_TOKEN_REQUEST_LIMITS, AUTH_SSL_CLIENT_CAFILE, LOCAL_CONFIG_FILE,
 * LOCAL_CONFIG_DIR) are absent, so they read as unset.
 */
export function builtinDefaults(facts: HostFacts): Map<string, string> {
  const defaults = new Map(Object.entries(DEFAULTS));
  if (facts.home !== undefined && facts.home !== "") {
    defaults.set("HOME", facts.home);
    // HTCondor finds the user's token directory under the home directory
    // itself; without a home there is no default rather than a wrong one.
    defaults.set("SEC_TOKEN_DIRECTORY", "$(HOME)/.condor/tokens.d");
  }
  return defaults;
}

/**
 * Values HTCondor detects and re-inserts after reading the configuration,
 * so that neither files nor the environment override them.
 */
export function detectedKnobs(facts: HostFacts): Map<string, string> {
  const detected = new Map([
    ["FULL_HOSTNAME", facts.hostname],
    ["HOSTNAME", facts.hostname.split(".")[0]],
  ]);
  if (facts.user !== undefined && facts.user !== "") detected.set("USERNAME", facts.user);
  return detected;
}
