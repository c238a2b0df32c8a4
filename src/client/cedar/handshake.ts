/**
 * Starting a command on an HTCondor daemon (its DC_AUTHENTICATE exchange):
 * our security ad, the daemon's answer, authentication by the first method
 * both sides accept, the ECDH session key, AES-GCM from then on, and the
 * daemon's verdict on the command. A session the daemon handed out earlier
 * is resumed instead when we hold one, skipping authentication.
 *
 * One command per TCP connection: the daemon closes it after its reply.
 *
 * @module
 */
import { DaemonError } from "../../errors.ts";
import { DAEMON_ERRORS } from "../daemon_client.ts";
import { printable } from "../_printable.ts";
import { type ClassAd, type ClassAdValue, stringOf } from "./classad.ts";
import type { PacketStream } from "./packet_stream.ts";
import { deriveSessionKey, type EcdhKeyPair, newEcdhKeyPair, toBase64 } from "./session_key.ts";

/** The wrapper command that negotiates security for the real one. */
export const DC_AUTHENTICATE = 60010;

/** Version string we announce; the daemon only logs it. */
export const OUR_VERSION = "$CondorVersion: 25.14.0 2026-11-26 condor_token $";

/** Authentication method bits of the method negotiation. */
export const METHOD_BITS = { FS: 4, SSL: 256, TOKEN: 2048 } as const;
export type MethodName = keyof typeof METHOD_BITS;

/** One authentication method we can run as a client. */
export interface AuthMethod {
  name: MethodName;
  /**
   * Called with the daemon's security ad before methods are offered:
   * returns why the method cannot be used with this daemon (then it is not
   * offered), or undefined when it can.
   */
  prepare?(daemon: DaemonSecurity): Promise<string | undefined>;
  /**
   * Runs the method's exchange after the daemon chose it. Throws
   * AuthMethodFailed when this method did not work but another may;
   * anything else ends the handshake.
   */
  run(stream: PacketStream, daemon: DaemonSecurity): Promise<void>;
}

/** A method failed in a way that lets the next one be tried. */
export class AuthMethodFailed extends Error {}

/** What the daemon said about itself in its security ad. */
export interface DaemonSecurity {
  trustDomain: string | undefined;
  issuerKeys: string[];
  version: string | undefined;
}

/** A session the daemon handed out, resumable on a new connection. */
export interface CedarSession {
  id: string;
  key: Uint8Array;
  /** Who the daemon says we are, e.g. "unauthenticated@unmapped". */
  user: string;
  /** Commands the daemon will run in this session. */
  validCommands: Set<number>;
  /** Epoch milliseconds after which we do not try to resume it. */
  expiresAt: number;
  daemon: DaemonSecurity;
}

/** How to start one command. */
export interface StartCommand {
  command: number;
  /** Printable name for messages, e.g. "DC_START_TOKEN_REQUEST". */
  commandName: string;
  /** The address as dialled, in sinful form (`<ip:port?alias=host>`). */
  connectSinful: string;
  /** Methods to offer, in our order of preference. */
  methods: readonly AuthMethod[];
  /** Our trust domain, announced as HTCondor's tools do. */
  trustDomain?: string;
  /** A session to resume instead of authenticating. */
  resume?: CedarSession;
  /** Wall clock, epoch milliseconds. */
  now: () => number;
  /** Called with each step, for -debug. */
  trace?: (message: string) => void | Promise<void>;
  /** Tests fix the ECDH key; a fresh one otherwise. */
  ecdh?: EcdhKeyPair;
}

/**
 * The outcome of a started command: the stream is encrypted and ready for
 * its payload, which the caller sends only once the daemon is trusted.
 */
export interface StartedCommand {
  /** The session now in use (new or resumed). */
  session: CedarSession;
  resumed: boolean;
  /** The method that authenticated a new session; undefined when the daemon did not authenticate. */
  method: MethodName | undefined;
}

