// Maps a DnsRecord to the arguments of a cloudflare.DnsRecord and back (pure). The mapping's
// `mapValue` applies a text transformation to a value that may not be known yet (a pulumi.Output
// in the component, a plain string everywhere else). The way back (recordFromCloudflareArgs) is
// how the offline plan reads the records the Cloudflare provider receives as DnsRecords again.
import {
  assertNever,
  txtStrings,
  txtText,
  type CaaData,
  mapKnownValue,
  type DnsRecord,
  type MapRecordValue,
  type RecordType,
  type SrvData,
  type TlsaData,
} from "./dns-record";

export interface CloudflareRecordArgs<W = string> {
  readonly name: string;
  readonly type: RecordType;
  readonly ttl: number;
  readonly comment: string;
  readonly content?: string | W;
  readonly priority?: number;
  readonly proxied?: boolean;
  readonly data?: SrvData | TlsaData<string | W> | CaaData;
}

const identity = (text: string) => text;

export function cloudflareRecordArgs<V, W>(
  record: DnsRecord<V>,
  mapValue: MapRecordValue<V, W>,
): CloudflareRecordArgs<W> {
  const base = { name: record.name, type: record.type, ttl: record.ttl, comment: record.comment };
  switch (record.type) {
    case "A":
    case "AAAA":
    case "CNAME":
      // Never proxied: mail protocols must reach the host itself.
      return { ...base, content: mapValue(record.content, identity), proxied: false };
    case "MX":
      return { ...base, content: mapValue(record.content, identity), priority: record.priority };
    case "TXT":
      return { ...base, content: mapValue(record.content, txtStrings) };
    case "SRV": {
      const { srv } = record;
      return {
        ...base,
        priority: srv.priority,
        data: { priority: srv.priority, weight: srv.weight, port: srv.port, target: srv.target },
      };
    }
    case "TLSA": {
      const { tlsa } = record;
      return {
        ...base,
        data: {
          usage: tlsa.usage,
          selector: tlsa.selector,
          matchingType: tlsa.matchingType,
          certificate: mapValue(tlsa.certificate, identity),
        },
      };
    }
    case "CAA": {
      const { caa } = record;
      return { ...base, data: { flags: caa.flags, tag: caa.tag, value: caa.value } };
    }
    default:
      return assertNever(record);
  }
}

/** For records whose values are all known. */
export function plainRecordArgs(record: DnsRecord): CloudflareRecordArgs {
  return cloudflareRecordArgs(record, mapKnownValue);
}

/**
 * The DnsRecord that cloudflareRecordArgs made these (known) arguments from. A value the plan
 * does not know yet arrives as a marker string and stays that string; TXT content that is not in
 * txtStrings' form is taken as the text itself. Fails naming the record when a field is missing.
 */
export function recordFromCloudflareArgs(args: CloudflareRecordArgs): DnsRecord {
  const base = { name: args.name, ttl: args.ttl, comment: args.comment };
  const missing = (field: string): never => {
    throw new Error(`the ${args.type} record ${args.name} has no ${field} in its Cloudflare arguments`);
  };
  const content = (): string => (typeof args.content === "string" ? args.content : missing("content"));
  const data = (...fields: string[]): Readonly<Record<string, unknown>> => {
    const found = (args.data ?? {}) as Readonly<Record<string, unknown>>;
    for (const field of fields) if (found[field] === undefined) missing(`data.${field}`);
    return found;
  };
  const type = args.type;
  switch (type) {
    case "A":
    case "AAAA":
    case "CNAME":
      return { ...base, type, content: content() };
    case "MX":
      return { ...base, type, content: content(), priority: args.priority ?? missing("priority") };
    case "TXT":
      return { ...base, type, content: txtText(content()) ?? content() };
    case "SRV": {
      const srv = data("priority", "weight", "port", "target");
      return {
        ...base,
        type,
        srv: {
          priority: Number(srv.priority),
          weight: Number(srv.weight),
          port: Number(srv.port),
          target: String(srv.target),
        },
      };
    }
    case "TLSA": {
      const tlsa = data("usage", "selector", "matchingType", "certificate");
      if (tlsa.usage !== 3 || tlsa.selector !== 1 || tlsa.matchingType !== 1)
        throw new Error(`the TLSA record ${args.name} is not 3 1 1 (the only form mailstack declares)`);
      return {
        ...base,
        type,
        tlsa: { usage: 3, selector: 1, matchingType: 1, certificate: String(tlsa.certificate) },
      };
    }
    case "CAA": {
      const caa = data("flags", "tag", "value");
      const tag = String(caa.tag);
      if ((caa.flags !== 0 && caa.flags !== 128) || (tag !== "issue" && tag !== "issuewild" && tag !== "iodef"))
        throw new Error(
          `the CAA record ${args.name} has flags ${String(caa.flags)} and tag ${tag}, which mailstack never declares`,
        );
      return { ...base, type, caa: { flags: caa.flags, tag, value: String(caa.value) } };
    }
    default:
      return assertNever(type);
  }
}
