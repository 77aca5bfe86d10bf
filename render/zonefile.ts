// Writes DNS records as an RFC 1035 master file (pure), for review, registrar hand-off and
// migrations. It takes our record type (render/dns-record.ts), the one the Cloudflare arguments
// are made from too. SOA and NS belong to Cloudflare; they are included so that the file loads in
// any DNS server, with the zone's assigned name servers when the config names them.
import { assertNever, txtStrings, type DnsRecord } from "./dns-record";

export interface ZoneFileInput {
  readonly zone: string;
  readonly records: readonly DnsRecord[];
  readonly nameServers?: readonly string[];
  readonly header?: readonly string[];
  /** Cloudflare's "automatic" TTL (ttl: 1) is 300 seconds. */
  readonly defaultTtl?: number;
}

const AUTOMATIC_TTL = 300;

function absolute(name: string): string {
  return name === "." || name.endsWith(".") ? name : `${name}.`;
}

function rdata(record: DnsRecord): string {
  switch (record.type) {
    case "A":
    case "AAAA":
      return record.content;
    case "TXT":
      return txtStrings(record.content);
    case "CNAME":
      return absolute(record.content);
    case "MX":
      return `${record.priority} ${absolute(record.content)}`;
    case "SRV": {
      const { srv } = record;
      return `${srv.priority} ${srv.weight} ${srv.port} ${absolute(srv.target)}`;
    }
    case "TLSA": {
      const { tlsa } = record;
      return `${tlsa.usage} ${tlsa.selector} ${tlsa.matchingType} ${tlsa.certificate}`;
    }
    case "CAA": {
      const { caa } = record;
      return `${caa.flags} ${caa.tag} "${caa.value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    }
    default:
      return assertNever(record);
  }
}
export function zoneFile(input: ZoneFileInput): string {
  const ttl = input.defaultTtl ?? 3600;
  const nameServers = input.nameServers ?? [`ns1.cloudflare.invalid`, `ns2.cloudflare.invalid`];
  const lines = [
    ...(input.header ?? []).map((line) => `; ${line}`),
    `$ORIGIN ${absolute(input.zone)}`,
    `$TTL ${ttl}`,
    `; SOA and NS are Cloudflare's (${input.nameServers ? "the zone's assigned name servers" : "placeholders: set nameServers in the config"})`,
    `@ ${ttl} IN SOA ${absolute(nameServers[0] ?? "")} dns.cloudflare.com. 1 10000 2400 604800 1800`,
    ...nameServers.map((ns) => `@ ${ttl} IN NS ${absolute(ns)}`),
    "",
  ];
  const sorted = [...input.records].sort((a, b) =>
    a.name === b.name
      ? a.type < b.type
        ? -1
        : a.type > b.type
          ? 1
          : rdata(a) < rdata(b)
            ? -1
            : 1
      : a.name < b.name
        ? -1
        : 1,
  );
  for (const record of sorted) {
    const recordTtl = record.ttl === 1 ? AUTOMATIC_TTL : record.ttl;
    lines.push(`; ${record.comment}`, `${absolute(record.name)} ${recordTtl} IN ${record.type} ${rdata(record)}`);
  }
  return `${lines.join("\n")}\n`;
}
