/**
 * The token request state machine: enqueue, wait and collect, approve,
 * deny, cancel, auto-approval rules, expiry, and condor_token_fetch's
 * server side, with HTCondor's rules and texts. Every state change is one
 * store transaction together with its audit records.
 *
 * A token is minted only when it is handed over: approval records the
 * decision, and a collect in state `approved` mints the token and, in one
 * transaction, moves the request to `collected` only if it is still
 * `approved`; the token goes out only when that update changed the row. So
 * no token is ever at rest and no request yields two tokens.
 *
 * ```
 * pending --approve--> approved --collect--> collected
 *    |  \--deny--> denied          |
 *    |--cancel / expire--> cancelled / expired <--/
 * ```
 *
 * @module
 */
import {
  type AutoApproveResponse,
  type CollectResponse,
  type EnqueueResponse,
  type IssuedTokenInfo,
  type IssuedTokenListResponse,
  MAX_WAIT_SECONDS,
  MAX_WATCHERS,
  type RequestInfo,
  type RequestState,
  type RequestStateResponse,
  type RuleInfo,
  type WatchResponse,
} from "../api/protocol.ts";
import { createHash } from "node:crypto";
import { type Authorization, scopeAllows } from "../token/authz.ts";
import { type KeyResolver, mintToken } from "../token/idtoken.ts";
import type { SigningKey } from "../token/signing_key.ts";
import { auditLine, type AuditRecord } from "./audit.ts";
import { type Caller, wildcardMatch } from "./auth.ts";
import type { Metrics } from "./metrics.ts";
import type { Notification, NotifiedRequest } from "./notifier.ts";
import { badRequest, forbidden, notAuthenticated, Refusal } from "./refusal.ts";
import { addressInNetblock, matchingRule, parseNetblock, peerGroup } from "./rules.ts";
import type { TokendSettings } from "./settings.ts";
import type {
  SequencedAudit,
  Store,
  StoredBreaker,
  StoredRequest,
  StoredRule,
  StoreReads,
  StoreTransaction,
  TransitionFields,
} from "./store/store.ts";
import { ANY_REQUEST, type Waiters } from "./waiters.ts";

/** States from which a request can still change (its id is reserved). */
export const LIVE_STATES: readonly RequestState[] = ["pending", "approved"];

/** What the state machine needs. */
export interface TokenRequestsDeps {
  store: Store;
  waiters: Waiters;
  metrics: Metrics;
  settings: Pick<
    TokendSettings,
    | "trustDomain"
    | "issuerKey"
    | "enableTokenRequest"
    | "enableTokenFetch"
    | "fetchAllowedKeys"
    | "requestLimits"
    | "issuedTokenExpiration"
    | "requestLifetime"
    | "autoApproveMaxLifetime"
    | "maxPending"
    | "maxPendingPerPeer"
    | "breaker"
  >;
  /** Signing keys by name (the issuer key and any named key for fetch). */
  keys: KeyResolver;
  /** Wall clock, milliseconds since the epoch (a fake one in tests). */
  now: () => number;
  /** One line per event; never a token or secret. */
  log: (line: string) => void;
  /**
   * Told of each committed change a webhook reports (notifier.ts); must
   * return at once. Only the daemon that committed a change reports it.
   */
  notify?: (note: Notification) => void;
}

/** A validated enqueue call. */
export interface EnqueueInput {
  identity: string;
  authz: Authorization[];
  lifetime: number | null;
  clientId: string;
  secret: string;
  caller: Caller;
}

/** Finished requests are forgotten this long after their deadline (HTCondor: one hour). */
const FORGET_AFTER_SECONDS = 3600;

/** The request state machine over one store. */
export class TokenRequests {
  readonly #deps: TokenRequestsDeps;
  /** Administrators' watch calls in progress. */
  #watchers = 0;

  constructor(deps: TokenRequestsDeps) {
    this.#deps = deps;
  }