/**
 * The session lifetime we ask for. A waiting requester resumes its session
 * at every poll; when the daemon has dropped it, a new one is made. Short,
 * so that a storm of requesters does not leave the daemon an hour of
 * sessions to keep.
 */
const SESSION_DURATION_SECONDS = 300;

/**
 * Runs DC_AUTHENTICATE for `options.command` on a fresh connection. Throws
 * DaemonError: DAEMON_REFUSED when the daemon will not run the command for
 * us, DAEMON_AUTH_FAILED when no method authenticated us, SESSION_UNKNOWN
 * when a resumed session has expired at the daemon (start again on a new
 * connection without it), DAEMON_UNREACHABLE / DAEMON_BAD_RESPONSE for
 * transport trouble. Method failures pass through (e.g. TrustError).
 */
export async function startCommand(
  stream: PacketStream,
  options: StartCommand,
): Promise<StartedCommand> {
  if (options.resume) return await resume(stream, options, options.resume);
  const trace = options.trace ?? (() => {});
  const ecdh = options.ecdh ?? await newEcdhKeyPair();
  const offered = options.methods.map((m) => m.name);
  const m1: [string, ClassAdValue][] = [
    ["Enact", "NO"],
    ["Command", options.command],
    ["Integrity", "REQUIRED"],
    ["Subsystem", "TOOL"],
    ["Encryption", "REQUIRED"],
    ["NewSession", "YES"],
    ["AuthMethods", offered.join(",")],
    ...(options.trustDomain ? [["TrustDomain", options.trustDomain] as [string, string]] : []),
    ["SessionLease", SESSION_DURATION_SECONDS],
    ["ConnectSinful", options.connectSinful],
    ["CryptoMethods", "AES"],
    ["ECDHPublicKey", ecdh.publicKeyBase64],
    ["RemoteVersion", OUR_VERSION],
    ["Authentication", "REQUIRED"],
    ["SessionDuration", String(SESSION_DURATION_SECONDS)],
    // HTCondor 23.10+ reads this one: REQUIRED makes the daemon prove itself even
    // for READ commands (queries) that its policy would answer unauthenticated.
    ["AuthenticationNew", "REQUIRED"],
    ["NegotiatedSession", true],
  ];
  await trace(`DC_AUTHENTICATE for ${options.commandName}, offering ${offered.join(",")}`);
  await stream.send(stream.message().int(DC_AUTHENTICATE).classAd(m1));
  const m2 = await receiveAd(stream, options, "its security policy");
  const daemon = daemonSecurity(m2);
  const cipher = stringOf(m2, "CryptoMethods");
  const peerKey = stringOf(m2, "ECDHPublicKey");
  if (cipher !== "AES" || peerKey === undefined) {
    throw refused(
      stream,
      options,
      `it offers no AES session (CryptoMethods ${printable(JSON.stringify(cipher ?? ""), 80)})`,
    );
  }
  let method: MethodName | undefined;
  if (stringOf(m2, "Authentication") === "YES") {
    const list = (stringOf(m2, "AuthMethodsList") ?? "").split(",").map((s) => s.trim());
    method = await authenticate(stream, options, list, daemon);
    let hasKey: number;
    try {
      hasKey = (await stream.receive()).int();
    } catch (err) {
      if (!(err instanceof DaemonError) || err.code !== DAEMON_ERRORS.UNREACHABLE) throw err;
      throw hungUpAfter(stream, options, method, err);
    }
    if (hasKey !== 0) {
      throw new DaemonError(
        DAEMON_ERRORS.BAD_RESPONSE,
        `Cannot start ${options.commandName} at ${stream.peer}: the daemon sent a session key of its own, which this tool does not support`,
      );
    }
  }
  let key: Uint8Array;
  try {
    key = await deriveSessionKey(ecdh, peerKey);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    throw new DaemonError(
      DAEMON_ERRORS.BAD_RESPONSE,
      `Cannot start ${options.commandName} at ${stream.peer}: ${err.message}`,
      undefined,
      { cause: err },
    );
  }
  await stream.startEncryption(key);
  const verdict = await receiveAd(stream, options, "its decision on the command", method);
  const session = verdictSession(stream, options, verdict, key, daemon);
  await trace(
    `${options.commandName} authorized for ${session.user} (session ${session.id})`,
  );
  return { session, resumed: false, method };
}

