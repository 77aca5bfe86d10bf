// The DNS record set of a mail zone (pure: no Pulumi import): the record values (SPF, DMARC,
// MTA-STS, TLS-RPT, DKIM, TLSA) and every record a zone gets. MailDnsZone declares exactly these
// records on Cloudflare; the offline plan writes them as a zone file; the lab tests load that zone
// file into Knot behind a validating Unbound. The record type itself is in render/dns-record.ts.
import { createPublicKey } from "node:crypto";
import type { DnsRecordSpec, SrvData } from "./dns-record";
import { sha256Hex } from "./hash";
import { MAIL_SERVICES, offers, type MailServices } from "./endpoints";

export type { MailServices };

export interface DmarcPolicy {
  readonly policy: "none" | "quarantine" | "reject";
  readonly subdomainPolicy?: "none" | "quarantine" | "reject";
  readonly rua: readonly string[];
  readonly ruf: readonly string[];
  readonly adkim: "r" | "s";
  readonly aspf: "r" | "s";
  readonly pct: number;
}

export interface MtaStsPolicy {
  readonly mode: "enforce" | "testing" | "none";
  readonly mx: readonly string[];
  readonly maxAgeSeconds: number;
}

/** The mail host's own records; present in the zone that holds the host. */
export interface HostRecordsInput<V> {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** TLSA 3 1 1 values for SMTP (current key first, then the next key during a rollover). */
  readonly tlsa: readonly V[];
}

/** The mail settings of a hosted domain (from the stack configuration). */
export interface MailDomainSettings {
  readonly dkimSelector: string;
  readonly dmarc: DmarcPolicy;
  readonly mtaSts: MtaStsPolicy;
  readonly tlsRptRua: readonly string[];
  readonly services: MailServices;
  /** SOGo offers CalDAV/CardDAV. */
  readonly groupware: boolean;
}

/** The records of a hosted mail domain; the domain is the zone apex. */
export interface MailDomainInput<V> extends MailDomainSettings {
  readonly mxHost: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** The DKIM TXT value ("v=DKIM1; …"). */
  readonly dkim: V;
}

export interface MailZoneInput<V = string> {
  readonly zone: string;
  readonly ttl: number;
  readonly caa: { readonly issuers: readonly string[]; readonly iodef: string };
  readonly host?: HostRecordsInput<V>;
  readonly mail?: MailDomainInput<V>;
  /** Other domains whose DMARC reports go to addresses in this zone (RFC 7489 §7.1). */
  readonly dmarcReportAuthorizations: readonly { readonly forDomain: string; readonly reportDomain: string }[];
}

// ---- record values ------------------------------------------------------------------------

/** SPF for the mail host's addresses: no DNS lookups at all (RFC 7208 §4.6.4 allows 10). */
export function spfRecord(ipv4: string, ipv6: string): string {
  return `v=spf1 ip4:${ipv4} ip6:${ipv6} -all`;
}

export function dmarcRecord(policy: DmarcPolicy): string {
  const tags = [`v=DMARC1`, `p=${policy.policy}`];
  if (policy.subdomainPolicy) tags.push(`sp=${policy.subdomainPolicy}`);
  if (policy.pct !== 100) tags.push(`pct=${policy.pct}`);
  if (policy.rua.length > 0) tags.push(`rua=${policy.rua.join(",")}`);
  if (policy.ruf.length > 0) tags.push(`ruf=${policy.ruf.join(",")}`, "fo=1");
  tags.push(`adkim=${policy.adkim}`, `aspf=${policy.aspf}`);
  return tags.join("; ");
}

export function tlsRptRecord(rua: readonly string[]): string {
  return `v=TLSRPTv1; rua=${rua.join(",")}`;
}

/** The MTA-STS policy file (RFC 8461 §3.2), LF line ends. */
export function mtaStsPolicyText(policy: MtaStsPolicy): string {
  return [
    "version: STSv1",
    `mode: ${policy.mode}`,
    ...policy.mx.map((mx) => `mx: ${mx}`),
    `max_age: ${policy.maxAgeSeconds}`,
    "",
  ].join("\n");
}

/** Policy id for `_mta-sts`: derived from the policy text, so it changes exactly when the policy does. */
export function mtaStsId(policyText: string): string {
  return sha256Hex(policyText).slice(0, 32);
}

export function mtaStsRecord(policyText: string): string {
  return `v=STSv1; id=${mtaStsId(policyText)}`;
}

function spkiDer(publicKeyPem: string): Buffer {
  return createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
}

/** DKIM key record (RFC 6376 §3.6.1) in mailcow's form, for an RSA public key. */
export function dkimRecord(publicKeyPem: string): string {
  return `v=DKIM1; k=rsa; t=s; s=email; p=${spkiDer(publicKeyPem).toString("base64")}`;
}

/** TLSA 3 1 1 association data: SHA-256 over the DER SubjectPublicKeyInfo (RFC 6698 §2.1). */
export function tlsaSpkiSha256(publicKeyPem: string): string {
  return sha256Hex(spkiDer(publicKeyPem));
}

// ---- the record set -----------------------------------------------------------------------