  /** Epoch seconds on the daemon's clock. */
  nowSeconds(): number {
    return Math.floor(this.#deps.now() / 1000);
  }

  /**
   * Enqueues a request, or returns the live request already holding the same
   * secret (`created: false`). When an auto-approval rule matches, the token
   * is minted and returned at once and the request is stored as collected.
   */
  async enqueue(input: EnqueueInput): Promise<{ created: boolean; response: EnqueueResponse }> {
    const { settings, store } = this.#deps;
    if (!settings.enableTokenRequest) {
      throw forbidden("TOKEN_REQUEST_DISABLED", "Token request disabled.");
    }
    const authz = this.#boundedAuthz(input.authz);
    const lifetime = this.#cappedLifetime(input.lifetime);
    const secretHash = sha256Hex(input.secret);
    const now = this.nowSeconds();
    const existing = await this.#liveBySecret(secretHash);
    if (existing) return { created: false, response: this.#enqueueReply(existing) };

    const candidate = {
      requestedIdentity: input.identity,
      authorizations: authz,
      peerLocation: input.caller.peer,
      requestedAt: now,
      lifetime,
    };
    const rule = matchingRule(candidate, await store.activeRules(now), now);
    let minted: { token: string; jti: string; exp: number | undefined } | undefined;
    if (rule) {
      // Minted before the transaction (signing is async); handed out only if it commits.
      const { token, claims } = await mintToken(await this.#issuerKey(), {
        identity: input.identity,
        issuer: settings.trustDomain,
        now,
        lifetime: lifetime ?? undefined,
        authz,
      });
      minted = { token, jti: claims.jti, exp: claims.exp };
    }
    // Built anew on each run of the transaction (an engine may run it again).
    let records: AuditRecord[] = [];
    let notes: Notification[] = [];
    let expiry: AuditRecord | undefined;
    let expiredRequest: StoredRequest | undefined;
    // Whether the rule's approval went through the circuit breaker.
    let admitted = false;
    const outcome = await store.transaction(async (tx) => {
      records = [];
      notes = [];
      expiry = undefined;
      expiredRequest = undefined;
      admitted = false;
      const again = await tx.liveBySecret(secretHash);
      if (again && again.expiresAt > now) return { created: false, request: again };
      // The same secret's request, past its deadline: expired first, as a lookup would.
      if (again) {
        expiry = await this.#expireIn(tx, again, now);
        expiredRequest = again;
      }
      if (minted && rule) {
        const gate = await this.#admit(tx, rule, now);
        admitted = gate.admitted;
        records.push(...gate.records);
        notes.push(...gate.notes);
      }
      // The caps keep room for requests that wait for a decision. One an
      // auto-approval rule decides at once never waits, so never counts.
      if (!admitted) await this.#assertRoomFor(tx, input.caller.peer);
      const request = await tx.insertRequest({
        id: await this.#newRequestId(tx),
        secretHash,
        requestedIdentity: input.identity,
        authenticatedIdentity: input.caller.identity,
        peerLocation: input.caller.peer,
        clientId: input.clientId,
        authorizations: authz,
        lifetime,
        state: admitted ? "collected" : "pending",
        requestedAt: now,
        expiresAt: now + settings.requestLifetime,
        decidedAt: admitted ? now : null,
        decidedBy: admitted && rule ? ruleActor(rule.netblock) : null,
        reason: null,
        jti: admitted ? minted!.jti : null,
      });
      records.push({
        at: now,
        event: "enqueue",
        requestId: request.id,
        actor: input.caller.identity,
        detail: {
          identity: input.identity,
          authz,
          lifetime,
          peer: input.caller.peer,
          clientId: input.clientId,
        },
      });
      if (admitted && minted && rule) {
        await tx.countRuleApprovals(rule.seq, 1);
        records.push({
          at: now,
          event: "auto-approve",
          requestId: request.id,
          actor: ruleActor(rule.netblock),
          detail: { rule: rule.seq, netblock: rule.netblock, ruleExpiresAt: rule.expiresAt },
        }, {
          at: now,
          event: "issue",
          requestId: request.id,
          actor: ruleActor(rule.netblock),
          detail: {
            jti: minted.jti,
            identity: input.identity,
            authz,
            exp: minted.exp,
            peer: input.caller.peer,
            rule: rule.seq,
          },
        });
      }
      for (const record of records) await tx.appendAudit(record);
      return { created: true, request };
    });
    if (expiry !== undefined) {
      this.#announce([expiry]);
      this.#deps.metrics.decision("expire");
      this.#deps.waiters.notify(expiry.requestId!);
      this.#notifyExpired(expiredRequest!, now);
    }
    this.#announce(records);
    notes.forEach((note) => this.#notify(note));
    if (outcome.created) this.#deps.waiters.notify(outcome.request.id);
    this.#deps.metrics.enqueued(outcome.created ? "new" : "repeat");
    if (!outcome.created) return { created: false, response: this.#enqueueReply(outcome.request) };
    if (outcome.request.state === "pending") {
      this.#notify({ event: "request.pending", at: now, request: notified(outcome.request) });
    }
    if (admitted) {
      this.#deps.metrics.decision("auto-approve");
      this.#deps.metrics.issued("auto-approval");
    }
    const response = this.#enqueueReply(outcome.request);
    // A token minted for a rule the breaker held is dropped unseen.
    if (admitted) response.token = minted!.token;
    return { created: true, response };
  }

  /**
   * The requester's collect: checks the secret, then answers at once unless
   * the request is pending, in which case it waits (up to `waitSeconds`,
   * capped at MAX_WAIT_SECONDS) for a state change. An approved request is
   * answered with its token, exactly once. Once `signal` has aborted (the
   * requester went away) no token is issued: the request stays approved for
   * the requester's next collect.
   */
  async collect(
    id: string,
    secret: string,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<CollectResponse> {
    const secretHash = sha256Hex(secret);
    const waitMs = Math.min(Math.max(waitSeconds, 0), MAX_WAIT_SECONDS) * 1000;
    const deadline = performance.now() + waitMs;
    while (true) {
      const request = await this.#ownedRequest(id, secretHash);
      if (request.state === "approved" && !signal?.aborted) {
        return await this.#issue(request, signal);
      }
      const remaining = deadline - performance.now();
      if (request.state !== "pending" || remaining <= 0 || signal?.aborted) {
        return collectReply(request);
      }
      const untilExpiry = Math.max(0, request.expiresAt - this.nowSeconds()) * 1000 + 5;
      const woke = await this.#deps.waiters.wait(id, Math.min(remaining, untilExpiry), signal);
      if (woke === "closing" || woke === "aborted") {
        return collectReply(await this.#ownedRequest(id, secretHash));
      }
    }
  }

  /** The requester withdraws its request. Cancelling twice is harmless. */
  async cancel(id: string, secret: string): Promise<RequestStateResponse> {
    const request = await this.#ownedRequest(id, sha256Hex(secret));
    if (request.state === "cancelled") return stateReply(request);
    if (!LIVE_STATES.includes(request.state)) throw wrongState();
    const now = this.nowSeconds();
    const changed = await this.#change(request, "cancelled", { decidedAt: now }, {
      at: now,
      event: "cancel",
      requestId: request.id,
      actor: "requester",
      detail: { from: request.state },
    });
    if (!changed) throw wrongState();
    this.#deps.metrics.decision("cancel");
    this.#notify({
      event: "request.cancelled",
      at: now,
      request: notified(request),
      actor: "requester",
      from: request.state,
    });
    return { requestId: request.id, state: "cancelled" };
  }

  /** Pending requests the caller may see: all for administrators, its own identity's otherwise. */
  async list(caller: Caller, requestId?: string): Promise<RequestInfo[]> {
    requireAuthenticated(caller, "list token requests");
    // A past deadline hides a request here; the periodic sweep records its
    // expiry, so an administrator's GET never writes to the store.
    const now = this.nowSeconds();
    return (await this.#deps.store.pending(requestId))
      .filter((r) => r.expiresAt > now)
      .filter((r) => caller.administrator || r.requestedIdentity === caller.identity)
      .map(requestInfo);
  }

  /**
   * An administrator's long poll for new requests: every pending request,
   * answered at once when `after` is undefined or names another set of
   * pending requests than the current one, else as soon as the set changes
   * (a request arrives, here or at another daemon sharing the store; one is
   * decided or expires), else after `waitSeconds` (capped at
   * MAX_WAIT_SECONDS) or when `signal` aborts. At most MAX_WATCHERS at once.
   */
  async watch(
    caller: Caller,
    after: string | undefined,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<WatchResponse> {
    requireAdministrator(caller, "watch token requests");
    if (this.#watchers >= MAX_WATCHERS) {
      throw new Refusal(
        503,
        "TOO_MANY_WATCHERS",
        `Cannot watch token requests: ${MAX_WATCHERS} watches are open already, the most this daemon keeps`,
        { headers: { "retry-after": "10" } },
      );
    }
    this.#watchers++;
    try {
      const waitMs = Math.min(Math.max(waitSeconds, 0), MAX_WAIT_SECONDS) * 1000;
      const deadline = performance.now() + waitMs;
      while (true) {
        const now = this.nowSeconds();
        const pending = (await this.#deps.store.pending()).filter((r) => r.expiresAt > now);
        const cursor = watchCursor(pending);
        const remaining = deadline - performance.now();
        if (after !== cursor || remaining <= 0 || signal?.aborted) {
          return { requests: pending.map(requestInfo), cursor };
        }
        // A pending request's deadline passing changes the set too.
        const untilExpiry = Math.min(...pending.map((r) => r.expiresAt - now)) * 1000 + 5;
        const woke = await this.#deps.waiters.wait(
          ANY_REQUEST,
          Math.min(remaining, untilExpiry),
          signal,
        );
        if (woke === "closing") after = undefined;
      }
    } finally {
      this.#watchers--;
    }
  }

  /**
   * Approves a pending request. Non-administrators approve only requests for
   * their own identity, within their token's scope and remaining lifetime.
   * Approving an approved (or already collected) request is harmless.
   */
  async approve(id: string, caller: Caller): Promise<RequestStateResponse> {
    requireAuthenticated(caller, "approve token request");
    const request = await this.#current(id);
    if (!request) throw unknownRequest("Request unknown.");
    this.#authorizeDecision(request, caller, true);
    if (request.state === "approved" || request.state === "collected") return stateReply(request);
    if (request.state !== "pending") throw wrongState();
    const now = this.nowSeconds();
    const changed = await this.#change(request, "approved", {
      decidedAt: now,
      decidedBy: caller.identity,
      // The requester now has as long to collect as it had to wait.
      expiresAt: now + this.#deps.settings.requestLifetime,
    }, {
      at: now,
      event: "approve",
      requestId: request.id,
      actor: caller.identity,
      detail: {
        identity: request.requestedIdentity,
        authz: request.authorizations,
        lifetime: request.lifetime,
        administrator: caller.administrator,
      },
    });
    if (!changed) throw wrongState();
    this.#deps.metrics.decision("approve");
    this.#notify({
      event: "request.approved",
      at: now,
      request: notified(request),
      actor: caller.identity,
    });
    return { requestId: request.id, state: "approved" };
  }

  /** Denies a pending request with an optional reason the requester is shown. */
  async deny(
    id: string,
    caller: Caller,
    reason: string | undefined,
  ): Promise<RequestStateResponse> {
    requireAuthenticated(caller, "deny token request");
    const request = await this.#current(id);
    if (!request) throw unknownRequest("Request unknown.");
    this.#authorizeDecision(request, caller, false);
    if (request.state === "denied") return stateReply(request);
    if (request.state !== "pending") throw wrongState();
    const now = this.nowSeconds();
    const changed = await this.#change(request, "denied", {
      decidedAt: now,
      decidedBy: caller.identity,
      reason: reason ?? "",
    }, {
      at: now,
      event: "deny",
      requestId: request.id,
      actor: caller.identity,
      detail: { identity: request.requestedIdentity, reason: reason ?? "" },
    });
    if (!changed) throw wrongState();
    this.#deps.metrics.decision("deny");
    this.#notify({
      event: "request.denied",
      at: now,
      request: notified(request),
      actor: caller.identity,
      reason: reason ?? "",
    });
    return { requestId: request.id, state: "denied" };
  }

  /**
   * Installs an auto-approval rule (administrators only) and approves, in
   * the same transaction, every pending request it (or another rule in
   * force) matches. A lifetime above TOKEN_REQUEST_AUTO_APPROVE_MAX_LIFETIME
   * is capped to it, as HTCondor does.
   */
  async installRule(
    caller: Caller,
    netblock: string,
    lifetime: number,
  ): Promise<AutoApproveResponse> {
    requireAdministrator(caller, "install auto-approval rule");
    const { store, settings } = this.#deps;
    const capped = Math.min(lifetime, settings.autoApproveMaxLifetime);
    if (!(capped > 0)) {
      throw badRequest(
        "RULE_BAD_LIFETIME",
        "Auto-approval rule lifetimes must be greater than zero.",
      );
    }
    if (!parseNetblock(netblock)) {
      throw badRequest("RULE_BAD_NETBLOCK", "Auto-approval rule netblock invalid.");
    }
    const now = this.nowSeconds();
    let records: AuditRecord[] = [];
    const rule = { netblock: netblock.trim(), issuedAt: now, expiresAt: now + capped };
    let approvedRequests: StoredRequest[] = [];
    let notes: Notification[] = [];
    const { seq, approved } = await store.transaction(async (tx) => {
      records = [];
      approvedRequests = [];
      notes = [];
      const { seq } = await tx.insertRule({ ...rule, createdBy: caller.identity });
      records.push({
        at: now,
        event: "rule",
        actor: caller.identity,
        detail: { rule: seq, netblock: rule.netblock, lifetime: capped, expiresAt: rule.expiresAt },
      });
      const rules = await tx.activeRules(now);
      const ids: string[] = [];
      for (const request of await tx.pending()) {
        if (request.expiresAt <= now) continue;
        const match = matchingRule(request, rules, now);
        if (!match) continue;
        const gate = await this.#admit(tx, match, now);
        records.push(...gate.records);
        notes.push(...gate.notes);
        if (!gate.admitted) continue;
        const changed = await tx.transition(request.seq, ["pending"], "approved", {
          decidedAt: now,
          decidedBy: ruleActor(match.netblock),
          expiresAt: now + settings.requestLifetime,
        });
        if (!changed) continue;
        await tx.countRuleApprovals(match.seq, 1);
        records.push({
          at: now,
          event: "auto-approve",
          requestId: request.id,
          actor: ruleActor(match.netblock),
          detail: {
            rule: match.seq,
            identity: request.requestedIdentity,
            authz: request.authorizations,
          },
        });
        ids.push(request.id);
        approvedRequests.push({ ...request, decidedBy: ruleActor(match.netblock) });
      }
      for (const record of records) await tx.appendAudit(record);
      return { seq, approved: ids };
    });
    this.#announce(records);
    this.#deps.metrics.decision("auto-approve", approved.length);
    approved.forEach((id) => this.#deps.waiters.notify(id));
    this.#notify({
      event: "rule.installed",
      at: now,
      rule: { ruleId: seq, netblock: rule.netblock, expiresAt: rule.expiresAt },
      actor: caller.identity,
    });
    notes.forEach((note) => this.#notify(note));
    for (const request of approvedRequests) {
      this.#notify({
        event: "request.approved",
        at: now,
        request: notified(request),
        actor: request.decidedBy ?? undefined,
      });
    }
    return {
      ruleId: seq,
      netblock: rule.netblock,
      lifetime: capped,
      expiresAt: rule.expiresAt,
      approved,
    };
  }

  /** The auto-approval rules in force, oldest first (administrators only). */
  async listRules(caller: Caller): Promise<RuleInfo[]> {
    requireAdministrator(caller, "list auto-approval rules");
    const now = this.nowSeconds();
    const { store } = this.#deps;
    const breakers = await store.breakers();
    return (await store.activeRules(now)).map((rule) => this.#withBreaker(rule, breakers, now));
  }

  /** /metrics: how many rules the breaker holds, and whether all rules together are held. */
  async breakerGauges(): Promise<{ heldRules: number; totalHeld: number }> {
    const now = this.nowSeconds();
    const { store } = this.#deps;
    const breakers = await store.breakers();
    const rules = (await store.activeRules(now)).map((r) => this.#withBreaker(r, breakers, now));
    return {
      heldRules: rules.filter((r) => r.held).length,
      totalHeld: this.#held(breakers.find((b) => b.rule === 0), now) ? 1 : 0,
    };
  }

  /**
   * `condor_token_request_auto_approve -resume`: lets rule `ruleId` (in
   * force) auto-approve again now, its count for the window starting over;
   * when all rules together were held, so are they no longer. Requests
   * held meanwhile stay pending for a human. Administrators only; audited.
   */
  async resumeRule(caller: Caller, ruleId: number): Promise<RuleInfo> {
    requireAdministrator(caller, "resume auto-approval rule");
    const { store } = this.#deps;
    const now = this.nowSeconds();
    const window = this.#window(now);
    let records: AuditRecord[] = [];
    const rule = await store.transaction(async (tx) => {
      records = [];
      const total = await tx.lockBreaker(0);
      const rule = (await tx.activeRules(now)).find((r) => r.seq === ruleId);
      if (rule === undefined) return undefined;
      const own = await tx.lockBreaker(ruleId);
      const wasHeld = this.#held(own, now) ? "rule" : this.#held(total, now) ? "total" : null;
      await tx.saveBreaker({
        rule: ruleId,
        windowStart: Math.max(window, own.windowStart),
        approved: 0,
        heldSince: null,
      });
      if (this.#held(total, now)) {
        await tx.saveBreaker({
          rule: 0,
          windowStart: Math.max(window, total.windowStart),
          approved: 0,
          heldSince: null,
        });
      }
      records.push({
        at: now,
        event: "rule-resume",
        actor: caller.identity,
        detail: { rule: rule.seq, netblock: rule.netblock, held: wasHeld },
      });
      for (const record of records) await tx.appendAudit(record);
      return rule;
    });
    if (rule === undefined) {
      throw ruleUnknown("resume", ruleId);
    }
    this.#announce(records);
    this.#notify({
      event: "rule.resumed",
      at: now,
      rule: { ruleId: rule.seq, netblock: rule.netblock, expiresAt: rule.expiresAt },
      actor: caller.identity,
    });
    return this.#withBreaker(rule, await store.breakers(), now);
  }

  /**
   * Removes the rule in force with ID `ruleId` (administrators only), in one
   * transaction with its audit record; returns it as it was. Requests it
   * approved stay approved.
   */
  async removeRule(caller: Caller, ruleId: number): Promise<RuleInfo> {
    requireAdministrator(caller, "remove auto-approval rule");
    const { store } = this.#deps;
    const now = this.nowSeconds();
    // Built anew on each run of the transaction (an engine may run it again).
    let records: AuditRecord[] = [];
    const removed = await store.transaction(async (tx) => {
      records = [];
      const rule = await tx.removeRule(ruleId, now);
      if (rule === undefined) return undefined;
      records.push({
        at: now,
        event: "rule-remove",
        actor: caller.identity,
        detail: {
          rule: rule.seq,
          netblock: rule.netblock,
          createdBy: rule.createdBy,
          expiresAt: rule.expiresAt,
          approved: rule.approved,
        },
      });
      for (const record of records) await tx.appendAudit(record);
      return rule;
    });
    if (removed === undefined) {
      throw ruleUnknown("remove", ruleId);
    }
    this.#announce(records);
    const breakers = await store.breakers();
    this.#notify({
      event: "rule.removed",
      at: now,
      rule: { ruleId: removed.seq, netblock: removed.netblock, expiresAt: removed.expiresAt },
      actor: caller.identity,
    });
    return this.#withBreaker(removed, breakers, now);
  }

  /**
   * condor_token_fetch's server side: a token for the caller's own identity,
   * never broader than the caller's own (HTCondor's DC_GET_SESSION_TOKEN rules).
   */
  async fetch(
    caller: Caller,
    requested: { authz: Authorization[]; lifetime: number | null; key?: string },
  ): Promise<string> {
    const { settings } = this.#deps;
    if (!settings.enableTokenFetch) {
      throw forbidden("TOKEN_FETCH_DISABLED", "Token fetch disabled.");
    }
    if (!caller.authenticated) {
      throw notAuthenticated(
        "NOT_AUTHENTICATED",
        "Server did not successfully authenticate session.",
      );
    }
    let kid = settings.issuerKey;
    if (requested.key !== undefined) {
      if (!settings.fetchAllowedKeys.some((p) => wildcardMatch(p, requested.key!))) {
        throw forbidden("KEY_NOT_ALLOWED", "Server will not sign with requested key.");
      }
      kid = requested.key;
    }
    const key = await this.#deps.keys(kid);
    if (!key) throw forbidden("KEY_UNAVAILABLE", "Server does not have access to configured key.");
    let authz: string[] = requested.authz;
    if (authz.length > 0 && caller.authz.length > 0) {
      authz = authz.filter((a) => scopeAllows(caller.authz, a));
      if (authz.length === 0) {
        throw forbidden(
          "AUTHZ_NOT_ALLOWED",
          "Session doesn't allow requested authorization levels.",
        );
      }
    } else if (authz.length === 0) {
      authz = caller.authz;
    }
    const now = this.nowSeconds();
    let lifetime = this.#cappedLifetime(requested.lifetime);
    if (caller.expiresAt !== undefined) {
      const remaining = Math.max(0, caller.expiresAt - now);
      if (lifetime === null || lifetime > remaining) lifetime = remaining;
    }
    const { token, claims } = await mintToken(key, {
      identity: caller.identity,
      issuer: settings.trustDomain,
      now,
      lifetime: lifetime ?? undefined,
      authz: authz as Authorization[],
    });
    const record: AuditRecord = {
      at: now,
      event: "fetch",
      actor: caller.identity,
      detail: {
        jti: claims.jti,
        identity: caller.identity,
        authz,
        exp: claims.exp,
        key: kid,
        peer: caller.peer,
      },
    };
    await this.#deps.store.transaction((tx) => tx.appendAudit(record));
    this.#announce([record]);
    this.#deps.metrics.issued("fetch");
    return token;
  }

  /**
   * The tokens this daemon issued (administrators only), newest first, from
   * the audit trail: at most `limit`, only those issued to `identity` and to
   * requests (or fetches) from addresses in `peer` (a netblock) when given,
   * and only those recorded before the cursor `before`. Scans at most
   * ISSUED_SCAN_MAX records per call; `next` is set when more may follow.
   */
  async listIssued(
    caller: Caller,
    options: { identity?: string; peer?: string; before?: number; limit: number },
  ): Promise<IssuedTokenListResponse> {
    requireAdministrator(caller, "list issued tokens");
    if (options.peer !== undefined && !parseNetblock(options.peer)) {
      throw badRequest(
        "BAD_NETBLOCK",
        `Cannot list issued tokens: ${JSON.stringify(options.peer)} is not a netblock`,
      );
    }
    const tokens: IssuedTokenInfo[] = [];
    const trails = new Map<string, Promise<AuditRecord[]>>();
    let cursor = options.before;
    let scanned = 0;
    while (tokens.length < options.limit && scanned < ISSUED_SCAN_MAX) {
      const batch = await this.#deps.store.issuedRecords(cursor, ISSUED_BATCH);
      for (const row of batch) {
        cursor = row.seq;
        scanned++;
        const info = await issuedInfo(row, (id) => {
          let trail = trails.get(id);
          if (trail === undefined) trails.set(id, trail = this.#deps.store.auditTrail(id));
          return trail;
        });
        if (info === undefined) continue;
        if (options.identity !== undefined && info.identity !== options.identity) continue;
        if (
          options.peer !== undefined &&
          (info.peer === null || !addressInNetblock(info.peer, options.peer))
        ) continue;
        tokens.push(info);
        if (tokens.length === options.limit) break;
      }
      if (batch.length < ISSUED_BATCH && tokens.length < options.limit) {
        return { tokens };
      }
    }
    return cursor === undefined ? { tokens } : { tokens, next: String(cursor) };
  }

  /**
   * Expires live requests whose deadline passed (waking their pollers) and
   * forgets old finished requests, expired rules and daemon ads. Returns the
   * number of requests expired, or undefined when another daemon sharing
   * the store is sweeping at the same time (so each sweep runs once).
   */
  async sweep(): Promise<number | undefined> {
    const { store } = this.#deps;
    const now = this.nowSeconds();
    let records: AuditRecord[] = [];
    let expired: string[] = [];
    let expiredRequests: StoredRequest[] = [];
    // One transaction (one fsync) for the whole sweep: committing each
    // expiry alone blocked the event loop for a quarter second per thousand.
    const swept = await store.transaction(async (tx) => {
      records = [];
      expired = [];
      expiredRequests = [];
      for (const request of await tx.liveDue(now)) {
        if (!await tx.transition(request.seq, [request.state], "expired", {})) continue;
        const record = expiryRecord(request, now);
        await tx.appendAudit(record);
        records.push(record);
        expired.push(request.id);
        expiredRequests.push(request);
      }
      await tx.pruneFinished(now - FORGET_AFTER_SECONDS);
      await tx.pruneRules(now - FORGET_AFTER_SECONDS);
      await tx.pruneDaemons(now);
      return true;
    }, { exclusive: "sweep" });
    if (swept === undefined) return undefined;
    // Only what has committed is announced and wakes pollers.
    this.#announce(records);
    if (expired.length > 0) this.#deps.metrics.decision("expire", expired.length);
    expired.forEach((id) => this.#deps.waiters.notify(id));
    for (const request of expiredRequests) this.#notifyExpired(request, now);
    return expired.length;
  }

  // --- internals --------------------------------------------------------

  /**
   * Refuses a request that would wait for a decision when the queue is full:
   * TOKEND_MAX_PENDING_REQUESTS live requests in all (503, HTCondor's text),
   * or TOKEND_MAX_PENDING_PER_PEER pending ones from `peer`'s address (429),
   * so that one address cannot fill the queue for everyone else.
   */
  async #assertRoomFor(tx: StoreTransaction, peer: string): Promise<void> {
    const { settings } = this.#deps;
    const perPeer = settings.maxPendingPerPeer;
    if (perPeer > 0 && await tx.countPendingFrom(peer) >= perPeer) {
      throw new Refusal(
        429,
        "TOO_MANY_PENDING_FROM_PEER",
        `Cannot enqueue token request: ${
          peerGroup(peer)
        } already has ${perPeer} requests waiting for a decision, the most TOKEND_MAX_PENDING_PER_PEER allows`,
        { headers: { "retry-after": "60" } },
      );
    }
    if (await tx.countLive() >= settings.maxPending) {
      throw new Refusal(503, "TOO_MANY_REQUESTS", "Too many requests in the system.", {
        headers: { "retry-after": "60" },
      });
    }
  }

  /** Epoch seconds the breaker's current window began. */
  #window(now: number): number {
    const interval = this.#deps.settings.breaker.interval;
    return now - (now % interval);
  }

  /**
   * Whether `b` counts for the current window. A window later than ours is
   * current too: another daemon sharing the store, whose clock runs a
   * little ahead, has begun it, and going back to ours would start the
   * count over for each other's requests in turn.
   */
  #inWindow(b: StoredBreaker, now: number): boolean {
    return b.windowStart >= this.#window(now);
  }

  /** Whether `b` holds in the current window (a new window lets it go). */
  #held(b: StoredBreaker | undefined, now: number): boolean {
    return b !== undefined && b.heldSince !== null && this.#inWindow(b, now);
  }

  /** A rule as -list shows it, with its breaker's state. */
  #withBreaker(rule: StoredRule, breakers: readonly StoredBreaker[], now: number): RuleInfo {
    const own = breakers.find((b) => b.rule === rule.seq);
    const total = breakers.find((b) => b.rule === 0);
    const heldBy = this.#held(own, now) ? "rule" : this.#held(total, now) ? "total" : undefined;
    const info = ruleInfo(rule);
    info.held = heldBy !== undefined;
    if (heldBy !== undefined) {
      info.heldBy = heldBy;
      info.heldSince = (heldBy === "rule" ? own : total)!.heldSince!;
    }
    info.windowApproved = own && this.#inWindow(own, now) ? own.approved : 0;
    return info;
  }

  /**
   * The circuit breaker on auto-approval, inside the transaction that would
   * approve a request by `rule`: counts the approval in the rule's and the
   * total's fixed window, unless that reaches TOKEND_AUTO_APPROVE_MAX_PER_RULE
   * or _MAX_TOTAL, in which case the request is not admitted (it waits for
   * a human) and, the first time in the window, the hold is audited and
   * notified. The counts live in the store, locked for the transaction, so
   * daemons sharing it count together and record each hold once. A window
   * that ends with a hold resumes the rule (audited and notified too).
   */
  async #admit(
    tx: StoreTransaction,
    rule: StoredRule,
    now: number,
  ): Promise<{ admitted: boolean; records: AuditRecord[]; notes: Notification[] }> {
    const { maxPerRule, maxTotal, interval } = this.#deps.settings.breaker;
    const window = this.#window(now);
    const records: AuditRecord[] = [];
    const notes: Notification[] = [];
    const about = { ruleId: rule.seq, netblock: rule.netblock, expiresAt: rule.expiresAt };
    const roll = (b: StoredBreaker): StoredBreaker => {
      if (this.#inWindow(b, now)) return b;
      if (b.heldSince !== null) {
        const limit = b.rule === 0 ? "total" : "rule";
        records.push({
          at: now,
          event: "rule-resume",
          actor: "daemon",
          detail: { rule: b.rule === 0 ? "all" : b.rule, held: limit, windowStart: window },
        });
        notes.push({ event: "rule.resumed", at: now, rule: { ...about, limit }, actor: "daemon" });
      }
      return { rule: b.rule, windowStart: window, approved: 0, heldSince: null };
    };
    // The total first: every transaction locks in the same order.
    const total = roll(await tx.lockBreaker(0));
    const own = roll(await tx.lockBreaker(rule.seq));
    let admitted = false;
    if (own.heldSince === null && total.heldSince === null) {
      const limit = maxPerRule > 0 && own.approved >= maxPerRule
        ? "rule"
        : maxTotal > 0 && total.approved >= maxTotal
        ? "total"
        : undefined;
      if (limit === undefined) {
        own.approved++;
        total.approved++;
        admitted = true;
      } else {
        (limit === "rule" ? own : total).heldSince = now;
        const max = limit === "rule" ? maxPerRule : maxTotal;
        records.push({
          at: now,
          event: "rule-hold",
          actor: "daemon",
          detail: { rule: rule.seq, netblock: rule.netblock, limit, max, interval },
        });
        notes.push({
          event: "rule.held",
          at: now,
          rule: { ...about, limit, max, interval },
          actor: "daemon",
        });
      }
    }
    await tx.saveBreaker(total);
    await tx.saveBreaker(own);
    return { admitted, records, notes };
  }

  /** SEC_TOKEN_REQUEST_LIMITS: requested levels outside it are dropped; none requested means all of it. */
  #boundedAuthz(requested: Authorization[]): Authorization[] {
    const limits = this.#deps.settings.requestLimits;
    if (limits.length === 0) return requested;
    if (requested.length === 0) return [...new Set(limits)].sort();
    const kept = requested.filter((a) => limits.includes(a));
    if (kept.length === 0) {
      throw forbidden(
        "AUTHZ_ELIMINATED",
        "All requested authorizations were eliminated by the SEC_TOKEN_REQUEST_LIMITS setting",
      );
    }
    return kept;
  }

  /** SEC_ISSUED_TOKEN_EXPIRATION caps a requested lifetime and is used when none was requested. */
  #cappedLifetime(requested: number | null): number | null {
    const cap = this.#deps.settings.issuedTokenExpiration;
    if (cap === undefined) return requested;
    return requested === null || requested > cap ? cap : requested;
  }

  async #issuerKey(): Promise<SigningKey> {
    const key = await this.#deps.keys(this.#deps.settings.issuerKey);
    if (!key) {
      throw new Refusal(
        503,
        "NO_SIGNING_KEY",
        "Server does not have a signing key configured.",
      );
    }
    return key;
  }

  /**
   * Mints the approved request's token and hands it over if this call wins
   * the transition, unless `signal` aborted meanwhile (nobody to hand it to).
   */
  async #issue(request: StoredRequest, signal?: AbortSignal): Promise<CollectResponse> {
    const now = this.nowSeconds();
    const lifetime = this.#cappedLifetime(request.lifetime);
    const { token, claims } = await mintToken(await this.#issuerKey(), {
      identity: request.requestedIdentity,
      issuer: this.#deps.settings.trustDomain,
      now,
      lifetime: lifetime ?? undefined,
      authz: request.authorizations as Authorization[],
    });
    // Checked after the await that minted the token and right before the
    // transition that commits it: a token minted for a gone requester is dropped.
    if (signal?.aborted) return collectReply(request);
    const record: AuditRecord = {
      at: now,
      event: "issue",
      requestId: request.id,
      actor: request.decidedBy ?? undefined,
      detail: {
        jti: claims.jti,
        identity: request.requestedIdentity,
        authz: request.authorizations,
        exp: claims.exp,
        peer: request.peerLocation,
      },
    };
    const won = await this.#change(request, "collected", { jti: claims.jti }, record, [
      "approved",
    ]);
    if (!won) {
      const now = await this.#deps.store.bySeq(request.seq) ?? request;
      return collectReply(now);
    }
    this.#deps.metrics.issued("collect");
    return {
      requestId: request.id,
      state: "collected",
      expiresAt: request.expiresAt,
      token,
    };
  }

  /** Non-administrators may decide only on their own identity's requests, within their token. */
  #authorizeDecision(request: StoredRequest, caller: Caller, approving: boolean): void {
    if (caller.administrator) return;
    if (request.requestedIdentity !== caller.identity) {
      // HTCondor's words for approving; denying is ours, and says so.
      throw forbidden(
        "NOT_AUTHORIZED",
        `Insufficient privilege to ${approving ? "approve" : "deny"} request.`,
      );
    }
    if (!approving) return;
    if (caller.authz.length > 0) {
      const within = request.authorizations.length > 0 &&
        request.authorizations.every((a) => scopeAllows(caller.authz, a));
      if (!within) {
        throw forbidden(
          "SCOPE_RESTRICTED",
          "Insufficient privilege to approve request (scope restricted).",
        );
      }
    }
    if (caller.expiresAt !== undefined) {
      const lifetime = this.#cappedLifetime(request.lifetime);
      if (lifetime === null || this.nowSeconds() + lifetime > caller.expiresAt) {
        throw forbidden(
          "LIFETIME_EXCEEDED",
          "Insufficient privilege to approve request (lifetime).",
        );
      }
    }
  }

  /** The request a requester means by `id`, after its secret checked out. */
  async #ownedRequest(id: string, secretHash: string): Promise<StoredRequest> {
    const request = await this.#current(id);
    if (!request) throw unknownRequest("Request ID is not known.");
    if (!constantTimeEqual(request.secretHash, secretHash)) {
      throw forbidden(
        "SECRET_INCORRECT",
        "Cannot use token request: the requester secret is incorrect",
      );
    }
    return request;
  }

  /** `store.byId` with lazy expiry applied. */
  async #current(id: string): Promise<StoredRequest | undefined> {
    const request = await this.#deps.store.byId(id);
    if (!request) return undefined;
    const now = this.nowSeconds();
    if (LIVE_STATES.includes(request.state) && request.expiresAt <= now) {
      await this.#expire(request, now);
      return await this.#deps.store.bySeq(request.seq);
    }
    return request;
  }

  async #liveBySecret(secretHash: string): Promise<StoredRequest | undefined> {
    const request = await this.#deps.store.liveBySecret(secretHash);
    if (!request) return undefined;
    const now = this.nowSeconds();
    if (request.expiresAt <= now) {
      await this.#expire(request, now);
      return undefined;
    }
    return request;
  }

  async #expire(request: StoredRequest, now: number): Promise<boolean> {
    const changed = await this.#change(request, "expired", {}, expiryRecord(request, now));
    if (changed) {
      this.#deps.metrics.decision("expire");
      this.#notifyExpired(request, now);
    }
    return changed;
  }

  /**
   * Expires `request` inside `tx`; returns its audit record, stored, to
   * announce after the commit (undefined when it had changed meanwhile).
   */
  async #expireIn(
    tx: StoreTransaction,
    request: StoredRequest,
    now: number,
  ): Promise<AuditRecord | undefined> {
    if (!await tx.transition(request.seq, [request.state], "expired", {})) return undefined;
    const record = expiryRecord(request, now);
    await tx.appendAudit(record);
    return record;
  }

  /** One guarded transition plus its audit record, in one transaction; wakes pollers. */
  async #change(
    request: StoredRequest,
    to: RequestState,
    fields: TransitionFields,
    record: AuditRecord,
    from: readonly RequestState[] = [request.state],
  ): Promise<boolean> {
    const changed = await this.#deps.store.transaction(async (tx) => {
      if (!await tx.transition(request.seq, from, to, fields)) return false;
      await tx.appendAudit(record);
      return true;
    });
    if (changed) {
      this.#announce([record]);
      this.#deps.waiters.notify(request.id);
    }
    return changed;
  }

  async #newRequestId(reads: StoreReads): Promise<string> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const id = randomRequestId();
      if (!await reads.isLiveId(id)) return id;
    }
    throw new Refusal(503, "NO_REQUEST_ID", "Unable to generate new request ID");
  }

  #enqueueReply(request: StoredRequest): EnqueueResponse {
    return { requestId: request.id, state: request.state, expiresAt: request.expiresAt };
  }

  #announce(records: readonly AuditRecord[]): void {
    for (const record of records) this.#deps.log(auditLine(record));
  }

  /** Reports a committed change to the notifier, if there is one. */
  #notify(note: Notification): void {
    this.#deps.notify?.(note);
  }

  #notifyExpired(request: StoredRequest, now: number): void {
    this.#notify({
      event: "request.expired",
      at: now,
      request: notified(request),
      actor: "daemon",
      from: request.state,
    });
  }
}

