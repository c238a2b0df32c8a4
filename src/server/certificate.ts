/**
 * The daemon's TLS identity: the configured certificate and key when usable,
 * otherwise a self-signed one it makes on first start and keeps in its state
 * directory (as a modern HTCondor collector does), plus the SHA-256
 * fingerprint requesters pin.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { fingerprintOf, firstPemBlock, toPem } from "../api/fingerprint.ts";
import { CondorError } from "../errors.ts";
import { inspectTrusted, type TrustRule } from "../token/trusted_file.ts";
import { writeFileAtomically } from "./_atomic_file.ts";

/** A certificate chain and its private key, PEM encoded. */
export interface TlsIdentity {
  certPem: string;
  keyPem: string;
  /** `sha256:AB:CD:...` of the leaf certificate's DER bytes. */
  fingerprint: string;
  /** Where the certificate came from. */
  certFile: string;
  /** True when this call created the certificate. */
  created: boolean;
}

/** What to put in a new self-signed certificate. */
export interface SelfSignedOptions {
  /** Directory for `tokend_cert.pem` and `tokend_key.pem` (created 0700). */
  stateDirectory: string;
  /** DNS names for the subjectAltName (FULL_HOSTNAME, HOSTNAME, localhost). */
  dnsNames: string[];
  /** IP addresses for the subjectAltName (127.0.0.1, ::1, NETWORK_INTERFACE). */
  ipAddresses: string[];
  /** Milliseconds since the epoch. */
  now: number;
}

/** File names of the self-signed identity inside the state directory. */
export const CERT_FILE_NAME = "tokend_cert.pem";
export const KEY_FILE_NAME = "tokend_key.pem";

const VALIDITY_DAYS = 3650;
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/**
 * Uses the first pair of configured files that both exist (HTCondor's lists
 * of candidates), else the self-signed identity in the state directory,
 * creating it when missing. Needs --allow-read, and --allow-write of the
 * state directory when creating.
 */
export async function loadTlsIdentity(
  configured: { certFiles: readonly string[]; keyFiles: readonly string[] },
  selfSigned: SelfSignedOptions,
): Promise<TlsIdentity> {
  const pair = await firstExistingPair(configured.certFiles, configured.keyFiles);
  if (pair) {
    const certPem = await readPem(pair.cert, "certificate");
    const keyPem = await readPem(pair.key, "private key");
    return {
      certPem,
      keyPem,
      fingerprint: await pemFingerprint(certPem),
      certFile: pair.cert,
      created: false,
    };
  }
  return await selfSignedIdentity(selfSigned);
}

/**
 * Checks, creating nothing, what {@link loadTlsIdentity} will use: the
 * first configured pair that exists must be readable and hold a
 * certificate; without one, the self-signed files in the state directory
 * (when it exists) must pass {@link checkSelfSignedFiles}. Throws what
 * loadTlsIdentity would. Needs --allow-read and --allow-sys=uid.
 */
export async function checkTlsIdentity(
  configured: { certFiles: readonly string[]; keyFiles: readonly string[] },
  stateDirectory: string | undefined,
): Promise<void> {
  const pair = await firstExistingPair(configured.certFiles, configured.keyFiles);
  if (pair) {
    await pemFingerprint(await readPem(pair.cert, "certificate"));
    await readPem(pair.key, "private key");
  } else if (stateDirectory !== undefined) {
    await checkSelfSignedFiles(stateDirectory);
  }
}

/**
 * Reads the state directory's self-signed certificate and key, or creates
 * both (key file 0600) when either is missing. Refuses either file when
 * {@link checkSelfSignedFiles} does (a key others can read, a link, ...).
 */
