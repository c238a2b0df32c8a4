/**
 * The directory of token-issuing daemons that the collector-role daemon
 * keeps: daemons advertise their name, type and address, and an ad expires
 * unless renewed. `-name`/`-type` in the tools resolve against it. The
 * daemon always lists itself.
 *
 * @module
 */
import { type DaemonAd, daemonNameMatches } from "../api/protocol.ts";
import { scopeAllows } from "../token/authz.ts";
import { type Caller, isDaemonIdentity } from "./auth.ts";
import type { AuthPolicy } from "./auth.ts";
import { badRequest, forbidden, notAuthenticated } from "./refusal.ts";
import type { Store } from "./store/store.ts";

/** Longest an advertisement may ask to live, in seconds. */
export const MAX_AD_LIFETIME = 86_400;

/** The daemon directory over the store. */
export class DaemonDirectory {
  readonly #store: Store;
  readonly #self: () => DaemonAd;
  readonly #policy: AuthPolicy;
  readonly #defaultLifetime: number;
  readonly #now: () => number;

  constructor(options: {
    store: Store;
    /** This daemon's own ad (its address is known only once listening). */
    self: () => DaemonAd;
    policy: AuthPolicy;
    defaultLifetime: number;
    /** Epoch seconds. */
    now: () => number;
  }) {
    this.#store = options.store;
    this.#self = options.self;
    this.#policy = options.policy;
    this.#defaultLifetime = options.defaultLifetime;
    this.#now = options.now;
  }

  /** Daemons answering to `name` (see daemonNameMatches) and of `type`, this daemon first. */
  async list(query: { name?: string; type?: string }): Promise<DaemonAd[]> {
    const now = this.#now();
    const self = this.#self();
    const ads: DaemonAd[] = [
      self,
      ...(await this.#store.daemons(now))
        .filter((ad) => !(sameName(ad.name, self.name) && ad.type === self.type))
        .map((ad) => ({
          name: ad.name,
          type: ad.type,
          address: ad.address,
          lifetime: Math.max(0, ad.expiresAt - now),
        })),
    ];
    return ads.filter((ad) =>
      (query.name === undefined || daemonNameMatches(ad.name, query.name)) &&
      (query.type === undefined || ad.type === query.type.toUpperCase())
    );
  }

  /**
   * Records (or renews) an advertisement. The caller needs DAEMON
   * authorization: an identity in ALLOW_DAEMON or an administrator, with a
   * scope (if any) that includes DAEMON.
   */
  async advertise(caller: Caller, ad: DaemonAd): Promise<DaemonAd> {
    if (!caller.authenticated) {
      throw notAuthenticated(
        "NOT_AUTHENTICATED",
        "Cannot advertise daemon: this call needs a token (Authorization: Bearer)",
      );
    }
    if (
      !scopeAllows(caller.authz, "DAEMON") ||
      !isDaemonIdentity(caller.identity, caller.peer, this.#policy)
    ) {
      throw forbidden(
        "NOT_AUTHORIZED",
        `Cannot advertise daemon: "${caller.identity}" does not have DAEMON authorization`,
      );
    }
    const type = ad.type.toUpperCase();
    if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(type)) {
      throw badRequest("BAD_DAEMON_AD", `Cannot advertise daemon: type "${ad.type}" is not valid`);
    }
    if (ad.name === "" || ad.name.length > 255 || /\s/.test(ad.name)) {
      throw badRequest("BAD_DAEMON_AD", "Cannot advertise daemon: name is empty or not valid");
    }
    let url: URL;
    try {
      url = new URL(ad.address);
    } catch {
      throw badRequest(
        "BAD_DAEMON_AD",
        `Cannot advertise daemon: address "${ad.address}" is not a URL`,
      );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw badRequest("BAD_DAEMON_AD", "Cannot advertise daemon: address must be an https:// URL");
    }
    const lifetime = Math.min(ad.lifetime ?? this.#defaultLifetime, MAX_AD_LIFETIME);
    if (!(lifetime > 0)) {
      throw badRequest(
        "BAD_DAEMON_AD",
        "Cannot advertise daemon: lifetime must be greater than zero",
      );
    }
    const address = url.origin;
    const expiresAt = this.#now() + lifetime;
    await this.#store.transaction((tx) =>
      tx.upsertDaemon({ name: ad.name, type, address, expiresAt })
    );
    return { name: ad.name, type, address, lifetime };
  }
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
