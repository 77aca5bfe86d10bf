// MailDnsZone: everything one Cloudflare zone needs for mail. The record set comes from the
// pure mailZoneRecords(); this class only turns it into resources. DNS never waits for the VM:
// DKIM and TLSA values come from keys the stack generates itself.
import { createHash } from "node:crypto";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { cloudflareRecordArgs } from "../render/cloudflare";
import {
  dkimRecord,
  mailZoneRecords,
  mtaStsId,
  mtaStsPolicyText,
  tlsaSpkiSha256,
  type MailDomainSettings,
} from "../render/dns";
import { DKIM_KEY_BITS } from "../render/keys";
import { mtaStsWorkerScript, MTA_STS_PATH } from "../render/mta-sts-worker";

export interface MailDnsZoneArgs {
  readonly zone: { readonly name: string; readonly zoneId: string; readonly nameServers?: readonly string[] };
  readonly accountId: string;
  readonly ttl: number;
  readonly dnssec: boolean;
  /** Minimum TLS version of the Cloudflare edge (MTA-STS policy host). */
  readonly tlsMinVersion: "1.2" | "1.3";
  readonly caa: { readonly issuers: readonly string[]; readonly iodef: string };
  readonly dmarcReportAuthorizations: readonly { readonly forDomain: string; readonly reportDomain: string }[];
  /** The mail host, when this zone holds it. */
  readonly host?: {
    readonly name: string;
    readonly ipv4: string;
    readonly ipv6: string;
    /** Server public keys (PEM) to publish as TLSA 3 1 1, active first; empty without DANE. */
    readonly tlsaPublicKeys: readonly pulumi.Input<string>[];
  };
  /** Mail records, when the zone apex is a hosted mail domain. */
  readonly mail?: MailDomainSettings & { readonly mxHost: string; readonly ipv4: string; readonly ipv6: string };
}

/** A Worker script name for the zone: lower case, ≤ 63 characters, stable. */
export function mtaStsScriptName(zone: string): string {
  const name = `mta-sts-${zone.replace(/\./g, "-")}`;
  return name.length <= 63
    ? name
    : `${name.slice(0, 54)}-${createHash("sha256").update(zone).digest("hex").slice(0, 8)}`;
}

/** Cloudflare zone settings mailstack enforces (the MTA-STS policy host is served by Cloudflare). */
export function zoneSettings(tlsMinVersion: "1.2" | "1.3"): Record<string, string> {
  return { min_tls_version: tlsMinVersion, tls_1_3: "on", always_use_https: "on", ssl: "strict" };
}

const WORKER_COMPATIBILITY_DATE = "2026-06-01";

export class MailDnsZone extends pulumi.ComponentResource {
  /** The DS record for the registrar (DNSSEC on). */
  readonly ds?: pulumi.Output<string>;
  readonly dnssec?: {
    readonly ds: pulumi.Output<string>;
    readonly keyTag: pulumi.Output<number>;
    readonly algorithm: pulumi.Output<string>;
    readonly digestType: pulumi.Output<string>;
    readonly digest: pulumi.Output<string>;
  };
  /** The DKIM record and its private key (secret), to import into mailcow. */
  readonly dkim?: {
    readonly selector: string;
    readonly name: string;
    readonly value: pulumi.Output<string>;
    readonly privateKeyPem: pulumi.Output<string>;
  };
  readonly tlsa?: { readonly name: string; readonly values: readonly pulumi.Output<string>[] };
  readonly mtaSts?: { readonly policyId: string; readonly policyUrl: string; readonly policy: string };

  constructor(name: string, args: MailDnsZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:dns:MailDnsZone", name, args, opts);
    const zoneId = args.zone.zoneId;
    const zone = args.zone.name;

    const dkimKey = args.mail
      ? new tls.PrivateKey(`${name}-dkim-key`, { algorithm: "RSA", rsaBits: DKIM_KEY_BITS }, { parent: this })
      : undefined;
    const dkimValue = dkimKey?.publicKeyPem.apply(dkimRecord);
    const tlsaValues = (args.host?.tlsaPublicKeys ?? []).map((pem) => pulumi.output(pem).apply(tlsaSpkiSha256));
    const policy = args.mail ? mtaStsPolicyText(args.mail.mtaSts) : undefined;

    const specs = mailZoneRecords<pulumi.Output<string>>({
      zone,
      ttl: args.ttl,
      caa: args.caa,
      dmarcReportAuthorizations: args.dmarcReportAuthorizations,
      ...(args.host
        ? { host: { name: args.host.name, ipv4: args.host.ipv4, ipv6: args.host.ipv6, tlsa: tlsaValues } }
        : {}),
      ...(args.mail && dkimValue ? { mail: { ...args.mail, dkim: dkimValue } } : {}),
    });
    for (const spec of specs) {
      const record = cloudflareRecordArgs<pulumi.Output<string>, pulumi.Output<string>>(spec, (value, transform) =>
        typeof value === "string" ? transform(value) : value.apply(transform),
      );
      new cloudflare.DnsRecord(`${name}-${spec.key}`, { zoneId, ...record }, { parent: this });
    }

    for (const [settingId, value] of Object.entries(zoneSettings(args.tlsMinVersion))) {
      new cloudflare.ZoneSetting(
        `${name}-${settingId.replace(/_/g, "-")}`,
        { zoneId, settingId, value },
        { parent: this },
      );
    }

    if (args.dnssec) {
      const dnssec = new cloudflare.ZoneDnssec(`${name}-dnssec`, { zoneId, status: "active" }, { parent: this });
      this.ds = dnssec.ds;
      this.dnssec = {
        ds: dnssec.ds,
        keyTag: dnssec.keyTag,
        algorithm: dnssec.algorithm,
        digestType: dnssec.digestType,
        digest: dnssec.digest,
      };
    }

    if (args.mail && dkimKey && dkimValue && policy !== undefined) {
      const scriptName = mtaStsScriptName(zone);
      const script = new cloudflare.WorkersScript(
        `${name}-mta-sts`,
        {
          accountId: args.accountId,
          scriptName,
          content: mtaStsWorkerScript(zone, policy),
          mainModule: "worker.js",
          compatibilityDate: WORKER_COMPATIBILITY_DATE,
        },
        { parent: this },
      );
      new cloudflare.WorkersCustomDomain(
        `${name}-mta-sts-domain`,
        { accountId: args.accountId, hostname: `mta-sts.${zone}`, service: scriptName, zoneId },
        { parent: this, dependsOn: [script] },
      );
      this.dkim = {
        selector: args.mail.dkimSelector,
        name: `${args.mail.dkimSelector}._domainkey.${zone}`,
        value: dkimValue,
        privateKeyPem: dkimKey.privateKeyPemPkcs8,
      };
      this.mtaSts = { policyId: mtaStsId(policy), policyUrl: `https://mta-sts.${zone}${MTA_STS_PATH}`, policy };
    }
    if (args.host && tlsaValues.length > 0) this.tlsa = { name: `_25._tcp.${args.host.name}`, values: tlsaValues };

    this.registerOutputs({
      ds: this.ds,
      dkim: this.dkim && { name: this.dkim.name, value: this.dkim.value },
      tlsa: this.tlsa,
      mtaSts: this.mtaSts && { policyId: this.mtaSts.policyId, policyUrl: this.mtaSts.policyUrl },
    });
  }
}
