/**
 * TLS trust in a daemon. Certificates signed by a trusted authority (the
 * system's, or AUTH_SSL_CLIENT_CAFILE) are verified as usual. A daemon with a
 * self-signed certificate is trusted on first use, like ssh: its SHA-256
 * fingerprint must match a pin given by the user, or an entry in the
 * known-hosts file, or be accepted by the user at a prompt; what was trusted
 * is remembered, and a changed certificate for a known host is refused.
 *
 * @module
 */
import tls from "node:tls";
import { DaemonError, TokenFileError, TrustError } from "../errors.ts";
import { DAEMON_ERRORS } from "./daemon_client.ts";
import { fileErrorReason, writePrivateFile } from "../token/private_file.ts";
import { FINGERPRINT_PREFIX, fingerprintOf, parseFingerprint, toPem } from "../api/fingerprint.ts";

export { FINGERPRINT_PREFIX, fingerprintOf, parseFingerprint };

/** What a daemon presented in its TLS handshake. */
export interface PeerCertificate {
  /** `sha256:AB:CD:...` of the leaf certificate's DER bytes. */
  fingerprint: string;
  /** The leaf certificate, DER. */
  der: Uint8Array;
  /** The leaf certificate, PEM. */
  pem: string;
  /** DNS names and IP addresses it is valid for (subjectAltName). */
  names: string[];
  /** End of validity, epoch milliseconds, when known. */
  notAfter: number | undefined;
  /** Whether the chain verified against the CAs in use (system or `ca`). */
  authorized: boolean;
  /** Why it did not verify, as the TLS library says it. */
  authorizationError: string | undefined;
  /** DER of the certificates the daemon sent above its own (its CA's, for HTCondor). */
  chain: Uint8Array[];
}

/**
 * Connects to `host:port`, completes a TLS handshake without rejecting the
 * certificate, and returns what the daemon presented. Needs --allow-net.
 */
export async function readPeerCertificate(
  host: string,
  port: number,
  options: { caPem?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<PeerCertificate> {
  const address = `${bracketed(host)}:${port}`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { raw, names, notAfter, authorized, authorizationError, chain } = await new Promise<{
    raw: Uint8Array;
    names: string[];
    notAfter: number | undefined;
    authorized: boolean;
    authorizationError: string | undefined;
    chain: Uint8Array[];
  }>((resolve, reject) => {
    const socket = tls.connect({
      host: unbracketed(host),
      port,
      // SNI carries host names only, never addresses.
      servername: isIpAddress(host) ? undefined : host,
      rejectUnauthorized: false,
      ca: options.caPem === undefined ? undefined : [options.caPem],
    });
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      // Settle only once the socket is closed, so no resource outlives the call.
      socket.once("close", outcome);
      socket.destroy();
    };
    const fail = (code: string, reason: string, cause?: unknown) =>
      finish(() =>
        reject(
          new DaemonError(code, `Cannot connect to ${address}: ${reason}`, undefined, { cause }),
        )
      );
    const timer = setTimeout(
      () => fail(DAEMON_ERRORS.TIMEOUT, `no TLS handshake within ${timeoutMs / 1000} s`),
      timeoutMs,
    );
    const onAbort = () => fail(DAEMON_ERRORS.ABORTED, "interrupted");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate(true);
      if (!cert?.raw) {
        fail(DAEMON_ERRORS.TLS, "the daemon presented no certificate");
        return;
      }
      const result = {
        raw: new Uint8Array(cert.raw),
        names: parseAltNames(cert.subjectaltname ?? ""),
        notAfter: cert.valid_to ? Date.parse(cert.valid_to) || undefined : undefined,
        authorized: socket.authorized,
        authorizationError: socket.authorizationError === undefined
          ? undefined
          : String(socket.authorizationError),
        chain: issuersOf(cert),
      };
      finish(() => resolve(result));
    });
    socket.once("error", (err: Error & { code?: string }) => {
      const [code, reason] = socketFailure(err);
      fail(code, reason, err);
    });
  });
  return await peerCertificate({ raw, names, notAfter, authorized, authorizationError, chain });
}

/** DER of the issuers above a certificate node:tls returned with its chain (`getPeerCertificate(true)`). */
export function issuersOf(cert: tls.DetailedPeerCertificate): Uint8Array[] {
  const chain: Uint8Array[] = [];
  let at = cert;
  // node:tls ends the chain with a certificate that is its own issuer.
  while (at.issuerCertificate && at.issuerCertificate !== at && chain.length < 10) {
    at = at.issuerCertificate;
    if (at.raw) chain.push(new Uint8Array(at.raw));
  }
  return chain;
}

