/**
 * Whom the tools trust: the one place where a daemon's certificate, or an
 * HTCondor session without one, is judged. Every transport calls it before
 * anything leaves the process: the HTTPS dialer on every TLS connection
 * (tls_dialer.ts), HTCondor's SSL method inside CEDAR, and the CEDAR client
 * for sessions that proved the daemon some other way.
 *
 * The most explicit source wins when sources disagree:
 *
 * 1. the certificate must be valid for the host name the daemon was reached
 *    by, and not expired;
 * 2. fingerprints the user gave (`-trust`, TOKEND_TRUST): when there are
 *    any, the certificate must be one of them, whatever else vouches for it;
 * 3. the certificate file of a condor_tokend on this host (a tool on the
 *    daemon's host trusts its daemon without a prompt); then our known-hosts
 *    line for `host:port`: the certificate must be the one recorded there;
 * 4. a certificate authority this host trusts (the system's, or
 *    AUTH_SSL_CLIENT_CAFILE);
 * 5. HTCondor's own known-hosts line for the host;
 * 6. the user, asked on a terminal (trust on first use, remembered).
 *
 * Within one run, every later connection to the same daemon must present
 * the certificate judged first (or, when an authority vouched for it, one
 * it vouches for again): see {@link TrustSession}.
 *
 * @module
 */
import type { X509Certificate } from "node:crypto";
import { TrustError } from "../errors.ts";
import { FINGERPRINT_PREFIX, fingerprintOf, parseFingerprint } from "../api/fingerprint.ts";
import { certificateCoversHost, isLoopbackAddress } from "./_host_names.ts";
import type { PeerCertificate } from "./_peer_certificate.ts";
import { readHtcondorKnownHost, readKnownHosts, rememberKnownHost } from "./known_hosts.ts";

export { FINGERPRINT_PREFIX, fingerprintOf, parseFingerprint };
export type { PeerCertificate };

/** What the user is asked before trusting a daemon on first use. */
export interface TrustQuestion {
  /** `host:port`. */
  address: string;
  fingerprint: string;
  /** Names the certificate is valid for. */
  names: string[];
  /** Where the answer will be remembered. */
  knownHostsFile: string | undefined;
}

/** How to decide whether a daemon's certificate is trusted. */
export interface TrustPolicy {
  /** PEM text of extra CAs (AUTH_SSL_CLIENT_CAFILE); system CAs otherwise. */
  caPem?: string;
  /** Fingerprints the user vouched for (`-trust`, TOKEND_TRUST), normalised. */
  pins: readonly string[];
  /**
   * Fingerprints vouched for one daemon only, by its known-hosts key
   * (`host:port`): a resumed request's saved certificates, one per daemon
   * of the pool. They rank with `pins`, for that address alone.
   */
  pinsFor?: (key: string) => readonly string[];
  /**
   * Certificates of a condor_tokend on this host, read from its own files
   * (see local_certificates.ts): a tool on the daemon's host trusts its
   * daemon without a prompt.
   */
  localCertificates?: readonly { fingerprint: string; file: string }[];
  /** The known-hosts file; without one nothing is remembered. */
  knownHostsFile: string | undefined;
  /** Asks the user (on a terminal); absent when nobody can be asked. */
  ask?: (question: TrustQuestion) => Promise<boolean>;
  /** Wall clock, epoch milliseconds. */
  now: () => number;
  /** Timeout of a TLS handshake (default 10 s). */
  timeoutMs?: number;
}

/** Why a daemon was trusted. */
export type TrustBasis =
  /** Signed by a trusted certificate authority. */
  | "ca"
  /** Matches a fingerprint the user gave. */
  | "pinned"
  /** Matches the known-hosts entry. */
  | "known_host"
  /** The user accepted it at the prompt. */
  | "accepted"
  /** It is the certificate a condor_tokend on this host keeps in its own files. */
  | "local_cert"
  /** HTCondor's TOKEN method: the daemon proved it holds the key that signed our token. */
  | "token_proof"
  /** HTCondor's FS method to a daemon on this host's loopback address. */
  | "local_fs";

/** Why a daemon is trusted. */
export interface TrustJudgement {
  basis: TrustBasis;
  /** The certificate's fingerprint ("" for a session proven without a certificate). */
  fingerprint: string;
  /** The known-hosts file the decision was written to, if it was. */
  remembered?: string;
  /** The known-hosts fingerprint a matching pin replaced, if any. */
  replaced?: string;
  /** Names the certificate is valid for (none for a session proven without one). */
  names?: readonly string[];
  /** The daemon's own certificate file it matched (basis `local_cert`). */
  localFile?: string;
}

/**
 * Judges a certificate a daemon presented, in the order of the module
 * comment. `key` is the daemon's known-hosts key (`host:port`), `host` the
 * name or address it was reached by. Throws TrustError when it is not
 * trusted. Needs --allow-read and, to remember a host, --allow-write of the
 * known-hosts file.
 */