/** Mail services with their SRV names and ports (RFC 6186, RFC 8314, RFC 6764). */
function serviceRecords(domain: string, mail: MailDomainInput<unknown>, ttl: number): DnsRecordSpec<never>[] {
  const offered = (on: boolean, port: number): SrvData =>
    on ? { priority: 0, weight: 1, port, target: mail.mxHost } : { priority: 0, weight: 0, port: 0, target: "." };
  const services: [string, SrvData, string][] = [
    ...MAIL_SERVICES.map((service): [string, SrvData, string] => [
      service.name,
      offered(offers(mail.services, service), service.port),
      service.description,
    ]),
    ["autodiscover", offered(true, 443), "Outlook autodiscover"],
  ];
  if (mail.groupware) {
    services.push(["caldavs", offered(true, 443), "CalDAV (SOGo)"], ["carddavs", offered(true, 443), "CardDAV (SOGo)"]);
  }
  const records: DnsRecordSpec<never>[] = services.map(([service, srv, what]) => ({
    key: `srv-${service}`,
    name: `_${service}._tcp.${domain}`,
    type: "SRV",
    ttl,
    srv,
    comment: srv.target === "." ? `${what}: not offered` : what,
  }));
  if (mail.groupware) {
    for (const service of ["caldavs", "carddavs"]) {
      records.push({
        key: `txt-${service}`,
        name: `_${service}._tcp.${domain}`,
        type: "TXT",
        ttl,
        content: "path=/SOGo/dav/",
        comment: `${service} context path`,
      });
    }
  }
  return records;
}

/** Every record mailstack manages in one zone, in a stable order. */
export function mailZoneRecords<V = string>(input: MailZoneInput<V>): DnsRecordSpec<V>[] {
  const { zone, ttl } = input;
  const records: DnsRecordSpec<V>[] = [];
  const add = (record: DnsRecordSpec<V>) => records.push(record);

  if (input.host) {
    const host = input.host;
    add({ key: "host-a", name: host.name, type: "A", ttl, content: host.ipv4, comment: "mail host, public IPv4" });
    add({
      key: "host-aaaa",
      name: host.name,
      type: "AAAA",
      ttl,
      content: host.ipv6,
      comment: "mail host, public IPv6",
    });
    add({
      key: "host-spf",
      name: host.name,
      type: "TXT",
      ttl,
      content: spfRecord(host.ipv4, host.ipv6),
      comment: "SPF for the HELO name",
    });
    host.tlsa.forEach((certificate, index) =>
      add({
        key: index === 0 ? "host-tlsa-25" : `host-tlsa-25-next${index > 1 ? index : ""}`,
        name: `_25._tcp.${host.name}`,
        type: "TLSA",
        ttl,
        tlsa: { usage: 3, selector: 1, matchingType: 1, certificate },
        comment:
          index === 0
            ? "DANE-EE SPKI SHA-256 of the server key"
            : "DANE-EE SPKI SHA-256 of the next server key (rollover)",
      }),
    );
  }

  if (input.mail) {
    const mail = input.mail;
    const policy = mtaStsPolicyText(mail.mtaSts);
    add({ key: "mx", name: zone, type: "MX", ttl, content: mail.mxHost, priority: 10, comment: "mail exchanger" });
    add({
      key: "spf",
      name: zone,
      type: "TXT",
      ttl,
      content: spfRecord(mail.ipv4, mail.ipv6),
      comment: "SPF: only the mail host sends",
    });
    add({
      key: "dkim",
      name: `${mail.dkimSelector}._domainkey.${zone}`,
      type: "TXT",
      ttl,
      content: mail.dkim,
      comment: "DKIM public key (RSA 2048)",
    });
    add({
      key: "dmarc",
      name: `_dmarc.${zone}`,
      type: "TXT",
      ttl,
      content: dmarcRecord(mail.dmarc),
      comment: "DMARC policy",
    });
    add({
      key: "mta-sts",
      name: `_mta-sts.${zone}`,
      type: "TXT",
      ttl,
      content: mtaStsRecord(policy),
      comment: "MTA-STS policy id (hash of the policy)",
    });
    add({
      key: "tls-rpt",
      name: `_smtp._tls.${zone}`,
      type: "TXT",
      ttl,
      content: tlsRptRecord(mail.tlsRptRua),
      comment: "TLS reporting (RFC 8460)",
    });
    add({
      key: "autoconfig",
      name: `autoconfig.${zone}`,
      type: "CNAME",
      ttl,
      content: mail.mxHost,
      comment: "mail client autoconfiguration",
    });
    add({
      key: "autodiscover",
      name: `autodiscover.${zone}`,
      type: "CNAME",
      ttl,
      content: mail.mxHost,
      comment: "Outlook autodiscover",
    });
    records.push(...serviceRecords(zone, mail, ttl));
  }

  for (const { forDomain, reportDomain } of input.dmarcReportAuthorizations) {
    add({
      key: `dmarc-report-${forDomain}-to-${reportDomain}`,
      name: `${forDomain}._report._dmarc.${reportDomain}`,
      type: "TXT",
      ttl,
      content: "v=DMARC1",
      comment: `accepts DMARC reports for ${forDomain}`,
    });
  }

  for (const issuer of input.caa.issuers) {
    add({
      key: `caa-issue-${issuer}`,
      name: zone,
      type: "CAA",
      ttl,
      caa: { flags: 0, tag: "issue", value: issuer },
      comment: "CAs allowed to issue",
    });
  }
  add({
    key: "caa-issuewild",
    name: zone,
    type: "CAA",
    ttl,
    caa: { flags: 0, tag: "issuewild", value: ";" },
    comment: "no wildcard certificates",
  });
  add({
    key: "caa-iodef",
    name: zone,
    type: "CAA",
    ttl,
    caa: { flags: 0, tag: "iodef", value: input.caa.iodef },
    comment: "where CAs report policy violations",
  });
  return records;
}
