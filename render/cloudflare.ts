// Maps a DnsRecordSpec to the arguments of a cloudflare.DnsRecord (pure). `lift` applies a
// text transformation to a value that may not be known yet (a pulumi.Output in the component,
// a plain string everywhere else).
import { txtStrings, type DnsRecordSpec } from "./dns";

export interface CloudflareRecordArgs<W = string> {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly comment: string;
  readonly content?: string | W;
  readonly priority?: number;
  readonly proxied?: boolean;
  readonly data?: SrvRecordData | TlsaRecordData<W> | CaaRecordData;
}

export interface SrvRecordData {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}
export interface TlsaRecordData<W = string> {
  readonly usage: number;
  readonly selector: number;
  readonly matchingType: number;
  readonly certificate: string | W;
}
export interface CaaRecordData {
  readonly flags: number;
  readonly tag: string;
  readonly value: string;
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
      return { ...base, content: lift(spec.content ?? "", identity), proxied: false };
    case "MX":
      return { ...base, content: lift(spec.content ?? "", identity), priority: spec.priority ?? 10 };
    case "TXT":
      return { ...base, content: lift(spec.content ?? "", txtStrings) };
    case "SRV": {
      const srv = spec.srv;
      if (!srv) throw new Error(`SRV record ${spec.name} has no data`);
      return {
        ...base,
        priority: srv.priority,
        data: { priority: srv.priority, weight: srv.weight, port: srv.port, target: srv.target },
      };
    }
    case "TLSA": {
      const tlsa = spec.tlsa;
      if (!tlsa) throw new Error(`TLSA record ${spec.name} has no data`);
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
      const caa = spec.caa;
      if (!caa) throw new Error(`CAA record ${spec.name} has no data`);
      return { ...base, data: { flags: caa.flags, tag: caa.tag, value: caa.value } };
    }
  }
}

/** For records whose values are all known. */
export function plainRecordArgs(spec: DnsRecordSpec): CloudflareRecordArgs {
  return cloudflareRecordArgs<string, string>(spec, (value, transform) => transform(value));
}
