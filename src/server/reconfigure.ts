/**
 * What SIGHUP can change in a running condor_tokend, as HTCondor's
 * condor_reconfig does for its daemons: every setting below is either
 * applied at once (the running daemon reads it at each call) or named as
 * needing a restart. One table, so the documentation and the code agree.
 *
 * @module
 */
import type { TokendSettings } from "./settings.ts";

/** Settings a running daemon takes from a new configuration, with the knob each comes from. */
export const LIVE_SETTINGS: readonly (readonly [keyof TokendSettings, string])[] = [
  ["allowAdministrator", "ALLOW_ADMINISTRATOR"],
  ["allowDaemon", "ALLOW_DAEMON"],
  ["poolUsernameEquivalent", "USE_POOL_USERNAME_EQUIVALENT"],
  ["enableTokenRequest", "SEC_ENABLE_TOKEN_REQUEST"],
  ["enableTokenFetch", "SEC_ENABLE_TOKEN_FETCH"],
  ["fetchAllowedKeys", "SEC_TOKEN_FETCH_ALLOWED_SIGNING_KEYS"],
  ["requestLimits", "SEC_TOKEN_REQUEST_LIMITS"],
  ["issuedTokenExpiration", "SEC_ISSUED_TOKEN_EXPIRATION"],
  ["requestLifetime", "SEC_TOKEN_REQUEST_LIFETIME"],
  ["autoApproveMaxLifetime", "TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME"],
  ["maxPending", "TOKEND_MAX_PENDING_REQUESTS"],
  ["maxPendingPerPeer", "TOKEND_MAX_PENDING_PER_PEER"],
  ["enqueueRatePerMinute", "TOKEND_RATE_LIMIT"],
  ["collectRatePerMinute", "TOKEND_COLLECT_RATE_LIMIT"],
  ["daemonAdLifetime", "TOKEND_DAEMON_AD_LIFETIME"],
  ["connections", "TOKEND_MAX_CONNECTIONS* and TOKEND_*_TIMEOUT"],
  ["certFiles", "AUTH_SSL_SERVER_CERTFILE"],
  ["keyFiles", "AUTH_SSL_SERVER_KEYFILE"],
  ["notify", "TOKEND_NOTIFY_*"],
  ["breaker", "TOKEND_AUTO_APPROVE_*"],
];

/** Settings that take effect only when the daemon starts, with their knobs. */
export const RESTART_SETTINGS: readonly (readonly [keyof TokendSettings, string])[] = [
  ["port", "the port (COLLECTOR_HOST, COLLECTOR_PORT or -port)"],
  ["networkInterface", "NETWORK_INTERFACE"],
  ["stateDirectory", "TOKEND_STATE_DIRECTORY"],
  ["allowPlainHttp", "TOKEND_ALLOW_PLAIN_HTTP"],
  ["trustDomain", "TRUST_DOMAIN"],
  ["keys", "SEC_TOKEN_POOL_SIGNING_KEY_FILE / SEC_PASSWORD_DIRECTORY"],
  ["issuerKey", "SEC_TOKEN_ISSUER_KEY"],
  ["addressFile", "TOKEND_ADDRESS_FILE"],
  ["daemonName", "TOKEND_DAEMON_NAME"],
  ["daemonType", "TOKEND_DAEMON_TYPE"],
  ["collectorUrl", "TOKEND_COLLECTOR_URL / COLLECTOR_HOST"],
  ["advertise", "TOKEND_ADVERTISE"],
  ["clientCaFiles", "AUTH_SSL_CLIENT_CAFILE"],
  // The store is opened once, at start: another database is another state.
  ["database", "TOKEND_DATABASE"],
  ["databasePasswordFile", "TOKEND_DATABASE_PASSWORD_FILE"],
];

/** What a new configuration changed. */
export interface SettingsChange {
  /** Knobs whose new values the running daemon now uses. */
  applied: string[];
  /** Knobs whose new values wait for a restart. */
  needRestart: string[];
}

/**
 * Copies the live settings of `next` into `current` (the object the running
 * daemon reads), and says which knobs changed and which changed but wait
 * for a restart (those keep their running values).
 */
export function applySettings(current: TokendSettings, next: TokendSettings): SettingsChange {
  const applied: string[] = [];
  const needRestart: string[] = [];
  const writable = current as unknown as Record<string, unknown>;
  for (const [key, knob] of LIVE_SETTINGS) {
    if (same(current[key], next[key])) continue;
    writable[key] = next[key];
    applied.push(knob);
  }
  for (const [key, knob] of RESTART_SETTINGS) {
    if (!same(current[key], next[key])) needRestart.push(knob);
  }
  return { applied, needRestart };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
