/**
 * The request-head parser on its own: what our clients and curl send is
 * read, and every shape that lets two HTTP parsers disagree about where a
 * request ends is refused with a stable code.
 */
import assert from "node:assert/strict";
import { HttpError, MAX_HEADER_FIELDS, parseRequestHead } from "../../src/server/_http_parse.ts";

const LIMITS = { maxHeadBytes: 16 * 1024, maxBodyBytes: 16 * 1024 };

function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

function parse(text: string, limits = LIMITS) {
  return parseRequestHead(bytes(text), limits);
}

/** Asserts that `text` is refused with `status` and `code`. */
function refused(text: string, status: number, code: string, limits = LIMITS) {
  assert.throws(
    () => parse(text, limits),
    (err) => err instanceof HttpError && err.status === status && err.code === code,
    JSON.stringify(text.slice(0, 80)),
  );
}

const POST_HEAD = "POST /v1/token-requests HTTP/1.1\r\nHost: 127.0.0.1:9618\r\n";

Deno.test("parseRequestHead() reads what Deno's fetch sends for a JSON body", () => {
  const body = '{"secret":"x"}';
  const text = `POST /v1/token-requests/0000001/collect HTTP/1.1\r\n` +
    `content-type: application/json\r\naccept: */*\r\naccept-language: *\r\n` +
    `user-agent: Deno/2.9.6\r\naccept-encoding: gzip,br\r\nhost: 127.0.0.1:40123\r\n` +
    `content-length: ${body.length}\r\n\r\n${body}`;
  const parsed = parse(text)!;
  assert.equal(parsed.length, text.length - body.length);
  assert.equal(parsed.head.method, "POST");
  assert.equal(parsed.head.target, "/v1/token-requests/0000001/collect");
  assert.equal(parsed.head.host, "127.0.0.1:40123");
  assert.equal(parsed.head.contentLength, body.length);
  assert.equal(parsed.head.keepAlive, true);
  assert.equal(parsed.head.expectContinue, false);
  assert.deepEqual(parsed.head.headers[0], ["content-type", "application/json"]);
});

Deno.test("parseRequestHead() reads what curl -d sends, and its Expect: 100-continue", () => {
  const parsed = parse(
    "POST /v1/token-requests HTTP/1.1\r\nHost: [::1]:9618\r\nUser-Agent: curl/8.5.0\r\n" +
      "Accept: */*\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" +
      "Expect: 100-continue\r\n\r\n",
  )!;
  assert.equal(parsed.head.host, "[::1]:9618");
  assert.equal(parsed.head.contentLength, 2);
  assert.equal(parsed.head.expectContinue, true);
});

