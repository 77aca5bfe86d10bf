// Maps a DnsRecordSpec to the arguments of a cloudflare.DnsRecord (pure). `lift` applies a
// text transformation to a value that may not be known yet (a pulumi.Output in the component,
// a plain string everywhere else).
import {
  assertNever,
  txtStrings,
  type CaaData,
  type DnsRecordSpec,
  type RecordType,
  type SrvData,
  type TlsaData,
} from "./dns";

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

export type Lift<V, W> = (value: string | V, transform: (text: string) => string) => string | W;

const identity = (text: string) => text;

export function cloudflareRecordArgs<V, W>(spec: DnsRecordSpec<V>, lift: Lift<V, W>): CloudflareRecordArgs<W> {
  const base = { name: spec.name, type: spec.type, ttl: spec.ttl, comment: spec.comment };
  switch (spec.type) {
    case "A":
    case "AAAA":
    case "CNAME":
      // Never proxied: mail protocols must reach the host itself.
      return { ...base, content: lift(spec.content, identity), proxied: false };
    case "MX":
      return { ...base, content: lift(spec.content, identity), priority: spec.priority };
    case "TXT":
      return { ...base, content: lift(spec.content, txtStrings) };
    case "SRV": {
      const { srv } = spec;
      return {
        ...base,
        priority: srv.priority,
        data: { priority: srv.priority, weight: srv.weight, port: srv.port, target: srv.target },
      };
    }
    case "TLSA": {
      const { tlsa } = spec;
      return {
        ...base,
        data: {
          usage: tlsa.usage,
          selector: tlsa.selector,
          matchingType: tlsa.matchingType,
          certificate: lift(tlsa.certificate, identity),
        },
      };
    }
    case "CAA": {
      const { caa } = spec;
      return { ...base, data: { flags: caa.flags, tag: caa.tag, value: caa.value } };
    }
    default:
      return assertNever(spec);
  }
}

/** For records whose values are all known. */
export function plainRecordArgs(spec: DnsRecordSpec): CloudflareRecordArgs {
  return cloudflareRecordArgs<string, string>(spec, (value, transform) => transform(value));
}
