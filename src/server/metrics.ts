/**
 * Counters for the metrics endpoint, rendered in Prometheus text format:
 * pending requests, decisions, issued tokens and rejected calls, and the
 * connections the HTTP server holds, refuses and closes. Counters
 * live in memory and start at zero with the process, as Prometheus expects.
 *
 * @module
 */

/** Counter values by label value. */
type Counter = Map<string, number>;

/** The daemon's counters. One instance per daemon; nothing global. */
export class Metrics {
  readonly #decisions: Counter = new Map();
  readonly #issued: Counter = new Map();
  readonly #rejected: Counter = new Map();
  readonly #enqueued: Counter = new Map();
  readonly #refusedConnections: Counter = new Map();
  readonly #connectionTimeouts: Counter = new Map();
  readonly #notifications: Counter = new Map();
  #openConnections = 0;
  #acceptErrors = 0;
  #tlsFailures = 0;

  /** Counts a decision: approve, deny, auto-approve, cancel, expire. */
  decision(kind: string, n = 1): void {
    bump(this.#decisions, kind, n);
  }

  /** Counts an issued token by how it was handed out: collect, auto-approval, fetch. */
  issued(via: string): void {
    bump(this.#issued, via);
  }

  /** Counts a refused call by its error code. */
  rejected(code: string): void {
    bump(this.#rejected, code);
  }

  /** Counts an accepted enqueue: new or repeated. */
  enqueued(kind: "new" | "repeat"): void {
    bump(this.#enqueued, kind);
  }

  /**
   * Counts a webhook notification: sent, retried (an attempt failed),
   * failed (given up after TOKEND_NOTIFY_RETRY_TIME), dropped (queue full).
   */
  notification(result: "sent" | "retried" | "failed" | "dropped"): void {
    bump(this.#notifications, result);
  }

  /** Counts a connection accepted and served. */
  connectionOpened(): void {
    this.#openConnections++;
  }

  /** Counts a served connection closed. */
  connectionClosed(): void {
    this.#openConnections--;
  }

  /** Counts a connection closed at once, over a cap: max_connections, max_connections_per_peer. */
  connectionRefused(reason: string): void {
    bump(this.#refusedConnections, reason);
  }

  /** Counts a connection closed because a deadline passed, by the phase it was in. */
  connectionTimedOut(phase: string): void {
    bump(this.#connectionTimeouts, phase);
  }

  /** Counts a failed accept (e.g. too many open files). */
  acceptFailed(): void {
    this.#acceptErrors++;
  }

  /** Counts a TLS handshake that failed (not one cut by its deadline). */
  tlsFailed(): void {
    this.#tlsFailures++;
  }

  /** The Prometheus text exposition, given the current gauges. */
  render(gauges: {
    pending: number;
    live: number;
    waiting: number;
    rules: number;
    /** Webhook notifications waiting to be sent. */
    notifyQueue?: number;
    /** Rules whose auto-approvals the circuit breaker holds. */
    heldRules?: number;
    /** 1 while all rules together reached TOKEND_AUTO_APPROVE_MAX_TOTAL. */
    totalHeld?: number;
  }): string {
    const lines: string[] = [];
    const gauge = (name: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    };
    const counter = (name: string, help: string, label: string, values: Counter) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [key, value] of [...values].sort(([a], [b]) => a.localeCompare(b))) {
        lines.push(`${name}{${label}="${escapeLabel(key)}"} ${value}`);
      }
    };
    gauge(
      "condor_tokend_pending_requests",
      "Token requests waiting for a decision.",
      gauges.pending,
    );
    gauge(
      "condor_tokend_live_requests",
      "Token requests pending or approved but not yet collected.",
      gauges.live,
    );
    gauge("condor_tokend_waiting_polls", "Requesters currently long-polling.", gauges.waiting);
    gauge("condor_tokend_auto_approval_rules", "Auto-approval rules in force.", gauges.rules);
    counter(
      "condor_tokend_enqueued_total",
      "Token requests accepted.",
      "kind",
      this.#enqueued,
    );
    counter(
      "condor_tokend_decisions_total",
      "Decisions taken on token requests.",
      "decision",
      this.#decisions,
    );
    counter("condor_tokend_issued_tokens_total", "Tokens issued.", "via", this.#issued);
    counter("condor_tokend_rejected_calls_total", "API calls refused.", "code", this.#rejected);
    gauge(
      "condor_tokend_auto_approval_rules_held",
      "Auto-approval rules the circuit breaker holds (TOKEND_AUTO_APPROVE_MAX_PER_RULE).",
      gauges.heldRules ?? 0,
    );
    gauge(
      "condor_tokend_auto_approval_total_held",
      "1 while all rules together reached TOKEND_AUTO_APPROVE_MAX_TOTAL, else 0.",
      gauges.totalHeld ?? 0,
    );
    gauge(
      "condor_tokend_notification_queue",
      "Webhook notifications waiting to be sent.",
      gauges.notifyQueue ?? 0,
    );
    counter(
      "condor_tokend_notifications_total",
      "Webhook notifications by outcome: sent, retried, failed, dropped.",
      "result",
      this.#notifications,
    );
    gauge("condor_tokend_open_connections", "Connections open now.", this.#openConnections);
    counter(
      "condor_tokend_refused_connections_total",
      "Connections closed at once because a connection cap was reached.",
      "reason",
      this.#refusedConnections,
    );
    counter(
      "condor_tokend_connection_timeouts_total",
      "Connections closed because a deadline passed, by phase.",
      "phase",
      this.#connectionTimeouts,
    );
    lines.push(
      "# HELP condor_tokend_accept_errors_total Connections the daemon failed to accept.",
      "# TYPE condor_tokend_accept_errors_total counter",
      `condor_tokend_accept_errors_total ${this.#acceptErrors}`,
      "# HELP condor_tokend_tls_handshake_failures_total TLS handshakes that failed.",
      "# TYPE condor_tokend_tls_handshake_failures_total counter",
      `condor_tokend_tls_handshake_failures_total ${this.#tlsFailures}`,
    );
    return lines.join("\n") + "\n";
  }
}

function bump(counter: Counter, key: string, n = 1): void {
  counter.set(key, (counter.get(key) ?? 0) + n);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