export async function selfSignedIdentity(options: SelfSignedOptions): Promise<TlsIdentity> {
  const dir = options.stateDirectory.replace(/\/+$/, "");
  const certFile = `${dir}/${CERT_FILE_NAME}`;
  const keyFile = `${dir}/${KEY_FILE_NAME}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  if (await checkSelfSignedFiles(dir)) {
    const certPem = await readPem(certFile, "certificate");
    return {
      certPem,
      keyPem: await readPem(keyFile, "private key"),
      fingerprint: await pemFingerprint(certPem),
      certFile,
      created: false,
    };
  }
  const { certPem, keyPem } = await createSelfSigned(options);
  // Key first: a certificate without its key is useless, the reverse is regenerated.
  await writeFileAtomically(keyFile, keyPem, { mode: 0o600, code: "TLS_IO", label: "TLS key" });
  await writeFileAtomically(certFile, certPem, {
    mode: 0o644,
    code: "TLS_IO",
    label: "TLS certificate",
  });
  return { certPem, keyPem, fingerprint: await pemFingerprint(certPem), certFile, created: true };
}

/** The self-signed key: only its owner (this user or root) may read or write it, no link. */
const KEY_RULE: TrustRule = { kind: "file", privateBits: 0o077, fixMode: 0o600, checkOwner: true };
/** The self-signed certificate: only its owner (this user or root) may write it, no link. */
const CERT_RULE: TrustRule = { kind: "file", privateBits: 0o022, fixMode: 0o644, checkOwner: true };

/**
 * Checks the self-signed certificate and key in `stateDirectory` without
 * creating anything: each, if present, must be a regular file (not a
 * link) of this user or root; nobody else may write the certificate or
 * read the key. True when both exist (and are used), false when either is
 * missing (and both are made anew). Throws CondorError TLS_KEY_INSECURE or
 * TLS_CERT_INSECURE. Needs --allow-read and --allow-sys=uid.
 */
export async function checkSelfSignedFiles(stateDirectory: string): Promise<boolean> {
  const dir = stateDirectory.replace(/\/+$/, "");
  let found = 0;
  for (
    const [file, rule, code] of [
      [`${dir}/${KEY_FILE_NAME}`, KEY_RULE, "TLS_KEY_INSECURE"],
      [`${dir}/${CERT_FILE_NAME}`, CERT_RULE, "TLS_CERT_INSECURE"],
    ] as const
  ) {
    let inspection;
    try {
      inspection = await inspectTrusted(file, rule);
    } catch (err) {
      throw tlsFileError(file, "inspect", err);
    }
    if (inspection.problem) {
      throw new CondorError(
        code,
        `Cannot use self-signed TLS identity: ${inspection.problem.reason}`,
      );
    }
    if (inspection.info) found++;
  }
  return found === 2;
}

/** Makes a self-signed ECDSA P-256 certificate (CA:FALSE) for the given names. */
export async function createSelfSigned(
  options: Pick<SelfSignedOptions, "dnsNames" | "ipAddresses" | "now">,
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const dnsNames = [...new Set(options.dnsNames.filter((n) => n !== ""))];
  const ipAddresses = [...new Set(options.ipAddresses)];
  const notBefore = new Date(options.now - 60_000);
  const serial = Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b, i) => (i === 0 ? b & 0x7f : b).toString(16).padStart(2, "0"),
  ).join("");
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `CN=${escapeDn(dnsNames[0] ?? "localhost")}, O=condor_tokend`,
    notBefore,
    notAfter: new Date(options.now + VALIDITY_DAYS * 86_400_000),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: cert.toString("pem") + "\n", keyPem: toPem("PRIVATE KEY", pkcs8) };
}

/** `sha256:AB:CD:...` of the first certificate in a PEM text (see src/api/fingerprint.ts). */
export async function pemFingerprint(certPem: string): Promise<string> {
  const der = firstPemBlock(certPem, "CERTIFICATE");
  if (!der) {
    throw new CondorError("TLS_BAD_PEM", "Cannot use certificate: no PEM CERTIFICATE block found");
  }
  return await fingerprintOf(der);
}

function escapeDn(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);
}

async function firstExistingPair(
  certFiles: readonly string[],
  keyFiles: readonly string[],
): Promise<{ cert: string; key: string } | undefined> {
  let cert: string | undefined;
  for (const file of certFiles) {
    if (await exists(file)) {
      cert = file;
      break;
    }
  }
  if (cert === undefined) return undefined;
  for (const file of keyFiles) {
    if (await exists(file)) return { cert, key: file };
  }
  throw new CondorError(
    "TLS_NO_KEY",
    `Cannot use certificate ${cert}: none of the AUTH_SSL_SERVER_KEYFILE files (${
      keyFiles.join(", ") || "none configured"
    }) exists`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw tlsFileError(path, "inspect", err);
  }
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw tlsFileError(path, `read ${what}`, err);
  }
}

function tlsFileError(path: string, action: string, err: unknown): CondorError {
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return new CondorError(
      "TLS_UNREADABLE",
      `Cannot ${action} ${path}: permission denied`,
      { cause: err },
    );
  }
  if (err instanceof Deno.errors.NotFound) {
    return new CondorError("TLS_MISSING", `Cannot ${action} ${path}: no such file`, {
      cause: err,
    });
  }
  return err instanceof Error
    ? new CondorError("TLS_IO", `Cannot ${action} ${path}: ${err.message}`, { cause: err })
    : new CondorError("TLS_IO", `Cannot ${action} ${path}`);
}
