// The mail authentication (SPF, DMARC, DKIM, TLS-RPT) and two-factor rules of the policy pack,
// called with fabricated resources: the stack's own rendered records as compliant fixtures, one
// failing case per way a rule can be violated, and unknown preview values skipped.
import { generateKeyPairSync, type KeyPairKeyObjectResult } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadConfig, NAMESPACE, type MailstackConfig } from "../config/load";
import { RULES } from "../common/policy-catalog";
import { TYPES } from "../policies/lib";
import { dkimKeySize, dkimRecordBits } from "../policies/mail/dkim-key-size";
import { dmarc } from "../policies/mail/dmarc";
import { spf } from "../policies/mail/spf";
import { tlsRpt } from "../policies/mail/tls-rpt";
import { adminTfa } from "../policies/twofactor/admin-tfa";
import { cloudflareAccountTfa } from "../policies/twofactor/cloudflare-account-tfa";
import { mailboxTfa } from "../policies/twofactor/mailbox-tfa";
import { proxmoxRealmTfa } from "../policies/twofactor/proxmox-realm-tfa";
import { unenforcedLogins } from "../policies/twofactor/unenforced-logins";
import type { ResourceView } from "../policies/args";
import { readStackConfig } from "../plan/stack-file";
import { plainRecordArgs } from "../render/cloudflare";
import { dkimRecord, dmarcRecord, mailZoneRecords, spfRecord, tlsRptRecord, type DmarcPolicy } from "../render/dns";
import { mailZones } from "../render/dns-zones";
import { mailDnsZoneArgs, zoneRecordsInput } from "../components/mail-dns-zone";
import { realmTfaScript } from "../render/proxmox";
import { allSecrets } from "./fixtures";
import { root } from "./plans";
import {
  OTHER_ZONE,
  record,
  resource,
  stack,
  stackMessages,
  stackViolations,
  txt,
  UNKNOWN_VALUE,
  violations,
  zoneDnssec,
} from "./support/policy";

// ---- keys (RSA generation is slow: one pair per size) -----------------------------------------

const strong = generateKeyPairSync("rsa", { modulusLength: 2048 });
const weak = generateKeyPairSync("rsa", { modulusLength: 1024 });
const publicPem = (pair: KeyPairKeyObjectResult) => pair.publicKey.export({ type: "spki", format: "pem" }).toString();
/** PKCS#1, as tls.PrivateKey's privateKeyPem. */
const privatePem = (pair: KeyPairKeyObjectResult) =>
  pair.privateKey.export({ type: "pkcs1", format: "pem" }).toString();

// ---- the prod stack's own records -------------------------------------------------------------

/** The prod stack file's configuration (secrets are placeholders), optionally changed. */
function prodConfig(change: (values: Record<string, string>) => void = () => undefined): MailstackConfig {
  const stackFile = readStackConfig(root, "prod");
  const secrets = Object.fromEntries(
    Object.entries(allSecrets()).map(([key, value]) => [`${NAMESPACE}:${key}`, value]),
  );
  const values: Record<string, string> = { ...stackFile.values, ...secrets };
  change(values);
  return loadConfig({ stack: "prod", values, isSecret: (key) => key in secrets || stackFile.secretKeys.includes(key) })
    .config;
}

/** The Cloudflare records the stack declares for its zones, rendered by render/dns.ts. */
function stackRecords(config: MailstackConfig, dkimPublicKeyPem: string): ResourceView[] {
  return mailZones(config).flatMap((plan) => {
    const args = mailDnsZoneArgs(config, plan, { tlsaPublicKeys: [], dkimPublicKeyPem: () => dkimPublicKeyPem });
    const input = zoneRecordsInput(args, { dkim: dkimRecord(dkimPublicKeyPem), tlsa: [] });
    return mailZoneRecords(input).map((spec) =>
      resource(TYPES.dnsRecord, `${plan.zone.name}-${spec.key}`, {
        zoneId: plan.zone.zoneId,
        ...plainRecordArgs(spec),
      }),
    );
  });
}

const prod = prodConfig();
const prodRecords = stackRecords(prod, publicPem(strong));
const recordNamed = (name: string, type = "TXT") => {
  const found = prodRecords.find((r) => r.props.name === name && r.props.type === type);
  if (!found) throw new Error(`the stack renders no ${type} record ${name}`);
  return found;
};