async function resume(
  stream: PacketStream,
  options: StartCommand,
  session: CedarSession,
): Promise<StartedCommand> {
  const nonce = toBase64(crypto.getRandomValues(new Uint8Array(33)));
  await options.trace?.(`resuming session ${session.id} for ${options.commandName}`);
  await stream.send(
    stream.message().int(DC_AUTHENTICATE).classAd([
      ["Command", options.command],
      ["ConnectSinful", options.connectSinful],
      ["CryptoMethods", "AES"],
      ["Nonce", nonce],
      ["RemoteVersion", OUR_VERSION],
      ["ResumeResponse", true],
      ["Sid", session.id],
      ["UseSession", "YES"],
    ]),
  );
  const reply = await receiveAd(stream, options, "its answer to resuming a session");
  const code = stringOf(reply, "ReturnCode");
  if (code === "SID_NOT_FOUND") {
    throw new DaemonError(
      "SESSION_UNKNOWN",
      `Cannot resume session ${session.id} at ${stream.peer}: the daemon no longer knows it`,
    );
  }
  if (code !== "AUTHORIZED") {
    throw refused(
      stream,
      options,
      `it answered ${printable(JSON.stringify(code ?? ""), 80)} to our session`,
    );
  }
  await stream.startEncryption(session.key);
  return { session, resumed: true, method: undefined };
}

/** Method negotiation: offer what is left, run what the daemon picks, until one works. */
async function authenticate(
  stream: PacketStream,
  options: StartCommand,
  /** The methods both sides accept, as the daemon listed them (its order). */
  daemonList: string[],
  daemon: DaemonSecurity,
): Promise<MethodName> {
  // TOKEN also names IDTOKENS on the daemon's side; our ad says TOKEN.
  const failures: string[] = [];
  const remaining: AuthMethod[] = [];
  for (const method of options.methods) {
    const accepted = daemonList.includes(method.name) ||
      (method.name === "TOKEN" && daemonList.includes("IDTOKENS"));
    if (!accepted) continue;
    const unusable = await method.prepare?.(daemon);
    if (unusable === undefined) remaining.push(method);
    else failures.push(`${method.name}: ${unusable}`);
  }
  for (;;) {
    if (remaining.length === 0) {
      // Nothing left to offer: say why instead of letting the daemon hang up on an empty mask.
      const offered = options.methods.map((m) => m.name).join(", ") || "none";
      throw new DaemonError(
        "DAEMON_AUTH_FAILED",
        failures.length > 0
          ? `Cannot authenticate to the daemon at ${stream.peer}: ${failures.join("; ")}`
          : `Cannot authenticate to the daemon at ${stream.peer}: it accepts none of the methods offered (${offered}) for this command; SEC_CLIENT_AUTHENTICATION_METHODS must name one it accepts`,
        401,
      );
    }
    const mask = remaining.reduce((bits, m) => bits | METHOD_BITS[m.name], 0);
    await stream.send(stream.message().int(mask));
    const chosen = (await stream.receive()).int();
    const method = remaining.find((m) => METHOD_BITS[m.name] === chosen);
    if (chosen === 0 || method === undefined) {
      throw new DaemonError(
        "DAEMON_AUTH_FAILED",
        `Cannot authenticate to the daemon at ${stream.peer}: it chose no method of ours${
          failures.length > 0 ? ` (${failures.join("; ")})` : ""
        }`,
        401,
      );
    }
    await options.trace?.(`authenticating with ${method.name}`);
    try {
      await method.run(stream, daemon);
      return method.name;
    } catch (err) {
      if (!(err instanceof AuthMethodFailed)) throw err;
      await options.trace?.(`${method.name} failed: ${err.message}`);
      failures.push(`${method.name}: ${err.message}`);
      remaining.splice(remaining.indexOf(method), 1);
    }
  }
}

