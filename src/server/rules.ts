/**
 * Auto-approval rules with HTCondor's exact semantics, and the netblock
 * matching they rest on: IPv4 and IPv6 CIDR blocks, HTCondor's other
 * netblock spellings (`192.0.2.*`, `128.105.0.0/255.255.0.0`, `*`), and
 * IPv4-mapped IPv6 peers (`::ffff:192.0.2.7`) matched as the IPv4 address
 * they carry.
 *
 * @module
 */

/** A parsed netblock: address bytes and prefix length, or "everything". */
export interface Netblock {
  /** 4 bytes (IPv4) or 16 bytes (IPv6); empty when `all`. */
  bytes: Uint8Array;
  prefix: number;
  /** `*` or `*\/*`: matches every address of either family. */
  all: boolean;
}

/** An installed auto-approval rule (times in epoch seconds). */
export interface ApprovalRule {
  netblock: string;
  issuedAt: number;
  expiresAt: number;
}

/** What auto-approval looks at in a request. */
export interface RuleCandidate {
  requestedIdentity: string;
  authorizations: readonly string[];
  peerLocation: string;
  /** Epoch seconds. */
  requestedAt: number;
  /** Requested token lifetime in seconds (after the daemon's caps), null when none. */
  lifetime: number | null;
}

/** Authorizations a request may carry and still be auto-approved. */
export const AUTO_APPROVABLE = ["ADVERTISE_STARTD", "ADVERTISE_SCHEDD", "ADVERTISE_MASTER"];

/** How long before its installation a rule still approves requests (HTCondor: 60 s). */
export const RULE_GRACE_SECONDS = 60;

/**
 * The first rule that auto-approves `request` at time `now`, or undefined.
 * As HTCondor: the requested identity starts with `condor@`; the
 * authorizations are non-empty and only ADVERTISE_STARTD/SCHEDD/MASTER; the
 * request's token lifetime (if any) has not run out since it was made; the
 * peer is in the rule's netblock; and the request was made no later than the
 * rule's expiry and no earlier than 60 s before the rule was installed.
 */
export function matchingRule<Rule extends ApprovalRule>(
  request: RuleCandidate,
  rules: readonly Rule[],
  now: number,
): Rule | undefined {
  if (!request.requestedIdentity.startsWith("condor@")) return undefined;
  if (request.authorizations.length === 0) return undefined;
  if (!request.authorizations.every((a) => AUTO_APPROVABLE.includes(a))) return undefined;
  // HTCondor's quirk: a request whose token lifetime has already passed since
  // it was made is not auto-approved; no lifetime counts as one year.
  if (now > request.requestedAt + (request.lifetime ?? 365 * 86_400)) return undefined;
  return rules.find((rule) =>
    addressInNetblock(request.peerLocation, rule.netblock) &&
    request.requestedAt <= rule.expiresAt &&
    request.requestedAt >= rule.issuedAt - RULE_GRACE_SECONDS
  );
}