/** The DMARC record the stack renders for prod with mailstack:dmarc changed. */
const renderedDmarc = (dmarcConfig: Record<string, unknown>) => {
  const config = prodConfig((values) => {
    values[`${NAMESPACE}:dmarc`] = JSON.stringify({ rua: ["mailto:dmarc-reports@xd-cloud.de"], ...dmarcConfig });
  });
  const found = stackRecords(config, publicPem(strong)).find((r) => r.props.name === "_dmarc.xd-cloud.de");
  if (!found) throw new Error("the stack renders no DMARC record");
  return found;
};
const dmarcPolicy = (policy: DmarcPolicy["policy"]): DmarcPolicy => ({
  policy,
  subdomainPolicy: policy,
  rua: ["mailto:dmarc@example.org"],
  ruf: [],
  adkim: "r",
  aspf: "r",
  pct: 100,
});

// ---- SPF ----------------------------------------------------------------------------------------

describe("mailstack-mail-require-spf-hardfail", () => {
  it("accepts the SPF records the stack renders for its domain and its HELO name", async () => {
    for (const name of [prod.domains[0]?.name ?? "", prod.hostname]) {
      const rendered = recordNamed(name);
      expect(rendered.props.content).toBe(`"${spfRecord(prod.publicIpv4, prod.publicIpv6)}"`);
      expect(await violations(spf, rendered)).toEqual([]);
    }
  });

  it("accepts -all followed by a modifier, a redirect without all, and exactly 10 lookups", async () => {
    expect(await violations(spf, txt("example.org", "v=spf1 mx -all exp=explain._spf.example.org"))).toEqual([]);
    expect(await violations(spf, txt("example.org", "v=spf1 redirect=_spf.example.net"))).toEqual([]);
    const ten = Array.from({ length: 10 }, (_, i) => `include:_spf${i}.example.net`).join(" ");
    expect(await violations(spf, txt("example.org", `v=spf1 ${ten} -all`))).toEqual([]);
  });

  it("reports soft fail, neutral and pass-all endings: mail from other hosts must hard-fail", async () => {
    for (const ending of ["~all", "?all", "+all", "all"]) {
      expect(await violations(spf, txt("example.org", `v=spf1 mx ${ending}`)), ending).toEqual([
        `SPF of example.org ends in "${ending}" instead of "-all": mail from other hosts must hard-fail`,
      ]);
    }
  });

  it("reports a record without any all mechanism", async () => {
    expect(await violations(spf, txt("example.org", "v=spf1 ip4:192.0.2.1 mx"))).toEqual([
      expect.stringMatching(/ends in "mx" instead of "-all"/),
    ]);
    expect(await violations(spf, txt("example.org", "v=spf1"))).toEqual([
      expect.stringMatching(/ends in "nothing" instead of "-all"/),
    ]);
  });

  it("reports more than 10 DNS lookups, counting include, a, mx, exists and redirect", async () => {
    const terms = [
      "a",
      "a:relay.example.net",
      "a/24",
      "mx",
      "mx:example.net",
      "mx/24",
      "include:_spf.example.net",
      "exists:%{i}._spf.example.net",
      "include:_spf.example.com",
      "~include:_spf2.example.com",
      "redirect=_spf.example.org",
    ];
    expect(await violations(spf, txt("example.org", `v=spf1 ${terms.join(" ")} -all`))).toEqual([
      expect.stringMatching(/needs 11 DNS lookups; RFC 7208 allows 10 \(flatten includes\)/),
    ]);
    const eleven = Array.from({ length: 11 }, (_, i) => `include:_spf${i}.example.net`).join(" ");
    expect(await violations(spf, txt("example.org", `v=spf1 ${eleven} -all`))).toEqual([
      expect.stringMatching(/needs 11 DNS lookups/),
    ]);
  });

  it("reads a record split into several strings, and unquoted content", async () => {
    const ips = Array.from({ length: 20 }, (_, i) => `ip4:198.51.100.${i + 1}`).join(" ");
    const long = txt("example.org", `v=spf1 ${ips} ~all`);
    expect(String(long.props.content)).toMatch(/" "/);
    expect(await violations(spf, long)).toEqual([expect.stringMatching(/ends in "~all"/)]);
    expect(await violations(spf, txt("example.org", `v=spf1 ${ips} -all`))).toEqual([]);
    expect(await violations(spf, record("example.org", "TXT", { content: "v=spf1 mx ?all" }))).toEqual([
      expect.stringMatching(/ends in "\?all"/),
    ]);
  });

  it("ignores TXT records that are not SPF and records of other types", async () => {
    expect(await violations(spf, txt("example.org", "google-site-verification=abc ~all"))).toEqual([]);
    expect(await violations(spf, txt("example.org", "v=spf10 ~all"))).toEqual([]);
    expect(await violations(spf, record("example.org", "MX", { content: "v=spf1 ~all", priority: 10 }))).toEqual([]);
  });

  it("skips a TXT content or type a preview cannot know", async () => {
    expect(await violations(spf, record("example.org", "TXT", { content: UNKNOWN_VALUE }))).toEqual([]);
    expect(await violations(spf, record("example.org", UNKNOWN_VALUE, { content: '"v=spf1 ~all"' }))).toEqual([]);
  });
});

