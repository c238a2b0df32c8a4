/**
 * Manual page text several tools share: how the administrator's tools
 * authenticate, and where every tool reads its configuration from. Kept
 * here so that each page says it the same way.
 */

/** A manual page section: a title and paragraphs. */
export interface DocSection {
  title: string;
  paragraphs: readonly string[];
}

/** How the tools that act at a daemon find a credential. */
export const AUTHENTICATION: DocSection = {
  title: "Authentication",
  paragraphs: [
    "Every call is authenticated with an IDTOKEN the tool finds itself: first a token file in " +
    "SEC_TOKEN_DIRECTORY (default ~/.condor/tokens.d) and, when run as root, " +
    "SEC_TOKEN_SYSTEM_DIRECTORY (default /etc/condor/tokens.d), in file name order, whose " +
    "issuer is the daemon's trust domain and whose key the daemon holds; files other users " +
    "can read, and symbolic links, are skipped with a warning. Failing that, on the daemon's " +
    "own host, a signing key the daemon holds and this user can read (" +
    "SEC_TOKEN_POOL_SIGNING_KEY_FILE, or a key in SEC_PASSWORD_DIRECTORY): the tool mints a " +
    "5-minute token for condor@$(TRUST_DOMAIN) with it, which is exactly as powerful as " +
    "holding the key. With neither, the tool stops before asking anything, exit status 9.",
    "Administrators are the identities in the daemon's ALLOW_ADMINISTRATOR whose token has no " +
    "scope or a scope that includes ADMINISTRATOR. Anyone else sees, approves and denies only " +
    "requests for their own identity, approves only within their own token's scope and " +
    "remaining lifetime, and cannot install or remove rules. Against an HTCondor daemon the " +
    "same token is presented by HTCondor's IDTOKENS method (FS may authenticate you first on " +
    "its host), and HTCondor decides with its own ALLOW_ADMINISTRATOR.",
  ],
};

/** Where every tool's configuration comes from. */
export const CONFIGURATION: DocSection = {
  title: "Configuration",
  paragraphs: [
    "The HTCondor configuration is read as HTCondor's tools read it: the file named by " +
    "CONDOR_CONFIG (else /etc/condor/condor_config, ...), its LOCAL_CONFIG_FILE and " +
    "LOCAL_CONFIG_DIR, then _CONDOR_<KNOB> environment variables, which override the knob " +
    "<KNOB>. Conditions (if, elif, else) take defined, booleans and version comparisons, " +
    "made against HTCondor 25.14.0, the version these tools are compatible with.",
  ],
};

/** Trusting the daemon, for every tool that talks to one. */
export const TRUST: DocSection = {
  title: "Trusting the daemon",
  paragraphs: [
    "TLS is always used (with an HTCondor daemon, inside its own protocol). A certificate " +
    "signed by a CA the system trusts, or by AUTH_SSL_CLIENT_CAFILE, is trusted. A " +
    "self-signed one is trusted when its SHA-256 fingerprint is given with -trust or in the " +
    "knob TOKEND_TRUST, or recorded in the known-hosts file (TOKEND_KNOWN_HOSTS, else " +
    "SEC_KNOWN_HOSTS, else ~/.condor/known_hosts); on a terminal you are shown the " +
    "fingerprint and asked, and what you accept is recorded there. A changed certificate for " +
    "a known host is refused (exit status 8).",
  ],
};