/** Names a set of pending requests (by their row numbers): 32 hex digits. */
function watchCursor(pending: readonly StoredRequest[]): string {
  return sha256Hex(pending.map((r) => r.seq).sort((a, b) => a - b).join(",")).slice(0, 32);
}

/** Issued-token records read from the store at a time. */
const ISSUED_BATCH = 500;
/** Most issued-token records one listing call reads before it hands back a cursor. */
const ISSUED_SCAN_MAX = 20_000;

/**
 * The public view of an `issue` or `fetch` audit record; undefined for one
 * without a token ID. A record made before the peer (and the rule) were
 * recorded with the issue gets them from its request's audit trail.
 */
async function issuedInfo(
  row: SequencedAudit,
  trailOf: (requestId: string) => Promise<AuditRecord[]>,
): Promise<IssuedTokenInfo | undefined> {
  const { record } = row;
  const detail = record.detail ?? {};
  if (typeof detail.jti !== "string") return undefined;
  const actor = record.actor ?? null;
  const fetched = record.event === "fetch";
  const byRule = !fetched && actor !== null && actor.startsWith(RULE_ACTOR_PREFIX);
  let peer = typeof detail.peer === "string" ? detail.peer : null;
  let ruleId = typeof detail.rule === "number" ? detail.rule : undefined;
  if (record.requestId !== undefined && (peer === null || (byRule && ruleId === undefined))) {
    // The request's trail, up to this issue (a request ID is reused once its request is done).
    const trail = await trailOf(record.requestId);
    const at = trail.findIndex((r) => r.event === "issue" && r.detail?.jti === detail.jti);
    const before = trail.slice(0, at < 0 ? trail.length : at).reverse();
    const enqueue = before.find((r) => r.event === "enqueue");
    if (peer === null && typeof enqueue?.detail?.peer === "string") peer = enqueue.detail.peer;
    const auto = before.find((r) => r.event === "auto-approve");
    if (ruleId === undefined && byRule && typeof auto?.detail?.rule === "number") {
      ruleId = auto.detail.rule;
    }
  }
  const info: IssuedTokenInfo = {
    jti: detail.jti,
    identity: typeof detail.identity === "string" ? detail.identity : "",
    authorizations: Array.isArray(detail.authz) ? detail.authz.map(String) : [],
    issuedAt: record.at,
    expiresAt: typeof detail.exp === "number" ? detail.exp : null,
    requestId: record.requestId ?? null,
    peer,
    how: fetched ? "fetch" : byRule ? "auto-approval" : "approved",
    approvedBy: actor,
  };
  if (ruleId !== undefined) info.ruleId = ruleId;
  return info;
}

