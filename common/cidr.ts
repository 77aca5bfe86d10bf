// Allow-lists judged as a whole: the union of a list of prefixes, its size, and whether it stays
// inside other networks. A list of harmless-looking entries can add up to the whole internet
// (0.0.0.0/1 + 128.0.0.0/1, or 223 /8s), so rules and the config judge the union, never one entry.
// Pure and neutral (common/): the config and the pack both judge allow-lists with it.
import ipaddr from "ipaddr.js";

export type Family = 4 | 6;

/**
 * The most public addresses an admin allow-list may cover, per family: as many as one IPv4 /16 and
 * one IPv6 /48 (a site). Private space (RFC 1918, shared and link-local, IPv6 ULA and link-local)
 * does not count: it cannot reach the host from the internet.
 */
export const MAX_PUBLIC: Readonly<Record<Family, bigint>> = { 4: 1n << 16n, 6: 1n << 80n };
const PRIVATE = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "127.0.0.0/8",
  "fc00::/7",
  "fe80::/10",
  "::1/128",
];
const BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

interface Range {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
}

function toBigInt(bytes: readonly number[]): bigint {
  return bytes.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}

/** "any" (IPv4 here; union() adds IPv6), a bare address or "address/prefix" as a range, or undefined. */
export function parseRange(text: string): Range | undefined {
  const value = text.trim().toLowerCase();
  if (value === "any") return { family: 4, first: 0n, last: (1n << 32n) - 1n };
  const [address = "", prefixText, ...rest] = value.split("/");
  if (rest.length > 0 || !ipaddr.isValid(address)) return undefined;
  let parsed = ipaddr.parse(address);
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  let prefix = prefixText === undefined ? undefined : Number(prefixText);
  // ::ffff:a.b.c.d/N (N >= 96) is the IPv4 prefix a.b.c.d/(N-96) as a dual-stack socket sees it.
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress() && (prefix ?? 128) >= 96) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    if (prefix !== undefined) prefix -= 96;
  }
  const family: Family = parsed.kind() === "ipv4" ? 4 : 6;
  const bits = BITS[family];
  prefix ??= bits;
  if (prefix > bits) return undefined;
  const size = 1n << BigInt(bits - prefix);
  const first = (toBigInt(parsed.toByteArray()) / size) * size;
  return { family, first, last: first + size - 1n };
}

/** Sorted, merged ranges of one family. */
function merge(ranges: readonly Range[], family: Family): Range[] {
  const sorted = ranges.filter((r) => r.family === family).sort((a, b) => (a.first < b.first ? -1 : 1));
  const merged: Range[] = [];
  for (const range of sorted) {
    const last = merged.at(-1);
    if (last && range.first <= last.last + 1n) {
      if (range.last > last.last) merged[merged.length - 1] = { ...last, last: range.last };
    } else merged.push(range);
  }
  return merged;
}

export interface Union {
  /** Addresses covered, per family. */
  readonly size: Readonly<Record<Family, bigint>>;
  /** Public addresses covered (not in PRIVATE), per family. */
  readonly publicSize: Readonly<Record<Family, bigint>>;
  /** Entries that are not addresses or prefixes (left to the caller to report). */
  readonly invalid: readonly string[];
}

export function union(entries: readonly string[]): Union {
  const ranges: Range[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    if (entry.trim().toLowerCase() === "any") ranges.push({ family: 6, first: 0n, last: (1n << 128n) - 1n });
    const range = parseRange(entry);
    if (range) ranges.push(range);
    else invalid.push(entry);
  }
  const count = (list: readonly Range[]) => list.reduce((sum, r) => sum + (r.last - r.first + 1n), 0n);
  const privateRanges = PRIVATE.flatMap((text) => parseRange(text) ?? []);
  const publicCount = (family: Family) => {
    const all = merge(ranges, family);
    const shared = merge(privateRanges, family).flatMap((p) =>
      all.flatMap((r) => {
        const first = r.first > p.first ? r.first : p.first;
        const last = r.last < p.last ? r.last : p.last;
        return first <= last ? [{ family, first, last }] : [];
      }),
    );
    return count(all) - count(shared);
  };
  return {
    size: { 4: count(merge(ranges, 4)), 6: count(merge(ranges, 6)) },
    publicSize: { 4: publicCount(4), 6: publicCount(6) },
    invalid,
  };
}

/** The families whose union holds more public addresses than MAX_PUBLIC, with a readable size. */
export function tooWide(entries: readonly string[]): { family: Family; size: string }[] {
  if (entries.length === 0) return [];
  const { publicSize } = union(entries);
  const wide = ([4, 6] as const).filter((family) => publicSize[family] > MAX_PUBLIC[family]);
  if (wide.length === 0) return [];
  const everything = union(["0.0.0.0/0", "::/0"]).publicSize;
  return wide.map((family) => ({
    family,
    size: publicSize[family] >= everything[family] ? "the whole" : describeSize(publicSize[family], family),
  }));
}

/** A size as the prefix length of one network that large, e.g. "as much as a /1". */
export function describeSize(size: bigint, family: Family): string {
  if (size >= 1n << BigInt(BITS[family])) return "the whole address space";
  const log2 = size.toString(2).length - 1;
  const exact = size === 1n << BigInt(log2);
  return `${exact ? "" : "more than "}as much as one /${BITS[family] - log2}`;
}

/** The entries that do not lie inside the union of `networks`. */
export function outside(entries: readonly string[], networks: readonly string[]): string[] {
  const allowed = networks.flatMap((n) => parseRange(n) ?? []);
  return entries.filter((entry) => {
    const range = parseRange(entry);
    if (!range) return true;
    return !merge(allowed, range.family).some((net) => net.first <= range.first && range.last <= net.last);
  });
}

/** The limit, for messages. */
export const LIMIT_TEXT = "at most as many public addresses as one IPv4 /16 and one IPv6 /48 in total";