Deno.test("parseRequestHead() waits for the blank line that ends the head", () => {
  assert.equal(parse("GET /healthz HTTP/1.1\r\nHost: x"), undefined);
  assert.equal(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n"), undefined);
  assert.equal(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n\r"), undefined);
  assert.ok(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Empty lines before the request line are ignored, and count towards the head.
  const leading = "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  assert.equal(parse(leading)?.length, leading.length);
});

Deno.test("parseRequestHead() takes one request of several sent together (pipelining)", () => {
  const one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const parsed = parse(one + one + "GET /metrics HTTP/1.1\r\n")!;
  assert.equal(parsed.length, one.length);
  assert.equal(parsed.head.target, "/healthz");
});

Deno.test("parseRequestHead() keeps HTTP/1.1 alive unless Connection: close, and never HTTP/1.0", () => {
  assert.equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n")!.head.keepAlive, true);
  assert.equal(
    parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")!.head.keepAlive,
    false,
  );
  assert.equal(
    parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n")!.head.keepAlive,
    false,
  );
  assert.equal(parse("GET / HTTP/1.0\r\n\r\n")!.head.keepAlive, false);
  assert.equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")!.head.keepAlive, false);
  // HTTP/1.0 may omit Host, and cannot ask for 100-continue.
  const old = parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")!;
  assert.deepEqual([old.head.host, old.head.expectContinue], [undefined, false]);
});

Deno.test("parseRequestHead() refuses every request smuggling shape", () => {
  // Content-Length and Transfer-Encoding together (CL.TE / TE.CL).
  refused(`${POST_HEAD}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, "BAD_HTTP");
  refused(`${POST_HEAD}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, 400, "BAD_HTTP");
  // Two Content-Lengths, equal or not, or a list of them.
  refused(`${POST_HEAD}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, 400, "BAD_HTTP");
  refused(`${POST_HEAD}Content-Length: 5\r\nContent-length: 5\r\n\r\n`, 400, "BAD_HTTP");
  refused(`${POST_HEAD}Content-Length: 5, 5\r\n\r\n`, 400, "BAD_HTTP");
  // Lengths that are not plain digits.
  for (const value of ["-1", "+5", "0x10", "5 5", "", "1e3", "99999999999999999"]) {
    refused(`${POST_HEAD}Content-Length: ${value}\r\n\r\n`, 400, "BAD_HTTP");
  }
  // Any Transfer-Encoding: chunked is asked to come with a length, the rest refused.
  refused(`${POST_HEAD}Transfer-Encoding: chunked\r\n\r\n`, 411, "LENGTH_REQUIRED");
  refused(`${POST_HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n`, 411, "LENGTH_REQUIRED");
  refused(`${POST_HEAD}Transfer-Encoding: identity\r\n\r\n`, 400, "BAD_HTTP");
  refused(`${POST_HEAD}Transfer-Encoding: chunked, identity\r\n\r\n`, 400, "BAD_HTTP");
  refused(`${POST_HEAD}Transfer-Encoding : chunked\r\n\r\n`, 400, "BAD_HTTP");
  // Folded lines, bare line ends, and whitespace before the colon.
  refused(`${POST_HEAD}X-A: a\r\n b\r\n\r\n`, 400, "BAD_HTTP");
  refused(`${POST_HEAD}X-A: a\r\n\tb\r\n\r\n`, 400, "BAD_HTTP");
  refused("GET / HTTP/1.1\nHost: x\n\n", 400, "BAD_HTTP");
  refused("GET / HTTP/1.1\r\nHost: x\n\r\n", 400, "BAD_HTTP");
  refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, "BAD_HTTP");
  refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length\r\n\r\n", 400, "BAD_HTTP");
  refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "BAD_HTTP");
});

Deno.test("parseRequestHead() refuses NUL and control characters anywhere in the head", () => {
  refused("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n", 400, "BAD_HTTP");
  refused("GET /healthz HTTP/1.1\r\nHost: x\r\nX-\u0000: a\r\n\r\n", 400, "BAD_HTTP");
  refused("GET /v1/\u0000info HTTP/1.1\r\nHost: x\r\n\r\n", 400, "BAD_HTTP");
  refused("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: \u001b[31m\r\n\r\n", 400, "BAD_HTTP");
  refused("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u007fb\r\n\r\n", 400, "BAD_HTTP");
  // A tab inside a value is allowed, and so is Latin-1 (obs-text), byte for byte.
  const parsed = parse("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\tb \xe9\xff\r\n\r\n")!;
  assert.deepEqual(parsed.head.headers[1], ["X-A", "a\tb \xe9\xff"]);
});

Deno.test("parseRequestHead() refuses request lines that are not method, path and HTTP/1.x", () => {
  for (
    const line of [
      "GARBAGE",
      "GET /healthz",
      "GET  /healthz HTTP/1.1",
      "GET /healthz  HTTP/1.1",
      "GET /v1/in fo HTTP/1.1",
      "GET https://evil.example/v1/info HTTP/1.1",
      "OPTIONS * HTTP/1.1",
      "GET /v1/info#frag HTTP/1.1",
      "GET /v1/\xff HTTP/1.1",
      "GET /healthz HTTP/9.9",
      "GET /healthz HTTP/2.0",
      "GET /healthz http/1.1",
      "G(T /healthz HTTP/1.1",
    ]
  ) {
    refused(`${line}\r\nHost: x\r\n\r\n`, 400, "BAD_HTTP");
  }
  refused("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 400, "BAD_HTTP");
  refused("CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n", 405, "METHOD_NOT_ALLOWED");
  refused("TRACE /v1/info HTTP/1.1\r\nHost: x\r\n\r\n", 405, "METHOD_NOT_ALLOWED");
});

Deno.test("parseRequestHead() wants exactly one well-formed Host in HTTP/1.1", () => {
  refused("GET / HTTP/1.1\r\n\r\n", 400, "BAD_HTTP");
  refused("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "BAD_HTTP");
  for (const host of ["", "a b", "a/b", "user@a", "a:port", "[::1", "a:123456"]) {
    refused(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 400, "BAD_HTTP");
  }
  for (const host of ["cm.example.org", "cm.example.org:9618", "192.0.2.1:1", "[fd00::2]:9618"]) {
    assert.equal(parse(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)!.head.host, host);
  }
});

Deno.test("parseRequestHead() refuses oversized heads as soon as they are certain", () => {
  const limits = { maxHeadBytes: 1024, maxBodyBytes: 16 * 1024 };
  // A request line that never ends within the limit: 414.
  refused(`GET /${"a".repeat(2000)}`, 414, "URI_TOO_LONG", limits);
  // A header that passes the limit, complete or not: 431.
  refused(
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(2000)}`,
    431,
    "HEADERS_TOO_LARGE",
    limits,
  );
  refused(
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(2000)}\r\n\r\n`,
    431,
    "HEADERS_TOO_LARGE",
    limits,
  );
  // Too many fields, each small.
  refused(
    `GET / HTTP/1.1\r\nHost: x\r\n${"X: v\r\n".repeat(101)}\r\n`,
    431,
    "HEADERS_TOO_LARGE",
  );
  // Endless empty lines before the request line.
  refused("\r\n".repeat(600), 431, "HEADERS_TOO_LARGE", limits);
  // Just under the limit is fine.
  const head = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: `;
  const fits = `${head}${"b".repeat(1024 - head.length - 4)}\r\n\r\n`;
  assert.equal(fits.length, 1024);
  assert.ok(parse(fits, limits));
});

Deno.test("parseRequestHead() refuses a declared body over the limit before reading it", () => {
  refused(`${POST_HEAD}Content-Length: ${16 * 1024 + 1}\r\n\r\n`, 413, "BODY_TOO_LARGE");
  assert.equal(
    parse(`${POST_HEAD}Content-Length: ${16 * 1024}\r\n\r\n`)!.head.contentLength,
    16384,
  );
});

Deno.test("parseRequestHead() refuses an Expect it cannot meet", () => {
  refused(`${POST_HEAD}Expect: 200-ok\r\nContent-Length: 1\r\n\r\n`, 417, "EXPECTATION_FAILED");
  refused(
    `${POST_HEAD}Expect: 100-continue, x\r\nContent-Length: 1\r\n\r\n`,
    417,
    "EXPECTATION_FAILED",
  );
  assert.equal(
    parse(`${POST_HEAD}Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n`)!.head.expectContinue,
    true,
  );
});

/** What parsing gives: the head and its length, undefined, or the refusal's status and code. */
function outcome(run: () => unknown): unknown {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { status: err.status, code: err.code };
  }
}

Deno.test("parseRequestHead() given its scan, byte by byte, answers every prefix as it does afresh", () => {
  const small = { maxHeadBytes: 64, maxBodyBytes: 16 };
  const heads: [string, typeof LIMITS][] = [
    [`\r\n\r\n${POST_HEAD}Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello`, LIMITS],
    ["\r\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", LIMITS],
    ["GET / HTTP/1.1\r\nHost: x\n\r\n", LIMITS],
    [`${POST_HEAD}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, LIMITS],
    [`GET /${"a".repeat(80)} HTTP/1.1\r\n\r\n`, small],
    [`GET / HTTP/1.1\r\nX-A: ${"a".repeat(80)}\r\n\r\n`, small],
    ["\r\n".repeat(40), small],
    ["GET / HTTP/1.1\r\n" + "X: a\r\n".repeat(MAX_HEADER_FIELDS + 1) + "\r\n", LIMITS],
  ];
  for (const [text, limits] of heads) {
    const all = bytes(text);
    const scan = { start: 0, lineStart: 0, lines: 0, searched: 0 };
    for (let n = 0; n <= all.length; n++) {
      const prefix = all.subarray(0, n);
      const afresh = outcome(() => parseRequestHead(prefix, limits));
      assert.deepEqual(outcome(() => parseRequestHead(prefix, limits, scan)), afresh, `${n}`);
      if (afresh !== undefined) break;
    }
  }
});

Deno.test("parseRequestHead() given its scan does not read the complete lines again", () => {
  // A peer dribbling its head a byte at a time must not make each byte cost
  // a scan of all the bytes before it: the lines already complete are not
  // looked at again, as a bare LF planted in them afterwards shows.
  const text = bytes(`${POST_HEAD}X-A: ${"a".repeat(100)}\r\nX-B: b`);
  const scan = { start: 0, lineStart: 0, lines: 0, searched: 0 };
  assert.equal(parseRequestHead(text, LIMITS, scan), undefined);
  assert.equal(scan.lines, 3);
  text[text.indexOf(0x0d)] = 0x20;
  assert.equal(parseRequestHead(text, LIMITS, scan), undefined);
  assert.throws(() => parseRequestHead(text, LIMITS), HttpError);
});