/** A uniformly random 7-digit, zero-padded id from the CSPRNG. */
export function randomRequestId(): string {
  const limit = Math.floor(0x1_0000_0000 / 10_000_000) * 10_000_000;
  const buf = new Uint32Array(1);
  do crypto.getRandomValues(buf); while (buf[0] >= limit);
  return String(buf[0] % 10_000_000).padStart(7, "0");
}

/**
 * Lower-case hex SHA-256 of a UTF-8 string. Synchronous node:crypto rather
 * than Web Crypto: every enqueue, collect and cancel hashes a secret, and
 * crypto.subtle.digest's trip to a worker thread and back cost more than
 * the hashing itself.
 */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Compares two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** A request as a notification shows it: no secret hash, no token id. */
function notified(request: StoredRequest): NotifiedRequest {
  return {
    requestId: request.id,
    requestedIdentity: request.requestedIdentity,
    authenticatedIdentity: request.authenticatedIdentity,
    peerLocation: request.peerLocation,
    clientId: request.clientId,
    authorizations: request.authorizations,
    lifetime: request.lifetime,
    expiresAt: request.expiresAt,
  };
}

/** The public view of a request. */
export function requestInfo(request: StoredRequest): RequestInfo {
  return {
    requestId: request.id,
    requestedIdentity: request.requestedIdentity,
    authenticatedIdentity: request.authenticatedIdentity,
    peerLocation: request.peerLocation,
    clientId: request.clientId,
    authorizations: request.authorizations,
    lifetime: request.lifetime,
    state: request.state,
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
  };
}

