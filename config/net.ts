// IP address and prefix helpers for config validation (pure, no Pulumi import).
// Parsing and range classification come from ipaddr.js; this module only adds strict
// textual forms and the wording of the errors.
import ipaddr from "ipaddr.js";

export type Family = 4 | 6;

export interface Cidr {
  /** The address as written (canonical form), without the prefix length. */
  readonly address: string;
  readonly prefix: number;
  readonly family: Family;
}

/** Parses a dotted-quad IPv4 address; rejects octal, hex and short forms. */
export function parseIpv4(text: string): ipaddr.IPv4 | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
}

/** Parses an IPv6 address without zone index. */
export function parseIpv6(text: string): ipaddr.IPv6 | undefined {
  if (text.includes("%") || !ipaddr.IPv6.isValid(text)) return undefined;
  return ipaddr.IPv6.parse(text);
}

export function parseIp(text: string, family: Family): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  return family === 4 ? parseIpv4(text) : parseIpv6(text);
}

/** Parses "address/prefix" of the given family. */
export function parseCidr(text: string, family: Family): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const address = parseIp(addressText, family);
  if (!address || prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address: address.toString(), prefix, family };
}

export function inPrefix(address: string, cidr: Cidr): boolean {
  const parsed = parseIp(address, cidr.family);
  if (!parsed) return false;
  const network = ipaddr.parse(cidr.address);
  return parsed.kind() === network.kind() && parsed.match(network, cidr.prefix);
}

/** The network address of a prefix, e.g. 10.3.0.0 for 10.3.0.4/24. */
export function networkOf(cidr: Cidr): string {
  const bytes = ipaddr.parse(cidr.address).toByteArray();
  const total = bytes.length * 8;
  for (let bit = cidr.prefix; bit < total; bit++) {
    bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** The broadcast address of an IPv4 prefix. */
export function broadcastOf(cidr: Cidr): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(`${cidr.address}/${cidr.prefix}`).toString();
}

const IPV4_RANGE_NAMES: Record<string, string> = {
  unspecified: "the unspecified address block (0.0.0.0/8)",
  broadcast: "the broadcast address",
  multicast: "a multicast address (224.0.0.0/4)",
  linkLocal: "a link-local address (169.254.0.0/16)",
  loopback: "a loopback address (127.0.0.0/8)",
  carrierGradeNat: "a carrier-grade NAT address (100.64.0.0/10)",
  private: "a private RFC 1918 address",
  reserved: "a reserved or documentation address",
  as112: "an AS112 address",
  amt: "an AMT relay anycast address",
  benchmarking: "a benchmarking address (198.18.0.0/15)",
};

const IPV6_RANGE_NAMES: Record<string, string> = {
  unspecified: "the unspecified address (::)",
  linkLocal: "a link-local address (fe80::/10)",
  multicast: "a multicast address (ff00::/8)",
  loopback: "the loopback address (::1)",
  uniqueLocal: "a unique local address (fc00::/7), which is not routed on the internet",
  ipv4Mapped: "an IPv4-mapped address",
  reserved: "a reserved or documentation address (e.g. 2001:db8::/32)",
  teredo: "a Teredo address",
  "6to4": "a 6to4 address",
  benchmarking: "a benchmarking address",
  discard: "a discard-only address",
};

/**
 * Returns why an IPv4 address is not public unicast, or undefined when it is.
 * `text` must already parse as IPv4.
 */
export function ipv4NotPublic(text: string): string | undefined {
  const address = parseIpv4(text);
  if (!address) return "not a dotted-quad IPv4 address";
  const range = address.range();
  if (range === "unicast") return undefined;
  return IPV4_RANGE_NAMES[range] ?? `an address in the special range "${range}"`;
}

const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");

/** Returns why an IPv6 address is not global unicast (2000::/3), or undefined when it is. */
export function ipv6NotGlobal(text: string): string | undefined {
  const address = parseIpv6(text);
  if (!address) return "not an IPv6 address";
  const range = address.range();
  if (range === "unicast" && address.match(GLOBAL_UNICAST)) return undefined;
  return IPV6_RANGE_NAMES[range] ?? `outside the global unicast block 2000::/3 (${range})`;
}

export function isLinkLocalIpv6(text: string): boolean {
  return parseIpv6(text)?.range() === "linkLocal";
}
