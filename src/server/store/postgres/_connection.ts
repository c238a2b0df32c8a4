/**
 * From TOKEND_DATABASE (a `postgresql://` URL), the PG* environment
 * variables and TOKEND_DATABASE_PASSWORD_FILE to what the driver needs:
 * host or unix socket, port, database, user, password and TLS. Every option
 * the driver would otherwise look up in the environment is given, so it
 * reads no variable behind our back (the daemon's --allow-env lists the PG*
 * names it may read, scripts/permissions.ts).
 *
 * The password is never part of a message: locations are shown without it,
 * and {@link withoutSecret} scrubs it from any text that leaves here.
 *
 * TLS follows the URL's `sslmode` (else PGSSLMODE): `disable`; or `require`,
 * `verify-ca`, `verify-full`, all of which verify the server's certificate
 * against `sslrootcert` (else PGSSLROOTCERT, else the system's CAs), and
 * `verify-full` also its host name. Unlike libpq, `require` verifies the CA
 * too, and `prefer`/`allow`, which fall back to plain text unannounced, are
 * refused. Without an sslmode: `disable` for a unix socket or a loopback
 * address, `verify-full` for anything else.
 *
 * @module
 */
import { inspectTrusted } from "../../../token/trusted_file.ts";
import { StoreError } from "../store.ts";

/** What the driver is given (a subset of postgres.js's Options, all set). */
export interface DriverOptions {
  host: string[];
  port: number[];
  path: string | false;
  database: string;
  user: string;
  pass: () => string;
  ssl: false | { rejectUnauthorized: true; ca?: string; checkServerIdentity?: () => undefined };
  connect_timeout: number;
}

/** The plan for connecting: driver options and how to name the database in messages. */
export interface Connection {
  options: DriverOptions;
  /** `postgresql://user@host:port/database` (never the password). */
  location: string;
  /** The password, to scrub from messages ("" when none). */
  password: string;
}

const QUERY_KEYS = [
  "sslmode",
  "sslrootcert",
  "host",
  "port",
  "user",
  "dbname",
  "password",
  "connect_timeout",
] as const;

/** Stands for the missing host of `postgresql://user@/db` while parsing. */
const NO_HOST = "no-host.invalid";

const SSL_MODES = ["disable", "require", "verify-ca", "verify-full"];

/**
 * Reads the URL, `env` and the password file into a connection plan.
 * Throws StoreError STORE_CONFIG with one line that never quotes the URL
 * (it may hold a password). Needs --allow-read (password file,
 * sslrootcert) and --allow-sys=uid (the password file's owner).
 */