export async function judgeCertificate(
  cert: PeerCertificate,
  key: string,
  host: string,
  policy: TrustPolicy,
): Promise<TrustJudgement> {
  const where = `daemon at ${key}`;
  const names = () =>
    cert.names.length > 0 ? cert.names.map((n) => `"${n}"`).join(", ") : "no host name";
  if (!certificateCoversHost(cert.names, host)) {
    throw new TrustError(
      "TRUST_NAME_MISMATCH",
      `Cannot trust ${where}: its certificate (${cert.fingerprint})${
        cert.authorized ? " is signed by a trusted authority but" : ""
      } is for ${names()}, not "${host}"; address the daemon by one of those names`,
    );
  }
  if (cert.notAfter !== undefined && cert.notAfter < policy.now()) {
    throw new TrustError(
      "TRUST_CERT_EXPIRED",
      `Cannot trust ${where}: its certificate (${cert.fingerprint}) expired on ${
        new Date(cert.notAfter).toISOString()
      }; ask its administrator to renew it`,
    );
  }
  const trusted = (basis: TrustBasis, extra: Partial<TrustJudgement> = {}): TrustJudgement => ({
    basis,
    fingerprint: cert.fingerprint,
    names: cert.names,
    ...extra,
  });
  const known = policy.knownHostsFile === undefined
    ? undefined
    : (await readKnownHosts(policy.knownHostsFile)).get(key);
  const remember = async (extra: Partial<TrustJudgement> = {}) => {
    // An authority vouches for a CA-signed certificate; remembering it would
    // only stand in the way of its renewal.
    if (policy.knownHostsFile === undefined || cert.authorized) return extra;
    await rememberKnownHost(policy.knownHostsFile, key, cert.fingerprint);
    return { ...extra, remembered: policy.knownHostsFile };
  };

  // The user's own word for a certificate outranks every other source.
  const pins = [...policy.pins, ...(policy.pinsFor?.(key) ?? [])];
  if (pins.length > 0) {
    if (!pins.includes(cert.fingerprint)) {
      const vouched = cert.authorized
        ? " (although an authority this host trusts signed it)"
        : known === cert.fingerprint
        ? " (although the known-hosts file lists it)"
        : "";
      throw new TrustError(
        "TRUST_PIN_MISMATCH",
        `Cannot trust ${where}: its certificate fingerprint ${cert.fingerprint} matches none of the trusted fingerprints given (${
          pins.join(", ")
        })${vouched}`,
      );
    }
    return trusted(
      "pinned",
      await remember(known === undefined || known === cert.fingerprint ? {} : { replaced: known }),
    );
  }
  // The daemon's own certificate file on this host: only its owner could have put it there.
  const local = policy.localCertificates?.find((c) => c.fingerprint === cert.fingerprint);
  if (local !== undefined) return trusted("local_cert", { localFile: local.file });
  if (known !== undefined) {
    if (known === cert.fingerprint) return trusted("known_host");
    throw new TrustError(
      "TRUST_CHANGED",
      `Cannot trust ${where}: ITS CERTIFICATE HAS CHANGED since it was trusted (was ${known}, now ${cert.fingerprint}); this may be an attack. If the administrator confirms the new fingerprint, pass it with -trust or remove the line for ${key} from ${policy.knownHostsFile}`,
    );
  }
  if (cert.authorized) return trusted("ca");
  // A host trusted with HTCondor's own tools.
  const theirs = policy.knownHostsFile === undefined
    ? undefined
    : await readHtcondorKnownHost(policy.knownHostsFile, host);
  if (theirs?.permitted) {
    if (sameBytes(cert.der, theirs.der) || await chainsTo(cert, theirs.der)) {
      return trusted("known_host");
    }
    throw new TrustError(
      "TRUST_CHANGED",
      `Cannot trust ${where}: ITS CERTIFICATE HAS CHANGED since HTCondor's tools were told to trust "${host}" (the ${policy.knownHostsFile} line for it names another certificate; this one is ${cert.fingerprint}); this may be an attack. If the administrator confirms the new fingerprint, pass it with -trust`,
    );
  }
  if (!policy.ask) {
    const selfSigned = cert.authorizationError === "DEPTH_ZERO_SELF_SIGNED_CERT";
    const why = selfSigned
      ? "its certificate is self-signed and not yet known"
      : `its certificate is not signed by ${
        policy.caPem === undefined
          ? "an authority this host trusts"
          : "AUTH_SSL_CLIENT_CAFILE's authority"
      } (${cert.authorizationError ?? "unverified"}) and not yet known`;
    throw new TrustError(
      "TRUST_UNKNOWN",
      `Cannot trust ${where}: ${why}, with fingerprint ${cert.fingerprint}; confirm it with the pool administrator, then pass -trust ${cert.fingerprint} (or set TOKEND_TRUST)`,
    );
  }
  const yes = await policy.ask({
    address: key,
    fingerprint: cert.fingerprint,
    names: cert.names,
    knownHostsFile: policy.knownHostsFile,
  });
  if (!yes) {
    throw new TrustError(
      "TRUST_REFUSED",
      `Cannot trust ${where}: its certificate (${cert.fingerprint}) was not accepted`,
    );
  }
  return trusted("accepted", await remember());
}