/** What a TLS client saw of a daemon's certificate, as {@link PeerCertificate}. */
export async function peerCertificate(seen: {
  raw: Uint8Array;
  /** Node's subjectaltname text, or the names already parsed. */
  names: string | string[];
  /** Epoch milliseconds, or Node's valid_to text. */
  notAfter: number | string | undefined;
  authorized: boolean;
  authorizationError: string | undefined;
  /** DER of the issuers' certificates, when the TLS library gave them. */
  chain?: Uint8Array[];
}): Promise<PeerCertificate> {
  return {
    fingerprint: await fingerprintOf(seen.raw),
    der: seen.raw,
    pem: toPem("CERTIFICATE", seen.raw),
    names: typeof seen.names === "string" ? parseAltNames(seen.names) : seen.names,
    notAfter: typeof seen.notAfter === "string"
      ? Date.parse(seen.notAfter) || undefined
      : seen.notAfter,
    authorized: seen.authorized,
    authorizationError: seen.authorizationError,
    chain: seen.chain ?? [],
  };
}

function socketFailure(err: Error & { code?: string }): [string, string] {
  switch (err.code) {
    case "ECONNREFUSED":
      return [
        DAEMON_ERRORS.UNREACHABLE,
        "connection refused (is the daemon running on that port?)",
      ];
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return [DAEMON_ERRORS.UNREACHABLE, "host name not found"];
    case "ECONNRESET":
      // Hung up on our ClientHello: an HTCondor daemon does exactly this.
      return [
        DAEMON_ERRORS.NOT_TLS,
        "it closed the connection instead of answering TLS (an HTCondor daemon? address it as cedar://HOST:PORT or HOST:PORT)",
      ];
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return [DAEMON_ERRORS.UNREACHABLE, "no route to the host"];
    case "ETIMEDOUT":
      return [DAEMON_ERRORS.UNREACHABLE, "connection timed out"];
  }
  return [DAEMON_ERRORS.TLS, `TLS handshake failed (is it an HTTPS daemon?): ${err.message}`];
}

/** Parses Node's subjectaltname string ("DNS:a, IP Address:127.0.0.1"). */
function parseAltNames(text: string): string[] {
  return text.split(/,\s*/).flatMap((entry) => {
    const m = /^(DNS|IP Address):(.+)$/.exec(entry.trim());
    if (!m) return [];
    return [m[1] === "DNS" ? m[2].toLowerCase() : normalizeIp(m[2])];
  });
}

/** Whether a certificate valid for `names` is valid for `host`. */
export function certificateCoversHost(names: readonly string[], host: string): boolean {
  const wanted = isIpAddress(host) ? normalizeIp(unbracketed(host)) : host.toLowerCase();
  return names.some((name) => {
    if (name === wanted) return true;
    // One wildcard label, leftmost only, as in RFC 6125.
    if (!name.startsWith("*.") || isIpAddress(wanted)) return false;
    const dot = wanted.indexOf(".");
    return dot > 0 && wanted.slice(dot + 1) === name.slice(2);
  });
}

/** Whether `host` is an IPv4 or IPv6 address (bracketed or not) rather than a name. */
export function isIpAddress(host: string): boolean {
  const h = unbracketed(host);
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(":");
}

function normalizeIp(ip: string): string {
  const h = unbracketed(ip.trim());
  if (!h.includes(":")) return h;
  try {
    return unbracketed(new URL(`https://[${h}]/`).hostname);
  } catch (err) {
    if (err instanceof TypeError) return h.toLowerCase(); // not an address URL accepts
    throw err;
  }
}

function unbracketed(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1");
}

function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The known-hosts key of a daemon URL: `host:port`, host lower-case, IPv6 bracketed. */
export function knownHostKey(url: URL): string {
  return `${url.hostname.toLowerCase()}:${url.port || "443"}`;
}

/**
 * Reads a known-hosts file: lines `host:port sha256:...`; blank lines and
 * `#` comments ignored. A missing file is empty. Needs --allow-read.
 */
export async function readKnownHosts(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Map();
    throw knownHostsError("read", path, err);
  }
  const hosts = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [key, fp] = trimmed.split(/\s+/);
    const fingerprint = fp === undefined ? undefined : parseFingerprint(fp);
    if (key && fingerprint) hosts.set(key.toLowerCase(), fingerprint);
  }
  return hosts;
}

