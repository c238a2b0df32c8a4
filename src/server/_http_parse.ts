/**
 * The request head of HTTP/1.1 (RFC 9112), read strictly: what our own
 * clients and curl send is accepted, and every shape that lets two parsers
 * disagree about where a request ends (request smuggling) is refused
 * outright instead of being interpreted. Pure functions over bytes, so every
 * case is testable without a socket.
 *
 * Refused: obs-fold, bare CR or LF, NUL and other control characters,
 * header names that are not tokens, whitespace before a colon, absolute-form
 * and asterisk-form targets, versions other than 1.0 and 1.1, a missing or
 * repeated Host in HTTP/1.1, repeated or malformed Content-Length, and any
 * Transfer-Encoding (our clients always send Content-Length).
 *
 * @module
 */
import type { RefusalCode } from "../api/protocol.ts";

/** A request the HTTP layer refuses; the connection is closed after the answer. */
export class HttpError extends Error {
  /** HTTP status of the answer. */
  readonly status: number;
  /** Stable error code, as in docs/protocol.md. */
  readonly code: RefusalCode;

  constructor(status: number, code: RefusalCode, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
  }
}

/** A request head that passed every check. */
export interface RequestHead {
  method: string;
  /** The origin-form target: path and query, starting with "/". */
  target: string;
  version: "HTTP/1.1" | "HTTP/1.0";
  /** Header fields in the order received (names as sent). */
  headers: [string, string][];
  /** The Host header, or undefined (HTTP/1.0 only). */
  host: string | undefined;
  /** Bytes of body that follow the head (0 when no Content-Length). */
  contentLength: number;
  /** Whether the client lets the connection stay open after the answer. */
  keepAlive: boolean;
  /** `Expect: 100-continue` in HTTP/1.1: send the interim answer before reading the body. */
  expectContinue: boolean;
}

/** What parseRequestHead enforces. */
export interface HeadLimits {
  /** Largest head, request line and header fields with their line ends. */
  maxHeadBytes: number;
  /** Largest Content-Length accepted. */
  maxBodyBytes: number;
}

/**
 * How far parseRequestHead has looked into a head that is still arriving,
 * so that the next call, with more bytes, goes on from there instead of
 * scanning from the start again (a peer sending its head a byte at a time
 * would otherwise cost time quadratic in its length). Offsets are from the
 * start of the bytes given; start a new one, all zero, for each request.
 */
export interface HeadScan {
  /** Where the request line starts, after empty lines. */
  start: number;
  /** Where the first line not yet complete starts. */
  lineStart: number;
  /** Complete lines seen. */
  lines: number;
  /** Bytes already searched for the end of the line at `lineStart`. */
  searched: number;
}

/** Most header fields in one request; ours send about six. */
export const MAX_HEADER_FIELDS = 100;

const CR = 0x0d;
const LF = 0x0a;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Method, one space, origin-form target (visible ASCII but "#"), one space, version. */
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^ ]+) (HTTP\/\d\.\d)$/;
const ORIGIN_FORM = /^\/[\x21\x22\x24-\x7e]*$/;
// deno-lint-ignore no-control-regex
const FORBIDDEN_IN_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
/**
 * uri-host [ ":" port ]: a registered name or IPv4 address, or an IPv6
 * literal. Never empty: an origin-form request names its authority here.
 */
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/** Methods a Request object refuses to carry; nothing here serves them. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const ascii = new TextDecoder();

/**
 * Parses the request head at the start of `bytes`. Returns the head and how
 * many bytes it took (line ends included) once the blank line that ends it
 * has arrived; undefined while more bytes are needed. Throws HttpError for
 * anything malformed or over `limits`, as soon as that is certain. With
 * `scan`, from a previous call on the same head with fewer bytes, goes on
 * where that call stopped (and updates it).
 */
export function parseRequestHead(
  bytes: Uint8Array,
  limits: HeadLimits,
  scan: HeadScan = { start: 0, lineStart: 0, lines: 0, searched: 0 },
): { head: RequestHead; length: number } | undefined {
  // Empty lines before the request line are ignored (RFC 9112 section 2.2).
  let start = scan.start;
  while (start + 1 < bytes.length && bytes[start] === CR && bytes[start + 1] === LF) start += 2;
  scan.start = start;
  if (start >= limits.maxHeadBytes) {
    throw new HttpError(431, "HEADERS_TOO_LARGE", "Cannot read request: too many empty lines");
  }
  // A complete line at `start` is never empty (the loop above took it), so
  // once a line is complete `start` no longer moves.
  let lineStart = Math.max(scan.lineStart, start);
  let lines = scan.lines;
  while (true) {
    const lf = bytes.indexOf(LF, Math.max(lineStart, scan.searched));
    if (lf < 0) {
      if (bytes.length > limits.maxHeadBytes) throw tooLarge(lines);
      scan.lineStart = lineStart;
      scan.lines = lines;
      scan.searched = bytes.length;
      return undefined;
    }
    if (lf === 0 || bytes[lf - 1] !== CR) {
      throw new HttpError(400, "BAD_HTTP", "Cannot parse request: a line ends in LF without CR");
    }
    if (lf + 1 > limits.maxHeadBytes) throw tooLarge(lines);
    if (lf - 1 === lineStart) {
      return { head: interpret(decode(bytes.subarray(start, lineStart)), limits), length: lf + 1 };
    }
    if (++lines > MAX_HEADER_FIELDS + 1) {
      throw new HttpError(
        431,
        "HEADERS_TOO_LARGE",
        `Cannot read request: more than ${MAX_HEADER_FIELDS} header fields`,
      );
    }
    lineStart = lf + 1;
  }
}

