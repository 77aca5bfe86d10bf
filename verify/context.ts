// What every check shares during one run: the target, the DNS client and validator, where to
// connect, the extra CA, the clock, and memoized lookups and TLS probes (DANE, certificate, TLS
// and SMTP checks all read the same handshakes).
import type * as dnsPacket from "dns-packet";
import type { DnsClient, DnsResponse } from "./dns/client";
import type { Validator } from "./dns/dnssec";
import type { NodeStyleResolver } from "./dns/resolver";
import { familyOf, type Connector, type Family } from "./net";
import type { Target, TargetEndpoint } from "./outputs";
import type { Category } from "./result";
import { probeEndpoint, type TlsFindings } from "./tls/probes";
import type { TlsEndpoint } from "./tls/session";

/** A lookup: the resolver's answer, and the data fetched with CD when the answer did not validate. */
export interface Lookup {
  readonly response: DnsResponse;
  /** The answer with checking disabled (present when `response` is not a validated NOERROR). */
  readonly unchecked?: DnsResponse;
  /** The answer to compare data with: the validated one, else the unchecked one. */
  readonly data: DnsResponse;
}

export interface Context {
  readonly target: Target;
  readonly dns: DnsClient;
  /** Validates chains and signatures itself; absent without a trust anchor. */
  readonly validator?: Validator;
  readonly connector: Connector;
  /** Extra trusted CAs (PEM). */
  readonly ca: readonly string[];
  readonly now: Date;
  readonly resolver: NodeStyleResolver;
  readonly wants: (category: Category) => boolean;
  lookup(name: string, type: dnsPacket.RecordType): Promise<Lookup>;
  /** The mail host's addresses with their family. */
  readonly addresses: readonly { readonly address: string; readonly family: Family }[];
  tlsEndpoint(endpoint: TargetEndpoint, address: string): TlsEndpoint;
  tls(endpoint: TargetEndpoint, address: string): Promise<TlsFindings>;
}

export function createContext(options: {
  target: Target;
  dns: DnsClient;
  validator?: Validator;
  connector: Connector;
  ca: readonly string[];
  now: Date;
  resolver: NodeStyleResolver;
  only?: readonly Category[];
}): Context {
  const lookups = new Map<string, Promise<Lookup>>();
  const probes = new Map<string, Promise<TlsFindings>>();
  const { target, dns, connector } = options;
  const context: Context = {
    target,
    dns,
    ...(options.validator ? { validator: options.validator } : {}),
    connector,
    ca: options.ca,
    now: options.now,
    resolver: options.resolver,
    wants: (category) => options.only === undefined || options.only.includes(category),
    addresses: [target.host.ipv4, target.host.ipv6].flatMap((address) => {
      const family = familyOf(address);
      return family ? [{ address, family }] : [];
    }),
    lookup(name, type) {
      const key = `${name.toLowerCase()}|${type}`;
      let pending = lookups.get(key);
      if (!pending) {
        pending = (async () => {
          const response = await dns.query(name, type);
          if (response.rcode === "NOERROR" && response.ad) return { response, data: response };
          const unchecked = await dns.query(name, type, { cd: true });
          return { response, unchecked, data: response.rcode === "NOERROR" ? response : unchecked };
        })();
        lookups.set(key, pending);
      }
      return pending;
    },
    tlsEndpoint(endpoint, address) {
      return {
        host: endpoint.host,
        port: endpoint.port,
        security: endpoint.security,
        destination: connector.destination(endpoint.host, address, endpoint.port),
      };
    },
    tls(endpoint, address) {
      const key = `${endpoint.host}|${endpoint.port}|${address}`;
      let pending = probes.get(key);
      if (!pending) {
        pending = probeEndpoint(context.tlsEndpoint(endpoint, address), options.ca);
        probes.set(key, pending);
      }
      return pending;
    },
  };
  return context;
}