/**
 * Trust in one daemon (`host:port`) for one run. The first certificate is
 * judged by {@link judgeCertificate} (asking the user at most once); every
 * later one must be the same certificate, so the connection that carries a
 * request, a secret or a credential shows exactly what was judged. The one
 * exception is a certificate an authority vouched for: a renewed one it
 * vouches for again is accepted, as any TLS client would.
 */
export class TrustSession {
  readonly key: string;
  readonly host: string;
  #policy: TrustPolicy;
  #onTrust: ((judgement: TrustJudgement) => void | Promise<void>) | undefined;
  #first: Promise<TrustJudgement> | undefined;
  #judged: TrustJudgement | undefined;

  constructor(
    key: string,
    host: string,
    policy: TrustPolicy,
    onTrust?: (judgement: TrustJudgement) => void | Promise<void>,
  ) {
    this.key = key;
    this.host = host;
    this.#policy = policy;
    this.#onTrust = onTrust;
  }

  /** The trust policy this session judges by. */
  get policy(): TrustPolicy {
    return this.#policy;
  }

  /** Why the daemon is trusted, once its first certificate or session was judged. */
  get judgement(): TrustJudgement | undefined {
    return this.#judged;
  }

  /**
   * Judges a certificate the daemon presented on a new connection. Throws
   * TrustError when it is not trusted; nothing may be sent on the
   * connection until this resolved.
   */
  async judge(cert: PeerCertificate): Promise<TrustJudgement> {
    if (this.#first === undefined) {
      this.#first = (async () => {
        const judgement = await judgeCertificate(cert, this.key, this.host, this.#policy);
        this.#judged = judgement;
        await this.#onTrust?.(judgement);
        return judgement;
      })();
      return await this.#first;
    }
    const first = await this.#first;
    if (cert.fingerprint === first.fingerprint) return first;
    if (first.basis === "ca" && cert.authorized) {
      const again = await judgeCertificate(cert, this.key, this.host, {
        ...this.#policy,
        ask: undefined,
      });
      if (again.basis === "ca") return again;
    }
    throw new TrustError(
      "TRUST_CHANGED",
      `Cannot trust daemon at ${this.key}: it presented another certificate (${cert.fingerprint}) than the one trusted at the start of this run (${
        first.fingerprint || "none"
      }); nothing was sent over that connection. This may be an attack; run the command again to judge the daemon afresh`,
    );
  }

  /**
   * Judges an HTCondor session that authenticated the daemon without a
   * certificate, or did not authenticate it at all, on a connection to the
   * IP address `peer` (see {@link judgeSession}). Throws TrustError when it
   * is not enough.
   */
  async judgeSession(proof: SessionProof, peer: string): Promise<TrustJudgement> {
    const judgement = judgeSession(proof, this.key, peer, this.#policy);
    if (this.#judged === undefined) {
      this.#judged = judgement;
      await this.#onTrust?.(judgement);
    }
    return judgement;
  }
}

/**
 * The trust sessions of one run, one per daemon address: a tool that
 * reaches the same daemon twice (as collector, then as the daemon it
 * located) judges it once and holds it to the same certificate.
 */
export class TrustSessions {
  #policy: TrustPolicy;
  #onTrust: ((judgement: TrustJudgement, key: string) => void | Promise<void>) | undefined;
  #sessions = new Map<string, TrustSession>();

  constructor(
    policy: TrustPolicy,
    onTrust?: (judgement: TrustJudgement, key: string) => void | Promise<void>,
  ) {
    this.#policy = policy;
    this.#onTrust = onTrust;
  }