function tooLarge(completeLines: number): HttpError {
  return completeLines === 0
    ? new HttpError(414, "URI_TOO_LONG", "Cannot read request: the request line is too long")
    : new HttpError(431, "HEADERS_TOO_LARGE", "Cannot read request: the header is too large");
}

/** Header bytes as text, one character per byte (obs-text in values is Latin-1). */
function decode(bytes: Uint8Array): string {
  const text = ascii.decode(bytes);
  if (!NON_ASCII.test(text)) return text;
  let latin1 = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    latin1 += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return latin1;
}

/** Checks the head's lines (each without its CRLF, the last followed by CRLF) and reads its meaning. */
function interpret(text: string, limits: HeadLimits): RequestHead {
  const lines = text.split("\r\n");
  lines.pop(); // the text ends with the last line's CRLF
  const requestLine = REQUEST_LINE.exec(lines[0]);
  if (!requestLine) {
    throw new HttpError(400, "BAD_HTTP", "Cannot parse request: malformed request line");
  }
  const [, method, target, version] = requestLine;
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpError(
      400,
      "BAD_HTTP",
      `Cannot parse request: version ${JSON.stringify(version)} is not HTTP/1.1 or HTTP/1.0`,
    );
  }
  if (!ORIGIN_FORM.test(target)) {
    throw new HttpError(
      400,
      "BAD_HTTP",
      "Cannot parse request: the target must be a path (origin-form) of visible ASCII",
    );
  }
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) {
    throw new HttpError(405, "METHOD_NOT_ALLOWED", `Cannot ${method}: not served here`);
  }

  const headers: [string, string][] = [];
  let host: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  const connection: string[] = [];
  const expect: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (line[0] === " " || line[0] === "\t") {
      throw new HttpError(400, "BAD_HTTP", "Cannot parse request: folded header line (obs-fold)");
    }
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) {
      throw new HttpError(400, "BAD_HTTP", "Cannot parse request: malformed header field name");
    }
    const name = line.slice(0, colon);
    const value = trimOws(line.slice(colon + 1));
    if (FORBIDDEN_IN_VALUE.test(value)) {
      throw new HttpError(
        400,
        "BAD_HTTP",
        `Cannot parse request: control character in header field ${JSON.stringify(name)}`,
      );
    }
    headers.push([name, value]);
    switch (name.toLowerCase()) {
      case "host":
        if (host !== undefined) {
          throw new HttpError(400, "BAD_HTTP", "Cannot parse request: more than one Host");
        }
        if (!HOST.test(value)) {
          throw new HttpError(400, "BAD_HTTP", "Cannot parse request: malformed Host");
        }
        host = value;
        break;
      case "content-length":
        if (contentLength !== undefined) {
          throw new HttpError(
            400,
            "BAD_HTTP",
            "Cannot parse request: more than one Content-Length",
          );
        }
        contentLength = value;
        break;
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case "connection":
        connection.push(...tokens(value));
        break;
      case "expect":
        expect.push(...tokens(value));
        break;
    }
  }

  if (version === "HTTP/1.1" && host === undefined) {
    throw new HttpError(400, "BAD_HTTP", "Cannot parse request: HTTP/1.1 without Host");
  }
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) {
      throw new HttpError(
        400,
        "BAD_HTTP",
        "Cannot parse request: both Transfer-Encoding and Content-Length",
      );
    }
    const chunked = tokens(transferEncoding).at(-1) === "chunked";
    throw chunked
      ? new HttpError(
        411,
        "LENGTH_REQUIRED",
        "Cannot read request body: send it with Content-Length, not chunked",
      )
      : new HttpError(
        400,
        "BAD_HTTP",
        `Cannot read request body: Transfer-Encoding ${
          JSON.stringify(transferEncoding.slice(0, 64))
        } is not accepted`,
      );
  }
  let length = 0;
  if (contentLength !== undefined) {
    if (!/^\d{1,16}$/.test(contentLength)) {
      throw new HttpError(400, "BAD_HTTP", "Cannot parse request: malformed Content-Length");
    }
    length = Number(contentLength);
    if (length > limits.maxBodyBytes) {
      throw new HttpError(
        413,
        "BODY_TOO_LARGE",
        `Cannot accept request body: it is larger than ${limits.maxBodyBytes} bytes`,
      );
    }
  }
  let expectContinue = false;
  // An HTTP/1.0 client cannot mean 100-continue (RFC 9110 section 10.1.1): ignored.
  if (version === "HTTP/1.1" && expect.length > 0) {
    if (expect.length !== 1 || expect[0] !== "100-continue") {
      throw new HttpError(
        417,
        "EXPECTATION_FAILED",
        "Cannot meet the request's Expect: only 100-continue is supported",
      );
    }
    expectContinue = true;
  }
  return {
    method,
    target,
    version,
    headers,
    host,
    contentLength: length,
    keepAlive: version === "HTTP/1.1" && !connection.includes("close"),
    expectContinue,
  };
}

/** A value without the optional whitespace (space, tab) around it. */
function trimOws(value: string): string {
  let from = 0;
  let to = value.length;
  while (from < to && (value[from] === " " || value[from] === "\t")) from++;
  while (to > from && (value[to - 1] === " " || value[to - 1] === "\t")) to--;
  return value.slice(from, to);
}

/** The lowercase elements of a comma-separated list value, empty ones dropped. */
function tokens(value: string): string[] {
  return value.split(",").map((part) => trimOws(part).toLowerCase()).filter((part) => part !== "");
}
