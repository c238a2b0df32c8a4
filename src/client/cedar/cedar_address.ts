/**
 * Addresses of HTCondor daemons as the native protocol dials them:
 * `cedar://host:port?alias=name` URLs, made from sinful strings
 * (`<ip:port?addrs=...&alias=...>`) or host names. The alias is the host
 * name the daemon's certificate is checked against when the address is an IP.
 *
 * @module
 */

/** Where a CEDAR daemon listens and what to call it. */
export interface CedarAddress {
  /** Host name or IP address to connect to (IPv6 without brackets). */
  host: string;
  port: number;
  /** Host name for the certificate check (the sinful's `alias`), when given. */
  alias: string | undefined;
  /** The daemon's ID behind a shared port (the sinful's `sock`), when given. */
  sharedPortId: string | undefined;
}

/** Scheme of native-protocol daemon URLs. */
export const CEDAR_PROTOCOL = "cedar:";

/** The address inside a `cedar://` URL. */
export function cedarAddressOf(url: URL): CedarAddress {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const alias = url.searchParams.get("alias") || undefined;
  const sharedPortId = url.searchParams.get("sock") || undefined;
  return { host, port: Number(url.port || "9618"), alias, sharedPortId };
}

/**
 * Parses a sinful string `<host:port?params>` into a `cedar://` URL keeping
 * the alias and the shared-port ID (`sock`). Returns undefined when it is
 * not one.
 */
export function parseSinful(text: string): URL | undefined {
  const m = /^<(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})(?:\?([^>]*))?>$/.exec(text.trim());
  if (!m || Number(m[2]) > 65535) return undefined;
  const params = new URLSearchParams(m[3] ?? "");
  const url = new URL(`cedar://${m[1]}:${m[2]}`);
  const alias = params.get("alias");
  if (alias && /^[A-Za-z0-9_.-]+$/.test(alias)) url.searchParams.set("alias", alias);
  const sock = params.get("sock");
  if (sock && /^[A-Za-z0-9_.-]+$/.test(sock)) url.searchParams.set("sock", sock);
  return url;
}

/** The sinful string of an address, as HTCondor's tools send it in ConnectSinful. */
export function sinfulOf(address: CedarAddress): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  const params = [
    ...(address.alias ? [`alias=${address.alias}`] : []),
    ...(address.sharedPortId ? [`sock=${address.sharedPortId}`] : []),
  ];
  return `<${host}:${address.port}${params.length > 0 ? `?${params.join("&")}` : ""}>`;
}

/** The host name a daemon's certificate must be valid for. */
export function certificateHost(address: CedarAddress): string {
  return address.alias ?? address.host;
}

/** `host:port` for messages and the known-hosts file: the name checked, and the port. */
export function cedarHostKey(address: CedarAddress): string {
  const host = certificateHost(address).toLowerCase();
  return `${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}