function collectReply(request: StoredRequest): CollectResponse {
  const reply: CollectResponse = {
    requestId: request.id,
    state: request.state,
    expiresAt: request.expiresAt,
  };
  if (request.state === "denied") reply.reason = request.reason ?? "";
  return reply;
}

function stateReply(request: StoredRequest): RequestStateResponse {
  return { requestId: request.id, state: request.state };
}

/** The audit record of a request expiring at `now`. */
function expiryRecord(request: StoredRequest, now: number): AuditRecord {
  return {
    at: now,
    event: "expire",
    requestId: request.id,
    actor: "daemon",
    detail: { from: request.state, deadline: request.expiresAt },
  };
}

/** How the audit trail names a rule as the actor. */
const RULE_ACTOR_PREFIX = "auto-approval rule ";

function ruleActor(netblock: string): string {
  return `${RULE_ACTOR_PREFIX}${netblock}`;
}

/** The public view of a rule. */
function ruleInfo(rule: StoredRule): RuleInfo {
  return {
    ruleId: rule.seq,
    netblock: rule.netblock,
    createdBy: rule.createdBy,
    createdAt: rule.issuedAt,
    expiresAt: rule.expiresAt,
    approved: rule.approved,
  };
}

/** Refuses a caller that is not an administrator (401 when not authenticated at all). */
function requireAdministrator(caller: Caller, action: string): void {
  requireAuthenticated(caller, action);
  if (!caller.administrator) {
    throw forbidden(
      "NOT_AUTHORIZED",
      `Cannot ${action}: "${caller.identity}" does not have ADMINISTRATOR authorization`,
    );
  }
}

function requireAuthenticated(caller: Caller, action: string): void {
  if (!caller.authenticated) {
    throw notAuthenticated(
      "NOT_AUTHENTICATED",
      `Cannot ${action}: this call needs a token (Authorization: Bearer)`,
    );
  }
}

function unknownRequest(message: string): Refusal {
  return new Refusal(404, "REQUEST_UNKNOWN", message);
}

function wrongState(): Refusal {
  return new Refusal(409, "WRONG_STATE", "Request in incorrect state.");
}

/** 404: no rule with ID `ruleId` is in force to `verb` ("resume", "remove"). */
function ruleUnknown(verb: string, ruleId: number): Refusal {
  return new Refusal(
    404,
    "RULE_UNKNOWN",
    `Cannot ${verb} auto-approval rule ${ruleId}: no rule with that ID is in force`,
  );
}
