// mailauth takes a resolver function shaped like node:dns `resolve(name, rrtype)`: arrays of
// strings, TXT as string[][], MX as {exchange, priority}, errors with ENOTFOUND/ENODATA codes
// (mailauth 4.13.3 lib/spf/index.js, lib/tools.js getPublicKey, lib/dmarc/get-dmarc-record.js,
// lib/mta-sts.js). This adapter answers through verify's own client, so mailauth sees the same
// resolver as every other check.
import type * as dnsPacket from "dns-packet";
import { recordsOf, txtText, type DnsClient } from "./client";

export type NodeStyleResolver = (name: string, rrtype: string) => Promise<unknown>;

class ResolveError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const CODES: Readonly<Record<string, string>> = { NXDOMAIN: "ENOTFOUND", SERVFAIL: "ESERVFAIL", REFUSED: "EREFUSED" };

export function nodeStyleResolver(dns: DnsClient): NodeStyleResolver {
  return async (name, rrtype) => {
    const type = rrtype.toUpperCase() as dnsPacket.RecordType;
    const response = await dns.query(name, type);
    if (response.rcode !== "NOERROR") {
      throw new ResolveError(CODES[response.rcode] ?? "EBADRESP", `${type} ${name}: ${response.rcode}`);
    }
    let values: unknown[];
    switch (type) {
      case "TXT":
        values = recordsOf(response, "TXT").map((r) => {
          const parts = Array.isArray(r.data) ? r.data : [r.data];
          return parts.map((part) => txtText(part));
        });
        break;
      case "MX":
        values = recordsOf(response, "MX").map((r) => ({
          exchange: r.data.exchange,
          priority: r.data.preference ?? 0,
        }));
        break;
      case "A":
      case "AAAA":
      case "CNAME":
      case "PTR":
      case "NS":
        values = response.answers.filter((r) => r.type === type).map((r) => (r as dnsPacket.StringAnswer).data);
        break;
      default:
        throw new ResolveError("ENOTIMP", `verify does not resolve ${type} for mailauth`);
    }
    if (values.length === 0) throw new ResolveError("ENODATA", `${type} ${name}: no data`);
    return values;
  };
}
