/**
 * The world a tool sees: output streams, standard input, environment, clock,
 * host name and a cancellation signal. Tools take an Io so tests can run them
 * in-process with captured output and a fake clock.
 */
import { type Clock, realClock } from "../clock.ts";
import type { Env } from "../config/condor_config.ts";

/** Everything a tool may touch outside its arguments. */
export interface Io {
  /** Writes data (a token, JSON) to standard output. */
  out(text: string): Promise<void>;
  /** Writes human-readable messages to standard error. */
  err(text: string): Promise<void>;
  /** Reads one line from standard input without its newline; null at end of input. */
  readLine(): Promise<string | null>;
  /** Environment variables, read one name at a time. */
  env: Env;
  /** This host's full name. */
  hostname(): string;
  /** Wall clock and sleeping (src/clock.ts): the one clock every time-dependent part takes. */
  clock: Clock;
  /** Whether standard input and standard error are terminals. */
  stdinIsTerminal: boolean;
  stderrIsTerminal: boolean;
  /** Aborted with reason "SIGINT" or "SIGTERM" when the user interrupts the tool. */
  signal: AbortSignal;
}

const encoder = new TextEncoder();

async function writeAll(writer: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += await writer.write(bytes.subarray(written));
}

/**
 * The real process: Deno's stdio, environment, clock and host name. Needs
 * --allow-env for the names tools read and --allow-sys=hostname.
 */
export function processIo(signal: AbortSignal): Io {
  let lines: AsyncIterator<string> | undefined;
  return {
    out: (text) => writeAll(Deno.stdout, text),
    err: (text) => writeAll(Deno.stderr, text),
    async readLine() {
      lines ??= readLines(Deno.stdin.readable);
      const next = await lines.next();
      return next.done ? null : next.value;
    },
    env: { get: (name) => safeEnvGet(name) },
    hostname: () => Deno.hostname(),
    clock: realClock,
    stdinIsTerminal: Deno.stdin.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    signal,
  };
}

/** Reads an environment variable, treating a name we lack permission for as unset. */
function safeEnvGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
    }
  }
  buffer += decoder.decode();
  if (buffer !== "") yield buffer;
}

/** Output captured by {@link memoryIo}. */
export interface CapturedIo extends Io {
  stdout: string[];
  stderr: string[];
}

/** An in-memory Io for tests: captured output, scripted stdin, a given env and clock. */
export function memoryIo(options: {
  env?: Record<string, string>;
  stdin?: string[];
  /** The clock; `now` alone fakes only the wall clock (sleeps are real). */
  clock?: Clock;
  now?: () => number;
  hostname?: string;
  signal?: AbortSignal;
  terminal?: boolean;
} = {}): CapturedIo {
  const stdin = [...(options.stdin ?? [])];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const env = options.env ?? {};
  return {
    stdout,
    stderr,
    out: (text) => Promise.resolve(void stdout.push(text)),
    err: (text) => Promise.resolve(void stderr.push(text)),
    readLine: () => Promise.resolve(stdin.length > 0 ? stdin.shift()! : null),
    env: { get: (name) => env[name] },
    hostname: () => options.hostname ?? "host.example.org",
    clock: options.clock ??
      (options.now ? { now: options.now, sleep: realClock.sleep } : realClock),
    stdinIsTerminal: options.terminal ?? false,
    stderrIsTerminal: options.terminal ?? false,
    signal: options.signal ?? new AbortController().signal,
  };
}