// ---- DMARC --------------------------------------------------------------------------------------

describe("mailstack-mail-require-dmarc-enforcement", () => {
  const dmarcTxt = (text: string) => txt("_dmarc.example.org", text);

  it("accepts the DMARC record the stack renders", async () => {
    const rendered = recordNamed(`_dmarc.${prod.domains[0]?.name ?? ""}`);
    expect(rendered.props.content).toMatch(/^"v=DMARC1; p=reject;/);
    expect(await violations(dmarc, rendered)).toEqual([]);
  });

  it("accepts p=reject and p=quarantine, with enforcing sp and pct=100", async () => {
    for (const policy of ["reject", "quarantine"] as const) {
      const text = dmarcRecord(dmarcPolicy(policy));
      expect(await violations(dmarc, dmarcTxt(text)), text).toEqual([]);
      expect(await violations(dmarc, dmarcTxt(`v=DMARC1; p=${policy}; pct=100`))).toEqual([]);
      expect(await violations(dmarc, renderedDmarc({ policy, subdomainPolicy: policy }))).toEqual([]);
    }
  });

  it("reports p=none and a missing p on the TXT record", async () => {
    expect(await violations(dmarc, dmarcTxt("v=DMARC1; p=none; rua=mailto:dmarc@example.org"))).toEqual([
      "DMARC of _dmarc.example.org has p=none: use quarantine or reject (mailstack:dmarc.policy)",
    ]);
    expect(await violations(dmarc, dmarcTxt("v=DMARC1; rua=mailto:dmarc@example.org"))).toEqual([
      "DMARC of _dmarc.example.org has p=(missing): use quarantine or reject (mailstack:dmarc.policy)",
    ]);
  });

  it("reports sp=none for subdomains on the TXT record", async () => {
    expect(await violations(dmarc, dmarcTxt("v=DMARC1; p=reject; sp=none"))).toEqual([
      expect.stringMatching(/has sp=none for subdomains: use quarantine or reject/),
    ]);
  });

  it("reports pct below 100 on the TXT record", async () => {
    expect(await violations(dmarc, dmarcTxt("v=DMARC1; p=quarantine; pct=50"))).toEqual([
      expect.stringMatching(/applies to pct=50 only: use pct=100/),
    ]);
  });

  it('reports the record rendered from mailstack:dmarc.policy "none", naming the config key', async () => {
    expect(await violations(dmarc, renderedDmarc({ policy: "none" }))).toEqual([
      "DMARC of _dmarc.xd-cloud.de has p=none: use quarantine or reject (mailstack:dmarc.policy)",
    ]);
  });

  it("reports the record rendered from mailstack:dmarc.pct below 100, naming the config key", async () => {
    expect(await violations(dmarc, renderedDmarc({ policy: "reject", pct: 50 }))).toEqual([
      "DMARC of _dmarc.xd-cloud.de applies to pct=50 only: use pct=100 (mailstack:dmarc.pct)",
    ]);
    expect(await violations(dmarc, renderedDmarc({ policy: "reject", pct: 100 }))).toEqual([]);
  });

  it('reports the record rendered from mailstack:dmarc.subdomainPolicy "none"', async () => {
    expect(await violations(dmarc, renderedDmarc({ policy: "reject", subdomainPolicy: "none" }))).toEqual([
      "DMARC of _dmarc.xd-cloud.de has sp=none for subdomains: use quarantine or reject (mailstack:dmarc.subdomainPolicy)",
    ]);
  });

  it("does not take the stack's DMARC report authorisations (RFC 7489 §7.1) for policy records", async () => {
    const twoDomains = prodConfig((values) => {
      const domains = JSON.parse(values[`${NAMESPACE}:domains`] ?? "[]") as unknown[];
      domains.push({ name: "example.net", zoneId: OTHER_ZONE });
      values[`${NAMESPACE}:domains`] = JSON.stringify(domains);
    });
    const records = stackRecords(twoDomains, publicPem(strong));
    const authorisation = records.find((r) => String(r.props.name).includes("._report._dmarc."));
    expect(authorisation?.props).toMatchObject({
      name: "example.net._report._dmarc.xd-cloud.de",
      content: '"v=DMARC1"',
    });
    for (const item of records) expect(await violations(dmarc, item), String(item.props.name)).toEqual([]);
  });

  it("ignores TXT records that are not DMARC", async () => {
    expect(await violations(dmarc, txt("example.org", "v=spf1 mx -all"))).toEqual([]);
    expect(await violations(dmarc, txt("_dmarc.example.org", "p=none"))).toEqual([]);
  });

  it("skips a content, name or type a preview cannot know", async () => {
    expect(await violations(dmarc, record("_dmarc.example.org", "TXT", { content: UNKNOWN_VALUE }))).toEqual([]);
    expect(
      await violations(dmarc, record("_dmarc.example.org", UNKNOWN_VALUE, { content: '"v=DMARC1; p=none"' })),
    ).toEqual([]);
  });
});

// ---- DKIM ---------------------------------------------------------------------------------------

describe("mailstack-mail-require-dkim-key-size", () => {
  const privateKey = (props: Record<string, unknown>) => resource(TYPES.privateKey, "dkim-key-example.org", props);
  const dkimTxt = (text: string) => txt("dkim._domainkey.example.org", text);
  const dkimKey = (privateKeyPem: unknown) =>
    resource(TYPES.dkimKey, "mailcow-tenants-example.org-dkim", {
      domain: "example.org",
      selector: "dkim",
      privateKeyPem,
    });

  it("reads the RSA size of a DKIM record", () => {
    expect(dkimRecordBits(dkimRecord(publicPem(strong)))).toBe(2048);
    expect(dkimRecordBits(dkimRecord(publicPem(weak)))).toBe(1024);
    expect(dkimRecordBits("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")).toBeUndefined();
    expect(dkimRecordBits("v=DKIM1; k=rsa; p=")).toBeUndefined();
    const spaced = dkimRecord(publicPem(strong)).replace(/(p=.{40})/, "$1 \t");
    expect(dkimRecordBits(spaced)).toBe(2048);
  });

  it("accepts the stack's DKIM record, its 2048-bit keys and an RSA key of the provider's default size", async () => {
    const rendered = recordNamed(`dkim._domainkey.${prod.domains[0]?.name ?? ""}`);
    expect(String(rendered.props.content)).toMatch(/^"v=DKIM1; k=rsa; .*" "/);
    expect(await violations(dkimKeySize, rendered)).toEqual([]);
    expect(await violations(dkimKeySize, privateKey({ algorithm: "RSA", rsaBits: 2048 }))).toEqual([]);
    expect(await violations(dkimKeySize, privateKey({ algorithm: "RSA", rsaBits: 4096 }))).toEqual([]);
    expect(await violations(dkimKeySize, privateKey({ algorithm: "RSA" }))).toEqual([]);
    expect(await violations(dkimKeySize, dkimKey(privatePem(strong)))).toEqual([]);
  });

  it("ignores keys and records that are not RSA", async () => {
    expect(await violations(dkimKeySize, privateKey({ algorithm: "ED25519" }))).toEqual([]);
    expect(await violations(dkimKeySize, privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" }))).toEqual([]);
    expect(
      await violations(dkimKeySize, dkimTxt("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")),
    ).toEqual([]);
    expect(await violations(dkimKeySize, txt("example.org", "v=spf1 mx -all"))).toEqual([]);
  });

  it("reports an RSA PrivateKey with rsaBits 1024", async () => {
    expect(await violations(dkimKeySize, privateKey({ algorithm: "RSA", rsaBits: 1024 }))).toEqual([
      "key dkim-key-example.org is RSA 1024: use at least 2048 bits",
    ]);
  });

  it("reports a DKIM TXT record with a 1024-bit key", async () => {
    expect(await violations(dkimKeySize, dkimTxt(dkimRecord(publicPem(weak))))).toEqual([
      "the DKIM record dkim._domainkey.example.org is RSA 1024: use at least 2048 bits",
    ]);
  });

  it("reports a 1024-bit DKIM record that omits the optional v=DKIM1 tag (RFC 6376 §3.6.1)", async () => {
    const withoutVersion = dkimRecord(publicPem(weak)).replace(/^v=DKIM1; /, "");
    expect(await violations(dkimKeySize, dkimTxt(withoutVersion))).toEqual([
      expect.stringMatching(/DKIM record dkim._domainkey.example.org is RSA 1024/),
    ]);
  });

  it("reports a mailcow DkimKey signing with a 1024-bit private key", async () => {
    expect(await violations(dkimKeySize, dkimKey(privatePem(weak)))).toEqual([
      "the DKIM key mailcow signs example.org with is RSA 1024: use at least 2048 bits",
    ]);
  });

  it("reports the record the stack renders from a 1024-bit DKIM public key", async () => {
    const rendered = stackRecords(prod, publicPem(weak)).find((r) => r.props.name === "dkim._domainkey.xd-cloud.de");
    expect(rendered && (await violations(dkimKeySize, rendered))).toEqual([
      "the DKIM record dkim._domainkey.xd-cloud.de is RSA 1024: use at least 2048 bits",
    ]);
  });

  it("skips key sizes, record contents and key PEMs a preview cannot know", async () => {
    expect(await violations(dkimKeySize, privateKey({ algorithm: "RSA", rsaBits: UNKNOWN_VALUE }))).toEqual([]);
    expect(await violations(dkimKeySize, privateKey({ algorithm: UNKNOWN_VALUE, rsaBits: 1024 }))).toEqual([]);
    expect(
      await violations(dkimKeySize, record("dkim._domainkey.example.org", "TXT", { content: UNKNOWN_VALUE })),
    ).toEqual([]);
    expect(await violations(dkimKeySize, dkimKey(UNKNOWN_VALUE))).toEqual([]);
  });
});

// ---- TLS-RPT ------------------------------------------------------------------------------------

describe("mailstack-mail-require-tls-rpt", () => {
  const mx = (domain: string) => record(domain, "MX", { content: "mail.example.org", priority: 10 });

  it("accepts the stack's records: its MX domain publishes TLS-RPT with a rua", async () => {
    expect(recordNamed(`_smtp._tls.${prod.domains[0]?.name ?? ""}`).props.content).toBe(
      `"${tlsRptRecord(prod.tlsRpt.rua)}"`,
    );
    expect(await stackMessages(tlsRpt, prodRecords)).toEqual([]);
    expect(
      await stackMessages(tlsRpt, [
        mx("example.org"),
        txt("_smtp._tls.example.org", "v=TLSRPTv1;rua=mailto:t@example.org"),
      ]),
    ).toEqual([]);
  });

  it("reports an MX domain without a _smtp._tls record, at the MX record", async () => {
    const exchanger = mx("example.org");
    expect(
      await stackViolations(tlsRpt, [exchanger, txt("_smtp._tls.example.net", "v=TLSRPTv1; rua=mailto:t@example.net")]),
    ).toEqual([
      {
        message:
          "mail domain example.org publishes no TLS-RPT record at _smtp._tls.example.org: set mailstack:tlsRpt.rua",
        urn: exchanger.urn,
      },
    ]);
  });

  it("reports a TLS-RPT record without a rua, at the MX record", async () => {
    const exchanger = mx("example.org");
    for (const text of ["v=TLSRPTv1;", "v=TLSRPTv1; ruf=mailto:t@example.org", "v=TLSRPTv1; rua="]) {
      expect(await stackViolations(tlsRpt, [exchanger, txt("_smtp._tls.example.org", text)]), text).toEqual([
        {
          message: expect.stringMatching(/no TLS-RPT record at _smtp\._tls\.example\.org/) as string,
          urn: exchanger.urn,
        },
      ]);
    }
  });

  it("reports a domain with several MX records once", async () => {
    const first = mx("example.org");
    const second = resource(TYPES.dnsRecord, "example.org-mx2", { ...first.props, content: "mx2.example.org" });
    expect(await stackViolations(tlsRpt, [first, second])).toEqual([
      { message: expect.stringMatching(/mail domain example.org/) as string, urn: first.urn },
    ]);
  });

  it("does not report a stack without MX records", async () => {
    expect(await stackMessages(tlsRpt, [txt("example.org", "v=spf1 -all")])).toEqual([]);
  });

  it("skips an MX name a preview cannot know", async () => {
    expect(await stackMessages(tlsRpt, [record(UNKNOWN_VALUE, "MX", { content: "mail.example.org" })])).toEqual([]);
  });

  it("does not report a TLS-RPT record whose content a preview cannot know", async () => {
    const pending = record("_smtp._tls.example.org", "TXT", { content: UNKNOWN_VALUE });
    await expect(stackMessages(tlsRpt, [mx("example.org"), pending])).resolves.toEqual([]);
  });
});

// ---- mailbox 2FA --------------------------------------------------------------------------------

describe("mailstack-2fa-require-mailbox-tfa", () => {
  const mailbox = (spec: unknown) =>
    resource(TYPES.mailbox, "mailcow-tenants-alice@example.org", { kind: "mailbox", spec });
  /** The Mailbox resources MailcowTenants declares for prod's mailboxes, with `change` applied to the config. */
  const declared = (change: (domains: Record<string, unknown>[]) => void = () => undefined) => {
    const config = prodConfig((values) => {
      const domains = JSON.parse(values[`${NAMESPACE}:domains`] ?? "[]") as Record<string, unknown>[];
      change(domains);
      values[`${NAMESPACE}:domains`] = JSON.stringify(domains);
    });
    return config.domains.flatMap((domain) =>
      domain.mailboxes.map((box) =>
        mailbox({
          localPart: box.localPart,
          domain: domain.name,
          name: box.name ?? box.localPart,
          quotaMiB: box.quotaMiB,
          active: box.active,
          forceTfa: box.forceTfa,
        }),
      ),
    );
  };

  it("accepts the Mailboxes declared with forceTfa true (the config default)", async () => {
    expect(prod.domains.flatMap((d) => d.mailboxes.map((m) => m.forceTfa))).not.toContain(false);
    expect(
      await violations(
        mailboxTfa,
        mailbox({ localPart: "alice", domain: "example.org", forceTfa: true, active: true }),
      ),
    ).toEqual([]);
    for (const item of declared()) expect(await violations(mailboxTfa, item)).toEqual([]);
  });

  it("reports a Mailbox with forceTfa false or missing", async () => {
    expect(
      await violations(mailboxTfa, mailbox({ localPart: "alice", domain: "example.org", forceTfa: false })),
    ).toEqual(["mailbox alice@example.org does not have to enrol 2FA: set forceTfa true in mailstack:domains"]);
    expect(await violations(mailboxTfa, mailbox({ localPart: "alice", domain: "example.org" }))).toEqual([
      expect.stringMatching(/mailbox alice@example.org does not have to enrol 2FA/),
    ]);
  });

  it("reports the Mailbox declared from a mailstack:domains mailbox with forceTfa false", async () => {
    const boxes = declared((domains) => {
      (domains[0]?.mailboxes as Record<string, unknown>[]).push({ localPart: "bob", forceTfa: false, quotaMiB: 1 });
    });
    const messages = (await Promise.all(boxes.map((box) => violations(mailboxTfa, box)))).flat();
    expect(messages).toEqual([
      "mailbox bob@xd-cloud.de does not have to enrol 2FA: set forceTfa true in mailstack:domains",
    ]);
  });

  it("ignores other resource types", async () => {
    expect(await violations(mailboxTfa, resource(TYPES.mailcowAdmin, "admin", { spec: { forceTfa: false } }))).toEqual(
      [],
    );
  });

  it("skips a mailbox spec a preview cannot know", async () => {
    expect(await violations(mailboxTfa, mailbox(UNKNOWN_VALUE))).toEqual([]);
  });

  it("skips a forceTfa flag a preview cannot know", async () => {
    await expect(
      violations(mailboxTfa, mailbox({ localPart: "alice", domain: "example.org", forceTfa: UNKNOWN_VALUE })),
    ).resolves.toEqual([]);
  });
});

// ---- admin 2FA ----------------------------------------------------------------------------------

describe("mailstack-2fa-require-admin-tfa", () => {
  const domain = resource(TYPES.mailcowDomain, "mailcow-tenants-example.org", { kind: "domain", spec: {} });
  const adminTfaFor = (username: unknown, outputs: Record<string, unknown> = {}) =>
    resource(TYPES.mailcowAdmin, "mailcow-tenants-admin", { kind: "admin", username, ...outputs });
  const outputs = (username: unknown) => stack({ mailcowAdmin: { username, initialPassword: "[secret]" } });

  it("accepts the admin with its admin resource, the one the stack reports", async () => {
    expect(await stackMessages(adminTfa, [domain, adminTfaFor("admin"), outputs("admin")])).toEqual([]);
    expect(await stackMessages(adminTfa, [domain, adminTfaFor("admin", { forceTfa: true })])).toEqual([]);
  });

  it("reports managed tenants without an admin resource, at the tenants", async () => {
    expect(await stackViolations(adminTfa, [domain, outputs("admin")])).toEqual([
      {
        message:
          "the stack manages mailcow domains and mailboxes but no mailcow admin resource enforces the admin's 2FA: keep MailcowTenants' admin resource for mailstack:mailcow.adminUsername",
        urn: domain.urn,
      },
      {
        message:
          "the mailcow admin admin (stack output mailcowAdmin) has no enforced 2FA (no mailcow admin resource for it): keep MailcowTenants' admin resource for mailstack:mailcow.adminUsername",
        urn: outputs("admin").urn,
      },
    ]);
  });

  it("reports an admin resource for another user than the admin the stack reports", async () => {
    expect(await stackMessages(adminTfa, [domain, adminTfaFor("root"), outputs("admin")])).toEqual([
      expect.stringMatching(/the mailcow admin admin \(stack output mailcowAdmin\) has no enforced 2FA/),
    ]);
  });

  it("reports an admin whose force_tfa mailcow reads back off (drift)", async () => {
    const admin = adminTfaFor("admin", { forceTfa: false });
    expect(await stackViolations(adminTfa, [domain, admin])).toEqual([
      {
        message: expect.stringMatching(/the mailcow admin admin has force_tfa off in mailcow/) as string,
        urn: admin.urn,
      },
    ]);
  });

  it("skips an admin name or force_tfa a preview cannot know", async () => {
    expect(await stackMessages(adminTfa, [domain, adminTfaFor(UNKNOWN_VALUE), outputs("admin")])).toEqual([]);
    expect(await stackMessages(adminTfa, [domain, adminTfaFor("root"), outputs(UNKNOWN_VALUE)])).toEqual([]);
    expect(await stackMessages(adminTfa, [domain, adminTfaFor("admin", { forceTfa: UNKNOWN_VALUE })])).toEqual([]);
  });
});

// ---- Cloudflare account 2FA ---------------------------------------------------------------------

describe("mailstack-2fa-require-cloudflare-account-tfa", () => {
  const account = (props: Record<string, unknown>) =>
    resource(TYPES.cloudflareAccount, "xd-cloud", { name: "XD Cloud", type: "standard", ...props });

  it("accepts an account with settings.enforceTwofactor true", async () => {
    expect(await violations(cloudflareAccountTfa, account({ settings: { enforceTwofactor: true } }))).toEqual([]);
  });

  it("reports enforceTwofactor false, a missing flag and missing settings", async () => {
    for (const props of [
      { settings: { enforceTwofactor: false } },
      { settings: { abuseContactEmail: "a@b.org" } },
      {},
    ]) {
      expect(await violations(cloudflareAccountTfa, account(props)), JSON.stringify(props)).toEqual([
        "Cloudflare account xd-cloud does not enforce two-factor login: set settings.enforceTwofactor true",
      ]);
    }
  });

  it("ignores other resource types", async () => {
    expect(await violations(cloudflareAccountTfa, record("example.org", "TXT", { settings: {} }))).toEqual([]);
  });

  it("skips settings a preview cannot know", async () => {
    expect(await violations(cloudflareAccountTfa, account({ settings: UNKNOWN_VALUE }))).toEqual([]);
    expect(await violations(cloudflareAccountTfa, account({ settings: { enforceTwofactor: UNKNOWN_VALUE } }))).toEqual(
      [],
    );
  });
});

// ---- Proxmox realm 2FA --------------------------------------------------------------------------

describe("mailstack-2fa-require-proxmox-realm-tfa", () => {
  const vm = resource(TYPES.vm, "mailcow-vm", { nodeName: "pve", vmId: 104 });
  const command = (name: string, props: Record<string, unknown>) =>
    resource(TYPES.command, name, { connection: { host: "pve.example.org" }, ...props });
  const realmCommand = (realm: string, type: "oath" | "yubico" = "oath") =>
    command("proxmox-access-realm-tfa", { create: "bash -s", stdin: realmTfaScript(realm, type) });

  it("accepts a VM with the stack's realm TFA command (oath or yubico)", async () => {
    expect(await stackMessages(proxmoxRealmTfa, [vm, realmCommand("pve")])).toEqual([]);
    expect(await stackMessages(proxmoxRealmTfa, [vm, realmCommand("pve", "yubico")])).toEqual([]);
    const inline = command("realm-inline", { create: "pveum realm modify pve --tfa type=oath" });
    expect(await stackMessages(proxmoxRealmTfa, [vm, inline])).toEqual([]);
  });

  it("reports a VM without a realm TFA command, at the VM", async () => {
    const other = command("mailcow-docker", {
      create: "sudo bash -s",
      stdin: "#!/bin/bash\napt-get install -y docker-ce\n",
    });
    expect(await stackViolations(proxmoxRealmTfa, [vm, other])).toEqual([
      {
        message: expect.stringMatching(
          /no command requires TFA for the Proxmox admin realm \(pveum realm modify/,
        ) as string,
        urn: vm.urn,
      },
    ]);
  });

  it("does not report a stack without VMs", async () => {
    expect(
      await stackMessages(proxmoxRealmTfa, [record("example.org", "MX", { content: "mail.example.org" })]),
    ).toEqual([]);
  });

  it("skips connections and other scripts a preview cannot know", async () => {
    const pending = command("mailcow-tls-key", {
      connection: UNKNOWN_VALUE,
      create: "sudo bash -s",
      stdin: UNKNOWN_VALUE,
    });
    const realm = resource(TYPES.command, "proxmox-access-realm-tfa", {
      connection: UNKNOWN_VALUE,
      create: "bash -s",
      stdin: realmTfaScript("pve", "oath"),
      triggers: UNKNOWN_VALUE,
    });
    await expect(stackMessages(proxmoxRealmTfa, [vm, pending, realm])).resolves.toEqual([]);
  });
});

// ---- unenforced logins (advisory) ---------------------------------------------------------------

describe("mailstack-2fa-report-unenforced-logins", () => {
  const vm = resource(TYPES.vm, "mailcow-vm", { nodeName: "pve" });
  const realm = (name: string) =>
    resource(TYPES.command, `realm-tfa-${name}`, { create: "bash -s", stdin: realmTfaScript(name, "oath") });
  const tenants = resource(TYPES.mailcowDomain, "mailcow-tenants-example.org", { kind: "domain", spec: {} });

  it("is advisory: it lists what needs 2FA by hand and never blocks", () => {
    expect(RULES.unenforcedLogins.enforcementLevel).toBe("advisory");
    expect(unenforcedLogins.enforcementLevel).toBe("advisory");
  });

  it("reports nothing for a stack without login surfaces", async () => {
    expect(await stackMessages(unenforcedLogins, [])).toEqual([]);
  });

  it("reports the pfSense web UI when the stack manages pfSense rules or forwards", async () => {
    for (const type of [TYPES.pfsenseRule, TYPES.pfsenseForward]) {
      expect(await stackMessages(unenforcedLogins, [resource(type, "smtp", {})]), type).toEqual([
        expect.stringMatching(/^pfSense web UI: .*TOTP/),
      ]);
    }
  });

  it("reports root@pam when the realm under TFA is not pam, and not when it is", async () => {
    const rootPam = expect.stringMatching(/^Proxmox root@pam: .*TOTP or WebAuthn/) as string;
    expect(await stackMessages(unenforcedLogins, [vm])).toEqual([rootPam]);
    expect(await stackMessages(unenforcedLogins, [vm, realm("pve")])).toEqual([rootPam]);
    expect(await stackMessages(unenforcedLogins, [vm, realm("pam")])).toEqual([]);
  });

  it("reports IMAP and app passwords when the stack declares mailboxes", async () => {
    const mailbox = resource(TYPES.mailbox, "alice", { spec: { localPart: "alice", forceTfa: true } });
    expect(await stackMessages(unenforcedLogins, [mailbox])).toEqual([
      expect.stringMatching(/^mailcow IMAP, .*app passwords/),
    ]);
  });

  it("reports the Cloudflare account when DNS is managed without the account, and not with it", async () => {
    const cloudflare = expect.stringMatching(/^Cloudflare account: not managed by this stack/) as string;
    expect(
      await stackMessages(unenforcedLogins, [record("example.org", "MX", { content: "mail.example.org" })]),
    ).toEqual([cloudflare]);
    expect(await stackMessages(unenforcedLogins, [zoneDnssec("active")])).toEqual([cloudflare]);
    const account = resource(TYPES.cloudflareAccount, "xd-cloud", { settings: { enforceTwofactor: true } });
    expect(await stackMessages(unenforcedLogins, [txt("example.org", "v=spf1 -all"), account])).toEqual([]);
  });

  it("reports mailcow's domain admins, which the stack does not declare, when it manages mailcow domains", async () => {
    expect(await stackMessages(unenforcedLogins, [tenants])).toEqual([
      expect.stringMatching(/^mailcow domain admins: not declared by the stack; give any created in the UI force_tfa/),
    ]);
  });

  it("reports every surface of a full stack once, in a stable order", async () => {
    const found = await stackMessages(unenforcedLogins, [
      resource(TYPES.pfsenseRule, "smtp", {}),
      vm,
      realm("pve"),
      resource(TYPES.mailbox, "alice", {}),
      ...prodRecords,
      tenants,
    ]);
    expect(found.map((m) => m.split(":")[0])).toEqual([
      "pfSense web UI",
      "Proxmox root@pam",
      "mailcow IMAP, SMTP submission, POP3 and ActiveSync",
      "Cloudflare account",
      "mailcow domain admins",
    ]);
  });

  it("does not read props, so values a preview cannot know change nothing", async () => {
    const found = await stackMessages(unenforcedLogins, [
      resource(TYPES.vm, "mailcow-vm", { nodeName: UNKNOWN_VALUE }),
      resource(TYPES.command, "realm-tfa", { create: "bash -s", stdin: UNKNOWN_VALUE }),
      resource(TYPES.mailbox, "alice", { spec: UNKNOWN_VALUE }),
      resource(TYPES.mailcowDomain, "mailcow-tenants-example.org", { spec: UNKNOWN_VALUE }),
    ]);
    expect(found.map((m) => m.split(":")[0])).toEqual([
      "Proxmox root@pam",
      "mailcow IMAP, SMTP submission, POP3 and ActiveSync",
      "mailcow domain admins",
    ]);
  });
});
