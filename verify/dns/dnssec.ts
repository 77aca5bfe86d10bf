// DNSSEC for verify: key tags and DS digests (RFC 4034 §5.1.4, App. B), RRSIG verification
// over the canonical RRset (RFC 4034 §3.1.8.1, §6; RFC 6840 §5.1) and the chain from a trust
// anchor down to a zone, one DS/DNSKEY step per zone cut. The data is fetched through the
// resolver with the CD bit, so a broken chain is diagnosed (which DS, which signature) instead
// of only ending in SERVFAIL. Denial of existence (NSEC/NSEC3) is not validated: a record that
// is missing is reported as missing.
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import * as dnsPacket from "dns-packet";
import type { DnsClient, DnsResponse } from "./client";

type DnskeyData = dnsPacket.DnskeyData;
type DsData = dnsPacket.DsData;
type RrsigData = dnsPacket.RrsigData;
type Answer = dnsPacket.Answer;

// dns-packet's per-type encoders, name encoder and type table (exported by the package, not in
// its types; dns-packet 5.6.1 index.js `exports.record`, `exports.name`, types.js `toType`).
const wire = dnsPacket as unknown as {
  record(type: string): { encode(data: unknown): Buffer };
  name: { encode(name: string): Buffer };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const types = require("dns-packet/types") as { toType(name: string): number };

export const ALGORITHMS: Readonly<Record<number, string>> = {
  5: "RSASHA1",
  7: "RSASHA1-NSEC3-SHA1",
  8: "RSASHA256",
  10: "RSASHA512",
  13: "ECDSAP256SHA256",
  14: "ECDSAP384SHA384",
  15: "ED25519",
  16: "ED448",
};

export function canonicalName(name: string): string {
  const trimmed = name.toLowerCase().replace(/\.$/, "");
  return trimmed === "" ? "." : trimmed;
}

function nameWire(name: string): Buffer {
  return wire.name.encode(canonicalName(name));
}

/** RDATA of a record without the length prefix. */
function rdata(type: string, data: unknown): Buffer {
  return wire.record(type).encode(data).subarray(2);
}

export function dnskeyRdata(key: DnskeyData): Buffer {
  return rdata("DNSKEY", key);
}

/** RFC 4034 Appendix B. */
export function keyTag(key: DnskeyData): number {
  const data = dnskeyRdata(key);
  let accumulator = 0;
  for (let i = 0; i < data.length; i++) accumulator += i & 1 ? (data[i] ?? 0) : (data[i] ?? 0) << 8;
  accumulator += (accumulator >> 16) & 0xffff;
  return accumulator & 0xffff;
}

const DIGESTS: Readonly<Record<number, string>> = { 1: "sha1", 2: "sha256", 4: "sha384" };

/** The DS digest of a zone's DNSKEY (RFC 4034 §5.1.4); undefined for an unknown digest type. */
export function dsDigest(owner: string, key: DnskeyData, digestType: number): Buffer | undefined {
  const algorithm = DIGESTS[digestType];
  if (!algorithm) return undefined;
  return createHash(algorithm)
    .update(Buffer.concat([nameWire(owner), dnskeyRdata(key)]))
    .digest();
}

/** The DS record a key would have at the parent, as "<tag> <alg> <digest type> <HEX>". */
export function dsText(owner: string, key: DnskeyData, digestType = 2): string {
  return `${keyTag(key)} ${key.algorithm} ${digestType} ${dsDigest(owner, key, digestType)?.toString("hex").toUpperCase() ?? "?"}`;
}

export function dsMatches(owner: string, ds: DsData, key: DnskeyData): boolean {
  if (ds.keyTag !== keyTag(key) || ds.algorithm !== key.algorithm) return false;
  const digest = dsDigest(owner, key, ds.digestType);
  return digest !== undefined && digest.equals(ds.digest);
}

const b64url = (data: Buffer) => data.toString("base64url");

/** The public key of a DNSKEY (RFC 3110, RFC 6605, RFC 8080); undefined for other algorithms. */
export function publicKey(key: DnskeyData): KeyObject | undefined {
  const data = key.key;
  try {
    switch (key.algorithm) {
      case 5:
      case 7:
      case 8:
      case 10: {
        const long = data[0] === 0;
        const length = long ? data.readUInt16BE(1) : (data[0] ?? 0);
        const start = long ? 3 : 1;
        const e = data.subarray(start, start + length);
        const n = data.subarray(start + length);
        return createPublicKey({ key: { kty: "RSA", n: b64url(n), e: b64url(e) }, format: "jwk" });
      }
      case 13:
      case 14: {
        const size = key.algorithm === 13 ? 32 : 48;
        if (data.length !== 2 * size) return undefined;
        return createPublicKey({
          key: {
            kty: "EC",
            crv: key.algorithm === 13 ? "P-256" : "P-384",
            x: b64url(data.subarray(0, size)),
            y: b64url(data.subarray(size)),
          },
          format: "jwk",
        });
      }
      case 15:
      case 16:
        return createPublicKey({
          key: { kty: "OKP", crv: key.algorithm === 15 ? "Ed25519" : "Ed448", x: b64url(data) },
          format: "jwk",
        });
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** Names in RDATA that are lower-cased in the canonical form (RFC 4034 §6.2 as amended by RFC 6840 §5.1). */
function canonicalData(record: Answer): unknown {
  const data = (record as { data: unknown }).data;
  const lower = (value: unknown) => (typeof value === "string" ? canonicalName(value) : value);
  switch (record.type) {
    case "NS":
    case "CNAME":
    case "PTR":
    case "DNAME":
      return lower(data);
    case "MX":
      return { ...(data as object), exchange: lower((data as dnsPacket.MxData).exchange) };
    case "SRV":
      return { ...(data as object), target: lower((data as dnsPacket.SrvData).target) };
    case "SOA":
      return {
        ...(data as object),
        mname: lower((data as dnsPacket.SoaData).mname),
        rname: lower((data as dnsPacket.SoaData).rname),
      };
    case "RRSIG":
      return { ...(data as object), signersName: lower((data as RrsigData).signersName) };
    default:
      return data;
  }
}

/** The data an RRSIG signs: its RDATA without the signature, then the RRset in canonical order. */
export function signedData(records: readonly Answer[], signature: RrsigData): Buffer {
  const header = rdata("RRSIG", {
    ...signature,
    signersName: canonicalName(signature.signersName),
    signature: Buffer.alloc(0),
  });
  const owner = canonicalName(records[0]?.name ?? "");
  // A wildcard expansion is signed as "*.<the last `labels` labels>" (RFC 4035 §5.3.2).
  const labels = owner === "." ? [] : owner.split(".");
  const signedOwner =
    labels.length > signature.labels ? `*.${labels.slice(labels.length - signature.labels).join(".")}` : owner;
  const ownerWire = nameWire(signedOwner);
  const rrs = records
    .map((record) => rdata(record.type, canonicalData(record)))
    .sort((a, b) => Buffer.compare(a, b))
    .filter((data, index, all) => index === 0 || !data.equals(all[index - 1] ?? Buffer.alloc(0)))
    .map((data) => {
      const fixed = Buffer.alloc(10);
      fixed.writeUInt16BE(types.toType(signature.typeCovered), 0);
      fixed.writeUInt16BE(1, 2); // IN
      fixed.writeUInt32BE(signature.originalTTL, 4);
      fixed.writeUInt16BE(data.length, 8);
      return Buffer.concat([ownerWire, fixed, data]);
    });
  return Buffer.concat([header, ...rrs]);
}

const HASHES: Readonly<Record<number, string | null>> = {
  5: "sha1",
  7: "sha1",
  8: "sha256",
  10: "sha512",
  13: "sha256",
  14: "sha384",
  15: null,
  16: null,
};

/** RFC 1982 serial arithmetic on 32-bit times: a before b. */
function before(a: number, b: number): boolean {
  return a !== b && (b - a) >>> 0 < 0x80000000;
}

export type SignatureCheck = { readonly valid: true } | { readonly valid: false; readonly reason: string };

export function checkSignature(
  records: readonly Answer[],
  signature: RrsigData,
  key: DnskeyData,
  now: Date,
): SignatureCheck {
  const object = publicKey(key);
  const hash = HASHES[signature.algorithm];
  if (!object || hash === undefined) {
    return {
      valid: false,
      reason: `algorithm ${signature.algorithm} (${ALGORITHMS[signature.algorithm] ?? "unknown"}) is not supported`,
    };
  }
  const data = signedData(records, signature);
  const ecdsa = signature.algorithm === 13 || signature.algorithm === 14;
  const ok = verifySignature(
    hash,
    data,
    ecdsa ? { key: object, dsaEncoding: "ieee-p1363" } : object,
    signature.signature,
  );
  if (!ok) return { valid: false, reason: `the signature by key ${signature.keyTag} does not verify` };
  const seconds = Math.floor(now.getTime() / 1000) >>> 0;
  if (before(seconds, signature.inception)) {
    return {
      valid: false,
      reason: `the signature by key ${signature.keyTag} is valid only from ${rrsigTime(signature.inception, now)}`,
    };
  }
  if (before(signature.expiration, seconds)) {
    return {
      valid: false,
      reason: `the signature by key ${signature.keyTag} expired at ${rrsigTime(signature.expiration, now)}`,
    };
  }
  return { valid: true };
}

/** A 32-bit RRSIG time as an ISO date near `now`. */
function rrsigTime(value: number, now: Date): string {
  const seconds = Math.floor(now.getTime() / 1000);
  const base = seconds - (seconds % 2 ** 32);
  let candidate = base + value;
  if (candidate - seconds > 2 ** 31) candidate -= 2 ** 32;
  if (seconds - candidate > 2 ** 31) candidate += 2 ** 32;
  return new Date(candidate * 1000).toISOString();
}

// ---- trust anchors ------------------------------------------------------------------------------

export interface TrustAnchor {
  readonly owner: string;
  readonly ds?: DsData;
  readonly dnskey?: DnskeyData;
}

export const DEFAULT_TRUST_ANCHOR_FILE = "/usr/share/dns/root.key";

/** DS and DNSKEY lines in presentation form ("de. IN DS 12345 13 2 ABCD…"), as Unbound's trust-anchor-file. */
export function parseTrustAnchors(text: string, source: string): TrustAnchor[] {
  const anchors: TrustAnchor[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/;.*$/, "").trim();
    if (line === "") return;
    const tokens = line.split(/\s+/);
    const owner = tokens.shift() ?? "";
    while (tokens.length > 0 && (/^\d+$/.test(tokens[0] ?? "") || /^(IN|CH|HS)$/i.test(tokens[0] ?? "")))
      tokens.shift();
    const type = (tokens.shift() ?? "").toUpperCase();
    const problem = (what: string) => new Error(`${source}:${index + 1}: ${what}`);
    if (type === "DS") {
      const [tag, algorithm, digestType, ...hex] = tokens;
      const digest = Buffer.from(hex.join(""), "hex");
      if (!tag || !algorithm || !digestType || digest.length === 0)
        throw problem("expected <tag> <algorithm> <digest type> <hex digest>");
      anchors.push({
        owner: canonicalName(owner),
        ds: { keyTag: Number(tag), algorithm: Number(algorithm), digestType: Number(digestType), digest },
      });
    } else if (type === "DNSKEY") {
      const [flags, protocol, algorithm, ...key] = tokens;
      if (!flags || protocol !== "3" || !algorithm || key.length === 0)
        throw problem("expected <flags> 3 <algorithm> <base64 key>");
      anchors.push({
        owner: canonicalName(owner),
        dnskey: { flags: Number(flags), algorithm: Number(algorithm), key: Buffer.from(key.join(""), "base64") },
      });
    } else {
      throw problem(`expected a DS or DNSKEY record, found "${type}"`);
    }
  });
  if (anchors.length === 0) throw new Error(`${source} holds no DS or DNSKEY record`);
  return anchors;
}

export function readTrustAnchors(file: string): TrustAnchor[] {
  return parseTrustAnchors(readFileSync(file, "utf8"), file);
}

// ---- the chain ------------------------------------------------------------------------------------

/** One zone cut on the way down: the DS the parent serves and the zone's keys. */
export interface ChainLink {
  readonly zone: string;
  readonly parent: string;
  readonly ds: readonly DsData[];
  readonly dnskeys: readonly DnskeyData[];
  /** Key tags of the DNSKEYs some DS matches. */
  readonly matched: readonly number[];
}

export type Chain =
  | {
      readonly secure: true;
      readonly zone: string;
      readonly keys: readonly DnskeyData[];
      readonly links: readonly ChainLink[];
    }
  | {
      readonly secure: false;
      readonly zone: string;
      /** Where the chain broke. */
      readonly at: string;
      readonly reason: "no-anchor" | "anchor" | "no-ds" | "ds-mismatch" | "signature" | "lookup";
      readonly problem: string;
      readonly links: readonly ChainLink[];
      readonly link?: ChainLink;
    };

function isAtOrBelow(name: string, zone: string): boolean {
  const n = canonicalName(name);
  const z = canonicalName(zone);
  return z === "." || n === z || n.endsWith(`.${z}`);
}

function ownedBy(records: readonly Answer[], name: string, type: string): Answer[] {
  return records.filter((r) => r.type === type && canonicalName(r.name) === canonicalName(name));
}

function signatures(records: readonly Answer[], name: string, type: string): RrsigData[] {
  return ownedBy(records, name, "RRSIG")
    .map((r) => (r as dnsPacket.RrsigAnswer).data)
    .filter((sig) => sig.typeCovered === type);
}

export type RrsetCheck =
  { readonly secure: true; readonly keyTag: number } | { readonly secure: false; readonly reason: string };

/** Whether one of the RRSIGs over `records` verifies with one of `keys` (signed by `zone`). */
export function checkRrset(
  records: readonly Answer[],
  sigs: readonly RrsigData[],
  zone: string,
  keys: readonly DnskeyData[],
  now: Date,
): RrsetCheck {
  if (records.length === 0) return { secure: false, reason: "no records" };
  if (sigs.length === 0) return { secure: false, reason: "no RRSIG" };
  const reasons: string[] = [];
  for (const sig of sigs) {
    if (canonicalName(sig.signersName) !== canonicalName(zone)) {
      reasons.push(`signed by ${sig.signersName}, not by the zone ${zone}`);
      continue;
    }
    const candidates = keys.filter((key) => keyTag(key) === sig.keyTag && key.algorithm === sig.algorithm);
    if (candidates.length === 0) {
      reasons.push(
        `signed by key ${sig.keyTag} (algorithm ${sig.algorithm}), which is not in the DNSKEY set of ${zone}`,
      );
      continue;
    }
    for (const key of candidates) {
      const result = checkSignature(records, sig, key, now);
      if (result.valid) return { secure: true, keyTag: sig.keyTag };
      reasons.push(result.reason);
    }
  }
  return { secure: false, reason: [...new Set(reasons)].join("; ") };
}

export class Validator {
  private readonly chains = new Map<string, Promise<Chain>>();

  constructor(
    private readonly dns: DnsClient,
    private readonly anchors: readonly TrustAnchor[],
    private readonly now: Date,
  ) {}

  /** The validated DNSKEY set of `zone`, or where the chain from the trust anchor breaks. */
  chain(zone: string): Promise<Chain> {
    const key = canonicalName(zone);
    let pending = this.chains.get(key);
    if (!pending) {
      pending = this.build(key);
      this.chains.set(key, pending);
    }
    return pending;
  }

  private async fetch(name: string, type: dnsPacket.RecordType): Promise<DnsResponse> {
    return this.dns.query(name, type, { cd: true });
  }

  private async build(zone: string): Promise<Chain> {
    const covering = this.anchors
      .filter((anchor) => isAtOrBelow(zone, anchor.owner))
      .sort((a, b) => b.owner.length - a.owner.length);
    const top = covering[0]?.owner;
    if (top === undefined) {
      return {
        secure: false,
        zone,
        at: zone,
        reason: "no-anchor",
        problem: `no trust anchor covers ${zone}`,
        links: [],
      };
    }
    const anchors = covering.filter((anchor) => anchor.owner === top);
    const links: ChainLink[] = [];
    let response: DnsResponse;
    try {
      response = await this.fetch(top, "DNSKEY");
    } catch (error) {
      return { secure: false, zone, at: top, reason: "lookup", problem: (error as Error).message, links };
    }
    const topKeys = ownedBy(response.answers, top, "DNSKEY").map((r) => (r as dnsPacket.DnskeyAnswer).data);
    const trusted = topKeys.filter((key) =>
      anchors.some((anchor) =>
        anchor.ds
          ? dsMatches(top, anchor.ds, key)
          : anchor.dnskey
            ? dnskeyRdata(anchor.dnskey).equals(dnskeyRdata(key))
            : false,
      ),
    );
    const topCheck = checkRrset(
      ownedBy(response.answers, top, "DNSKEY"),
      signatures(response.answers, top, "DNSKEY"),
      top,
      trusted,
      this.now,
    );
    if (trusted.length === 0 || !topCheck.secure) {
      return {
        secure: false,
        zone,
        at: top,
        reason: "anchor",
        problem:
          trusted.length === 0
            ? `no DNSKEY of ${top} matches the trust anchor (keys served: ${topKeys.map(keyTag).join(", ") || "none"})`
            : `the DNSKEY set of ${top} is not signed by the trust anchor's key: ${topCheck.secure ? "" : topCheck.reason}`,
        links,
      };
    }
    let current = top;
    let keys: readonly DnskeyData[] = topKeys;
    const below = top === "." ? zone.split(".") : zone.slice(0, zone.length - top.length - 1).split(".");
    const steps =
      zone === top
        ? []
        : below.map((_, index) => below.slice(index).join(".") + (top === "." ? "" : `.${top}`)).reverse();
    for (const name of steps) {
      let dsResponse: DnsResponse;
      try {
        dsResponse = await this.fetch(name, "DS");
      } catch (error) {
        return { secure: false, zone, at: name, reason: "lookup", problem: (error as Error).message, links };
      }
      const dsRecords = ownedBy(dsResponse.answers, name, "DS");
      if (dsRecords.length === 0) {
        if (name === zone) {
          return {
            secure: false,
            zone,
            at: name,
            reason: "no-ds",
            problem: `${current} serves no DS record for ${zone}: the zone is not delegated securely`,
            links,
          };
        }
        continue; // not a zone cut (or an insecure one, which the next step shows)
      }
      const ds = dsRecords.map((r) => (r as dnsPacket.DSAnswer).data);
      const dsCheck = checkRrset(dsRecords, signatures(dsResponse.answers, name, "DS"), current, keys, this.now);
      if (!dsCheck.secure) {
        return {
          secure: false,
          zone,
          at: current,
          reason: "signature",
          problem: `the DS RRset of ${name} at ${current} does not validate: ${dsCheck.reason}`,
          links,
        };
      }
      let keyResponse: DnsResponse;
      try {
        keyResponse = await this.fetch(name, "DNSKEY");
      } catch (error) {
        return { secure: false, zone, at: name, reason: "lookup", problem: (error as Error).message, links };
      }
      const keyRecords = ownedBy(keyResponse.answers, name, "DNSKEY");
      const dnskeys = keyRecords.map((r) => (r as dnsPacket.DnskeyAnswer).data);
      const matchedKeys = dnskeys.filter((key) => ds.some((d) => dsMatches(name, d, key)));
      const link: ChainLink = { zone: name, parent: current, ds, dnskeys, matched: matchedKeys.map(keyTag) };
      if (matchedKeys.length === 0) {
        return {
          secure: false,
          zone,
          at: name,
          reason: "ds-mismatch",
          problem: `the DS at ${current} (${ds.map((d) => `${d.keyTag} ${d.algorithm} ${d.digestType}`).join(", ")}) matches no DNSKEY of ${name} (keys: ${dnskeys.map((k) => `${keyTag(k)}${k.flags & 1 ? " KSK" : ""}`).join(", ") || "none"})`,
          links,
          link,
        };
      }
      const keyCheck = checkRrset(
        keyRecords,
        signatures(keyResponse.answers, name, "DNSKEY"),
        name,
        matchedKeys,
        this.now,
      );
      if (!keyCheck.secure) {
        return {
          secure: false,
          zone,
          at: name,
          reason: "signature",
          problem: `the DNSKEY set of ${name} is not signed by the key its DS points to: ${keyCheck.reason}`,
          links,
          link,
        };
      }
      links.push(link);
      current = name;
      keys = dnskeys;
    }
    return { secure: true, zone, keys, links };
  }

  /** Whether the RRset name/type validates with the keys of `zone`. */
  async rrset(name: string, type: dnsPacket.RecordType, zone: string): Promise<RrsetCheck> {
    const chain = await this.chain(zone);
    if (!chain.secure) return { secure: false, reason: `the chain of trust to ${zone} is broken (${chain.problem})` };
    let response: DnsResponse;
    try {
      response = await this.fetch(name, type);
    } catch (error) {
      return { secure: false, reason: (error as Error).message };
    }
    return checkRrset(
      ownedBy(response.answers, name, type),
      signatures(response.answers, name, type),
      zone,
      chain.keys,
      this.now,
    );
  }
}