/** HTCondor's own entry for a host in the known-hosts file. */
export interface HtcondorKnownHost {
  /** False for a `!HOST` line: HTCondor saw the certificate but was not told to trust it. */
  permitted: boolean;
  /** DER of the certificate it recorded (the daemon's, or its CA's). */
  der: Uint8Array;
}

/**
 * Reads the entry HTCondor's own tools keep for `host` in the same file:
 * lines `[!]HOST SSL BASE64-DER`, the first line for the host deciding, as
 * in HTCondor. Our `host:port sha256:...` lines are not HTCondor's and are
 * skipped. Undefined when there is none. Needs --allow-read.
 */
export async function readHtcondorKnownHost(
  path: string,
  host: string,
): Promise<HtcondorKnownHost | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw knownHostsError("read", path, err);
  }
  const wanted = host.toLowerCase();
  for (const line of text.split(/\r?\n/)) {
    const [name, method, info] = line.trim().split(/ +/);
    if (!name || name.startsWith("#") || info === undefined) continue;
    const permitted = !name.startsWith("!");
    if ((permitted ? name : name.slice(1)).toLowerCase() !== wanted) continue;
    if (method !== "SSL") return undefined;
    try {
      return { permitted, der: Uint8Array.from(atob(info), (c) => c.charCodeAt(0)) };
    } catch (err) {
      if (err instanceof DOMException) return undefined; // not base64: not a usable entry
      throw err;
    }
  }
  return undefined;
}

/**
 * Records `fingerprint` for `key` in the known-hosts file, replacing any
 * entry for the same key and keeping other lines as they were. Written
 * atomically, 0600 in a 0700 directory. Needs --allow-read and --allow-write.
 */
export async function rememberKnownHost(
  path: string,
  key: string,
  fingerprint: string,
): Promise<void> {
  let lines: string[] = [];
  try {
    lines = (await Deno.readTextFile(path)).split(/\r?\n/).filter((l) => l !== "");
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw knownHostsError("read", path, err);
  }
  const kept = lines.filter((line) => line.trim().split(/\s+/)[0]?.toLowerCase() !== key);
  if (lines.length === 0) {
    kept.push("# Daemon certificates trusted by HTCondor token tools: host:port sha256:...");
  }
  kept.push(`${key} ${fingerprint}`);
  try {
    await writePrivateFile(path, kept.join("\n") + "\n", {
      label: "known-hosts file",
      createDirectory: true,
    });
  } catch (err) {
    if (!(err instanceof TokenFileError)) throw err;
    throw new TrustError("TRUST_KNOWN_HOSTS_IO", err.message, { cause: err });
  }
}

function knownHostsError(action: string, path: string, err: unknown): TrustError {
  return new TrustError(
    "TRUST_KNOWN_HOSTS_IO",
    `Cannot ${action} known-hosts file ${path}: ${fileErrorReason(err)}`,
    { cause: err },
  );
}

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
  /** The known-hosts file; without one nothing is remembered. */
  knownHostsFile: string | undefined;
  /** Asks the user (on a terminal); absent when nobody can be asked. */
  ask?: (question: TrustQuestion) => Promise<boolean>;
  /** Wall clock, epoch milliseconds. */
  now: () => number;
  /** Timeout of the handshake that reads the certificate (default 10 s). */
  timeoutMs?: number;
}

/** Why a daemon's certificate was trusted. */
export type TrustBasis =
  /** Signed by a trusted certificate authority. */
  | "ca"
  /** Matches a fingerprint the user gave. */
  | "pinned"
  /** Matches the known-hosts entry. */
  | "known_host"
  /** The user accepted it at the prompt. */
  | "accepted";

/** A trusted daemon: how, and the TLS settings that talk to it. */
export interface TrustDecision {
  basis: TrustBasis;
  /** The certificate's fingerprint. */
  fingerprint: string;
  /** The known-hosts file the decision was written to, if it was. */
  remembered?: string;
  /** The known-hosts fingerprint a matching pin replaced, if any. */
  replaced?: string;
  /** TLS settings that accept exactly this daemon; the caller closes it. */
  httpClient: Deno.HttpClient;
}

/** A trust decision without the HTTPS client that goes with it. */
export type TrustJudgement = Omit<TrustDecision, "httpClient">;