function verdictSession(
  stream: PacketStream,
  options: StartCommand,
  verdict: ClassAd,
  key: Uint8Array,
  daemon: DaemonSecurity,
): CedarSession {
  const code = stringOf(verdict, "ReturnCode");
  const user = stringOf(verdict, "User") ?? "";
  if (code !== "AUTHORIZED") {
    throw new DaemonError(
      "DAEMON_REFUSED",
      `Cannot run ${options.commandName} at ${stream.peer}: the daemon refused it (${
        code === undefined ? "no verdict" : printable(code, 80)
      }) for ${user ? `"${printable(user, 200)}"` : "us"}`,
      403,
    );
  }
  const id = stringOf(verdict, "Sid");
  if (!id) throw refused(stream, options, "it gave no session ID");
  const validCommands = new Set(
    (stringOf(verdict, "ValidCommands") ?? "").split(",").map(Number).filter(Number.isInteger),
  );
  return {
    id,
    key,
    user,
    validCommands,
    // Stop resuming a little early rather than meet SID_NOT_FOUND.
    expiresAt: options.now() + (SESSION_DURATION_SECONDS - 30) * 1000,
    daemon,
  };
}

function daemonSecurity(ad: ClassAd): DaemonSecurity {
  return {
    trustDomain: stringOf(ad, "TrustDomain"),
    issuerKeys: (stringOf(ad, "IssuerKeys") ?? "").split(",").map((s) => s.trim()).filter(
      Boolean,
    ),
    version: stringOf(ad, "RemoteVersion"),
  };
}

/**
 * What HTCondor does to an identity it cannot map, for commands that need
 * one (DC_LIST_TOKEN_REQUEST, DC_APPROVE_TOKEN_REQUEST): it hangs up once
 * authentication is over.
 */
function hungUpAfter(
  stream: PacketStream,
  options: StartCommand,
  method: MethodName,
  cause: DaemonError,
): DaemonError {
  return new DaemonError(
    "DAEMON_REFUSED",
    `Cannot run ${options.commandName} at ${stream.peer}: the daemon hung up after we authenticated with ${method}${
      method === "SSL" ? " (anonymously)" : ""
    }; this command needs an identity the daemon maps and authorizes (an administrator's token, or FS on the daemon's host)`,
    403,
    { cause },
  );
}

async function receiveAd(
  stream: PacketStream,
  options: StartCommand,
  what: string,
  authenticatedWith?: MethodName,
) {
  try {
    return (await stream.receive()).classAd();
  } catch (err) {
    if (
      err instanceof DaemonError && err.code === DAEMON_ERRORS.UNREACHABLE &&
      authenticatedWith !== undefined
    ) {
      throw hungUpAfter(stream, options, authenticatedWith, err);
    }
    if (err instanceof DaemonError && err.code === DAEMON_ERRORS.UNREACHABLE) {
      // A daemon that dislikes a command or our policy just hangs up.
      throw new DaemonError(
        "DAEMON_REFUSED",
        `Cannot run ${options.commandName} at ${stream.peer}: the daemon closed the connection instead of sending ${what} (it refuses the command or our security settings; its log says why)`,
        undefined,
        { cause: err },
      );
    }
    throw err;
  }
}

function refused(stream: PacketStream, options: StartCommand, reason: string): DaemonError {
  return new DaemonError(
    "DAEMON_REFUSED",
    `Cannot run ${options.commandName} at ${stream.peer}: ${reason}`,
  );
}