  /** The session for the daemon known as `key` (`host:port`), reached by the name `host`. */
  for(key: string, host: string): TrustSession {
    let session = this.#sessions.get(key);
    if (session === undefined) {
      session = new TrustSession(key, host, this.#policy, (j) => this.#onTrust?.(j, key));
      this.#sessions.set(key, session);
    }
    return session;
  }
}

/**
 * Whether a credential may go to a daemon that was found through a
 * collector's directory rather than at an address the user gave. The
 * directory lists what daemons advertise, and any daemon of the pool may
 * advertise: one with a certificate a CA issued for its own host could
 * list another daemon's name at its own address. So trust that only a CA
 * vouches for is enough only when the certificate names the host of the
 * daemon name the user asked for (`-name NAME@HOST` or `-name HOST`);
 * trust the user gave explicitly (a pin, known_hosts, the prompt) or a
 * proof of the signing key always is. Throws TrustError.
 */
export function judgeListed(
  judgement: TrustJudgement | undefined,
  key: string,
  listedAs: string,
  askedName: string | undefined,
): void {
  if (judgement !== undefined && judgement.basis !== "ca" && judgement.basis !== "local_fs") {
    return;
  }
  const host = askedName?.slice(askedName.lastIndexOf("@") + 1);
  if (
    judgement?.basis === "ca" && host !== undefined && host !== "" &&
    certificateCoversHost(judgement.names ?? [], host)
  ) return;
  throw new TrustError(
    "TRUST_LISTED_UNPROVEN",
    `Cannot send a credential to the daemon at ${key}, which the collector's directory lists as "${listedAs}": ${
      host
        ? `its certificate is not for "${host}", the host of the name asked for`
        : "no -name NAME@HOST says which host its certificate must name"
    }, and any daemon of the pool can advertise a name; nothing was sent. Give -name NAME@HOST, pin its certificate with -trust, or address it directly with -pool`,
  );
}

/** How an HTCondor session was authenticated, when no certificate was judged. */
export type SessionProof =
  /** The TOKEN method succeeded: the daemon proved it holds the signing key. */
  | "token"
  /** The FS method succeeded: it proves us to the daemon, not the daemon to us. */
  | "fs"
  /** The daemon did not authenticate at all, or with a method that proves nothing of it. */
  | "none";

/**
 * Whether an HTCondor session on a connection to the IP address `peer`
 * proved the daemon (known as `key`) well enough to send it a command: the
 * TOKEN method's mutual proof of the signing key does; FS only proves us to
 * the daemon, so it is enough only when the connection goes to this host's
 * loopback address and the user gave no fingerprint (a pin names a
 * certificate, which such a session never shows); a session with no
 * authentication never is. (A session whose SSL certificate was judged by
 * {@link TrustSession.judge} needs nothing more.) Throws TrustError.
 */
export function judgeSession(
  proof: SessionProof,
  key: string,
  peer: string,
  policy: Pick<TrustPolicy, "pins">,
): TrustJudgement {
  const where = `daemon at ${key}`;
  if (proof === "token") return { basis: "token_proof", fingerprint: "" };
  if (proof === "fs") {
    if (!isLoopbackAddress(peer)) {
      throw new TrustError(
        "TRUST_UNPROVEN",
        `Cannot trust ${where}: it authenticated us with FS only, which proves nothing about the daemon unless it runs on this host's loopback address; nothing was sent to it. Offer SSL (SEC_CLIENT_AUTHENTICATION_METHODS) so that it proves itself with its certificate`,
      );
    }
    if (policy.pins.length > 0) {
      throw new TrustError(
        "TRUST_UNPROVEN",
        `Cannot trust ${where}: a certificate fingerprint was given (-trust or TOKEND_TRUST), but the daemon authenticated with FS and showed no certificate; nothing was sent to it. Offer SSL so that it shows its certificate, or drop the fingerprint for a daemon on this host`,
      );
    }
    return { basis: "local_fs", fingerprint: "" };
  }
  throw new TrustError(
    "TRUST_UNPROVEN",
    `Cannot trust ${where}: it did not prove who it is (it declined authentication, or chose a method that proves nothing of it); nothing was sent to it. This may be an attack, or a daemon whose security policy does not authenticate; SSL with a trusted certificate is required`,
  );
}

/**
 * Whether `cert` is signed, through the certificates the daemon sent with
 * it, by the CA certificate `anchorDer`. Merely sending the anchor along
 * proves nothing (it is public): each link's signature is checked.
 * node:crypto is loaded here, the only place that needs it (its start-up
 * cost is paid only by hosts trusted with HTCondor's known-hosts lines).
 */
async function chainsTo(cert: PeerCertificate, anchorDer: Uint8Array): Promise<boolean> {
  const { X509Certificate } = await import("node:crypto");
  const parse = (der: Uint8Array) => {
    try {
      return new X509Certificate(der);
    } catch {
      return undefined;
    }
  };
  const anchor = parse(anchorDer);
  let current = parse(cert.der);
  if (anchor === undefined || !anchor.ca || current === undefined) return false;
  const issuers = cert.chain.map(parse).filter((c): c is X509Certificate => c?.ca === true);
  const signs = (issuer: X509Certificate, subject: X509Certificate) =>
    subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  for (let depth = 0; depth <= issuers.length; depth++) {
    if (signs(anchor, current)) return true;
    const next: X509Certificate | undefined = issuers.find((c) =>
      c !== current && signs(c, current!)
    );
    if (next === undefined) return false;
    current = next;
  }
  return false;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
