/**
 * Host names and IP literals as trust decisions compare them: whether a host
 * is an address, whether a certificate's names cover it, and whether it is
 * this host's own loopback.
 *
 * @module
 */

/** Whether `host` is an IPv4 or IPv6 address (bracketed or not) rather than a name. */
export function isIpAddress(host: string): boolean {
  const h = unbracketed(host);
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(":");
}

/**
 * Whether `host` is a loopback address of this host (127.0.0.0/8, ::1, or
 * an IPv4-mapped loopback). Names, even "localhost", are not: a name is
 * resolved elsewhere and may point anywhere.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = normalizeIp(host);
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  if (h === "::1") return true;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(h);
  if (mapped) return isLoopbackAddress(mapped[1]);
  // URL writes a mapped IPv4 address in hex: ::ffff:7f00:1 is 127.0.0.1.
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  return hex !== null && parseInt(hex[1], 16) >> 8 === 127;
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

/** An IP address in one canonical text form (IPv6 compressed, lower case); names pass unchanged. */
export function normalizeIp(ip: string): string {
  const h = unbracketed(ip.trim());
  if (!h.includes(":")) return h;
  try {
    return unbracketed(new URL(`https://[${h}]/`).hostname);
  } catch (err) {
    if (err instanceof TypeError) return h.toLowerCase(); // not an address URL accepts
    throw err;
  }
}

/** `host` without the brackets of an IPv6 literal. */
export function unbracketed(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1");
}

/** `host` with brackets when it is an IPv6 literal, for `host:port`. */
export function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