/** True when `address` (an IP literal) lies in `netblock` (HTCondor's spellings). */
export function addressInNetblock(address: string, netblock: string): boolean {
  const block = parseNetblock(netblock);
  if (!block) return false;
  if (block.all) return parseIp(address) !== undefined;
  for (const candidate of addressForms(address)) {
    if (
      candidate.length === block.bytes.length && prefixEqual(candidate, block.bytes, block.prefix)
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Parses a netblock as HTCondor's `condor_netaddr::from_net_string` does:
 * `*`, `ADDR/BITS`, `IPv4/DOTTED-MASK`, a bare address (a single host),
 * `192.0.2.*` or `192.0.` (whole octets), and `2001:db8:*` (whole groups).
 * Unlike HTCondor, a prefix longer than the address or an empty one is refused.
 */
export function parseNetblock(text: string): Netblock | undefined {
  const net = text.trim();
  if (net === "*" || net === "*/*") return { bytes: new Uint8Array(0), prefix: 0, all: true };
  const slash = net.indexOf("/");
  if (slash >= 0) {
    const base = parseIp(net.slice(0, slash));
    const rest = net.slice(slash + 1);
    if (!base) return undefined;
    if (/^\d{1,3}$/.test(rest)) {
      const prefix = Number(rest);
      if (prefix > base.length * 8) return undefined;
      return { bytes: base, prefix, all: false };
    }
    if (base.length !== 4) return undefined;
    const mask = parseIpv4(rest);
    if (!mask) return undefined;
    const prefix = maskToPrefix(mask);
    return prefix === undefined ? undefined : { bytes: base, prefix, all: false };
  }
  if (!net.includes(":")) return parseIpv4Wildcard(net);
  if (!net.includes("*")) {
    const base = parseIpv6(net);
    return base ? { bytes: base, prefix: 128, all: false } : undefined;
  }
  // IPv6 wildcard: the asterisk must follow the last colon and be the end.
  if (!net.endsWith(":*") || net.indexOf("*") !== net.length - 1) return undefined;
  const base = parseIpv6(net.slice(0, -1) + ":");
  if (!base) return undefined;
  const groups = net.split(":").length - 1;
  return { bytes: base, prefix: Math.min(groups * 16, 128), all: false };
}

/** Address bytes (4 or 16), or undefined when `text` is not an IP literal. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/**
 * The canonical text of a peer address: IPv4-mapped IPv6 addresses become
 * the IPv4 address, brackets and zone ids are dropped.
 */
export function canonicalPeer(address: string): string {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const bytes = parseIp(bare);
  if (bytes && bytes.length === 16 && isV4Mapped(bytes)) {
    return Array.from(bytes.slice(12)).join(".");
  }
  return bare;
}

/**
 * What per-peer limits count by: the canonical IPv4 address (an IPv4-mapped
 * IPv6 peer counts as the IPv4 address it carries), or the /64 of an IPv6
 * address, since one IPv6 host commonly holds a whole /64. Anything that
 * is not an IP literal counts as itself.
 */
export function peerGroup(peer: string): string {
  const canonical = canonicalPeer(peer);
  const bytes = parseIp(canonical);
  if (!bytes || bytes.length !== 16) return canonical;
  const words = [];
  for (let i = 0; i < 8; i += 2) words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `${words.join(":")}::/64`;
}

function addressForms(address: string): Uint8Array[] {
  const bytes = parseIp(canonicalPeer(address));
  if (!bytes) return [];
  if (bytes.length === 4) {
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    mapped.set(bytes, 12);
    return [bytes, mapped];
  }
  return [bytes];
}

function isV4Mapped(bytes: Uint8Array): boolean {
  return bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

function prefixEqual(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  let bits = prefix;
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    bytes[i] = Number(parts[i]);
  }
  return bytes;
}

/** `192.0.2.7` (one host), `192.0.2.*`, `192.0.*`, `192.0.2.`, `192.0.` */
function parseIpv4Wildcard(text: string): Netblock | undefined {
  let body = text;
  if (body.endsWith(".*")) body = body.slice(0, -2);
  else if (body.endsWith(".")) body = body.slice(0, -1);
  else if (body.endsWith("*")) return undefined;
  const parts = body.split(".");
  if (parts.length < 1 || parts.length > 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < parts.length; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    bytes[i] = Number(parts[i]);
  }
  if (parts.length < 4 && body === text) return undefined; // "192.0.2" is not an address
  return { bytes, prefix: parts.length * 8, all: false };
}

function parseIpv6(text: string): Uint8Array | undefined {
  let body = text;
  const lastColon = body.lastIndexOf(":");
  if (lastColon < 0) return undefined;
  if (body.slice(lastColon + 1).includes(".")) {
    // Embedded IPv4 (`::ffff:192.0.2.7`): rewrite it as two hex groups.
    const v4 = parseIpv4(body.slice(lastColon + 1));
    if (!v4) return undefined;
    const hi = ((v4[0] << 8) | v4[1]).toString(16);
    const lo = ((v4[2] << 8) | v4[3]).toString(16);
    body = `${body.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (![...head, ...tail].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const given = head.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const words = [
    ...head.map((g) => parseInt(g, 16)),
    ...Array(8 - given).fill(0),
    ...tail.map((g) => parseInt(g, 16)),
  ];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

function maskToPrefix(mask: Uint8Array): number | undefined {
  let prefix = 0;
  let ended = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const set = (byte >> bit) & 1;
      if (set && ended) return undefined;
      if (set) prefix++;
      else ended = true;
    }
  }
  return prefix;
}