/**
 * Decides whether the daemon at `url` is trusted (see the module comment) and
 * returns TLS settings for it. Throws TrustError when it is not, DaemonError
 * when it cannot be reached. Needs --allow-net, --allow-read and, to remember
 * a host, --allow-write of the known-hosts file.
 */
export async function decideTrust(
  url: URL,
  policy: TrustPolicy,
  signal?: AbortSignal,
): Promise<TrustDecision> {
  const port = Number(url.port || "443");
  const cert = await readPeerCertificate(url.hostname, port, {
    caPem: policy.caPem,
    timeoutMs: policy.timeoutMs,
    signal,
  });
  const judgement = await judgeCertificate(cert, knownHostKey(url), url.hostname, policy);
  return {
    ...judgement,
    // A self-signed daemon's own certificate becomes the only extra trust
    // anchor, so the connection accepts this certificate and no other.
    httpClient: Deno.createHttpClient(
      judgement.basis === "ca"
        ? (policy.caPem === undefined ? {} : { caCerts: [policy.caPem] })
        : { caCerts: [cert.pem] },
    ),
  };
}

/**
 * Judges a certificate a daemon presented: signed by a trusted authority and
 * valid for `host`, or else trusted on first use (pins, the known-hosts entry
 * under `key`, the user's answer). Throws TrustError when it is not trusted.
 * Needs --allow-read and, to remember a host, --allow-write of the
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
  if (cert.authorized) {
    if (!certificateCoversHost(cert.names, host)) {
      throw new TrustError(
        "TRUST_NAME_MISMATCH",
        `Cannot trust ${where}: its certificate (${cert.fingerprint}) is signed by a trusted authority but is for ${names()}, not "${host}"; address the daemon by one of those names`,
      );
    }
    return { basis: "ca", fingerprint: cert.fingerprint };
  }
  if (!certificateCoversHost(cert.names, host)) {
    throw new TrustError(
      "TRUST_NAME_MISMATCH",
      `Cannot trust ${where}: its certificate (${cert.fingerprint}) is for ${names()}, not "${host}"; address the daemon by one of those names`,
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

  const known = policy.knownHostsFile === undefined
    ? undefined
    : (await readKnownHosts(policy.knownHostsFile)).get(key);
  const pinned = policy.pins.includes(cert.fingerprint);
  const remember = async (extra: Partial<TrustJudgement> = {}) => {
    if (policy.knownHostsFile === undefined) return extra;
    await rememberKnownHost(policy.knownHostsFile, key, cert.fingerprint);
    return { ...extra, remembered: policy.knownHostsFile };
  };
  const trusted = (basis: TrustBasis, extra: Partial<TrustJudgement> = {}): TrustJudgement => ({
    basis,
    fingerprint: cert.fingerprint,
    ...extra,
  });

  if (known === cert.fingerprint) return trusted("known_host");
  // A host trusted with HTCondor's own tools (and none of our lines for it).
  const theirs = known !== undefined || policy.knownHostsFile === undefined
    ? undefined
    : await readHtcondorKnownHost(policy.knownHostsFile, host);
  if (theirs?.permitted && [cert.der, ...cert.chain].some((der) => sameBytes(der, theirs.der))) {
    return trusted("known_host");
  }
  if (pinned) {
    // An explicit pin is the user's word for this certificate: it also
    // replaces a stale known-hosts entry, and says so.
    return trusted("pinned", await remember(known === undefined ? {} : { replaced: known }));
  }
  if (known === undefined && theirs?.permitted) {
    throw new TrustError(
      "TRUST_CHANGED",
      `Cannot trust ${where}: ITS CERTIFICATE HAS CHANGED since HTCondor's tools were told to trust "${host}" (the ${policy.knownHostsFile} line for it names another certificate; this one is ${cert.fingerprint}); this may be an attack. If the administrator confirms the new fingerprint, pass it with -trust`,
    );
  }
  if (known !== undefined) {
    throw new TrustError(
      "TRUST_CHANGED",
      `Cannot trust ${where}: ITS CERTIFICATE HAS CHANGED since it was trusted (was ${known}, now ${cert.fingerprint}); this may be an attack. If the administrator confirms the new fingerprint, pass it with -trust or remove the line for ${key} from ${policy.knownHostsFile}`,
    );
  }
  if (policy.pins.length > 0) {
    throw new TrustError(
      "TRUST_PIN_MISMATCH",
      `Cannot trust ${where}: its certificate fingerprint ${cert.fingerprint} matches none of the trusted fingerprints given (${
        policy.pins.join(", ")
      })`,
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