export async function connectionFor(
  text: string,
  env: (name: string) => string | undefined,
  passwordFile: string | undefined,
): Promise<Connection> {
  let url: URL;
  // libpq's `postgresql://user@/db?host=/socket/dir` has no host, which a
  // WHATWG URL refuses after a user name: parse it with a stand-in.
  const noHost = /^(postgres(?:ql)?:\/\/[^@/?#]*@)(?=[/?]|$)/i;
  const hostless = noHost.test(text.trim());
  try {
    url = new URL(text.trim().replace(noHost, `$1${NO_HOST}`));
  } catch {
    throw configError("it is not a URL");
  }
  if (!/^postgres(ql)?:$/.test(url.protocol)) throw configError("it is not a postgresql:// URL");
  for (const key of url.searchParams.keys()) {
    if (!(QUERY_KEYS as readonly string[]).includes(key)) {
      throw configError(
        `its parameter "${key.slice(0, 32)}" is not one this daemon knows (${
          QUERY_KEYS.join(", ")
        })`,
      );
    }
  }
  const param = (key: string) => url.searchParams.get(key) ?? undefined;
  const decoded = hostless ? "" : decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  const host = param("host") ?? (decoded || env("PGHOST") || "/var/run/postgresql");
  const portText = param("port") ?? (url.port || env("PGPORT") || "5432");
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    throw configError(`its port "${portText.slice(0, 16)}" is not a port number`);
  }
  const database = param("dbname") ?? (decodeURIComponent(url.pathname.replace(/^\//, "")) ||
    env("PGDATABASE") || "condor_tokend");
  const user = param("user") ?? (decodeURIComponent(url.username) || env("PGUSER") ||
    env("USER") || env("LOGNAME") || "condor");
  const socket = host.startsWith("/");
  const password = decodeURIComponent(url.password) || param("password") ||
    (passwordFile !== undefined ? await readPasswordFile(passwordFile) : undefined) ||
    env("PGPASSWORD") || "";
  const timeoutText = param("connect_timeout") ?? env("PGCONNECT_TIMEOUT") ?? "10";
  const timeout = Number(timeoutText);
  if (!/^\d{1,4}$/.test(timeoutText) || timeout < 1) {
    throw configError(`its connect_timeout "${timeoutText.slice(0, 16)}" is not whole seconds`);
  }
  const where = socket ? `${host}/.s.PGSQL.${port}` : `${bracketed(host)}:${port}`;
  return {
    options: {
      host: [host],
      port: [port],
      path: socket ? `${host.replace(/\/+$/, "")}/.s.PGSQL.${port}` : false,
      database,
      user,
      pass: () => password,
      ssl: await tlsFor(
        host,
        socket,
        param("sslmode") ?? env("PGSSLMODE"),
        param("sslrootcert") ??
          env("PGSSLROOTCERT"),
      ),
      connect_timeout: timeout,
    },
    location: socket
      ? `postgresql://${encodeURIComponent(user)}@/${encodeURIComponent(database)}?host=${host}`
      : `postgresql://${encodeURIComponent(user)}@${where}/${encodeURIComponent(database)}`,
    password,
  };
}

/** `text` with every occurrence of `secret` replaced (no-op for an empty secret). */
export function withoutSecret(text: string, secret: string): string {
  return secret === "" ? text : text.split(secret).join("***");
}

async function tlsFor(
  host: string,
  socket: boolean,
  mode: string | undefined,
  rootCert: string | undefined,
): Promise<DriverOptions["ssl"]> {
  const loopback = host === "localhost" || /^127\./.test(host) || host === "::1";
  const chosen = mode ?? (socket || loopback ? "disable" : "verify-full");
  if (!SSL_MODES.includes(chosen)) {
    throw configError(
      `sslmode "${chosen.slice(0, 16)}" is not one of ${SSL_MODES.join(", ")}${
        chosen === "prefer" || chosen === "allow"
          ? " (it would fall back to an unencrypted connection without a word)"
          : ""
      }`,
    );
  }
  if (chosen === "disable") return false;
  if (socket) throw configError("sslmode asks for TLS, which a unix socket cannot carry");
  let ca: string | undefined;
  if (rootCert !== undefined && rootCert !== "" && rootCert !== "system") {
    try {
      ca = await Deno.readTextFile(rootCert);
    } catch (err) {
      throw new StoreError(
        "STORE_CONFIG",
        `Cannot use TOKEND_DATABASE: cannot read its sslrootcert ${rootCert}: ${
          err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message
        }`,
        { cause: err },
      );
    }
  }
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    // verify-ca (and require) check the chain, not the name.
    ...(chosen === "verify-full" ? {} : { checkServerIdentity: () => undefined }),
  };
}

/**
 * Reads TOKEND_DATABASE_PASSWORD_FILE, judged like a key file: a regular
 * file (no symbolic link), owned by this user or root, readable by its
 * owner only. Its first line is the password.
 */
async function readPasswordFile(path: string): Promise<string> {
  let inspection;
  try {
    inspection = await inspectTrusted(path, {
      kind: "file",
      privateBits: 0o077,
      fixMode: 0o600,
      checkOwner: true,
    });
  } catch (err) {
    throw new StoreError(
      "STORE_CONFIG",
      `Cannot use TOKEND_DATABASE_PASSWORD_FILE ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (inspection.info === undefined) {
    throw new StoreError(
      "STORE_CONFIG",
      `Cannot use TOKEND_DATABASE_PASSWORD_FILE ${path}: no such file`,
    );
  }
  if (inspection.problem) {
    throw new StoreError(
      "STORE_CONFIG",
      `Cannot use TOKEND_DATABASE_PASSWORD_FILE: ${inspection.problem.reason}`,
    );
  }
  const text = await Deno.readTextFile(path);
  const password = text.split(/\r?\n/)[0];
  if (password === "") {
    throw new StoreError(
      "STORE_CONFIG",
      `Cannot use TOKEND_DATABASE_PASSWORD_FILE ${path}: its first line is empty`,
    );
  }
  return password;
}

function bracketed(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function configError(reason: string): StoreError {
  return new StoreError("STORE_CONFIG", `Cannot use TOKEND_DATABASE: ${reason}`);
}
