// The components built directly with small arguments (test/support/components.ts), as
// pulumi-awsx's tests do: what a user relies on from each, without planning the prod example.
import { generateKeyPairSync } from "node:crypto";
import { require as tsxRequire } from "tsx/cjs/api";
import { beforeAll, describe, expect, it } from "vitest";
import { TYPES } from "../common/resource-types";
import { isSecret, plain, type ProgramRun, type RecordedResource } from "../plan/engine";
import type { MailDnsZoneArgs } from "../components/mail-dns-zone";
import type { MailcowTenantsArgs } from "../components/mailcow-tenants";
import { firewallPlan } from "../render/firewall-plan";
import type * as Components from "./support/components";

const { planMailDnsZone, planMailcowTenants, planPfSenseRules } = tsxRequire(
  "./support/components",
  __filename,
) as typeof Components;

const publicKeyPem = (): string =>
  generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();

const named = (run: ProgramRun, name: string): RecordedResource => {
  const found = run.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource ${name}; have ${run.resources.map((r) => r.name).join(", ")}`);
  return found;
};
const inputsOf = (resource: RecordedResource) => plain(resource.inputs) as Record<string, unknown>;

// ---- fixtures, named for what they hold ----------------------------------------------------

/** example.org: holds the mail host and is itself a hosted mail domain; DNSSEC on and protected. */
function hostAndMailZone(dkimPublicKeyPem: string, tlsaPublicKey: string): MailDnsZoneArgs {
  return {
    zone: { name: "example.org", zoneId: "0123456789abcdef0123456789abcdef" },
    accountId: "fedcba9876543210fedcba9876543210",
    ttl: 300,
    dnssec: true,
    protectDnssec: true,
    tlsMinVersion: "1.2",
    caa: { issuers: ["letsencrypt.org"], iodef: "mailto:hostmaster@example.org" },
    dmarcReportAuthorizations: [],
    host: { name: "mail.example.org", ipv4: "192.0.2.25", ipv6: "2001:db8::25", tlsaPublicKeys: [tlsaPublicKey] },
    mail: {
      mxHost: "mail.example.org",
      ipv4: "192.0.2.25",
      ipv6: "2001:db8::25",
      dkimSelector: "dkim",
      dkimPublicKeyPem,
      dmarc: { policy: "reject", rua: ["mailto:dmarc@example.org"], ruf: [], adkim: "s", aspf: "s", pct: 100 },
      mtaSts: { mode: "enforce", mx: ["mail.example.org"], maxAgeSeconds: 604800 },
      tlsRptRua: ["mailto:tls@example.org"],
      services: { submission: true, pop3s: false, imap: false, pop3: false, sieve: false },
      groupware: false,
    },
  };
}

/** example.net: only the host's records (the mail domains are elsewhere); DNSSEC off. */
const HOST_ONLY_ZONE: MailDnsZoneArgs = {
  zone: { name: "example.net", zoneId: "00000000000000000000000000000002" },
  accountId: "fedcba9876543210fedcba9876543210",
  ttl: 3600,
  dnssec: false,
  protectDnssec: false,
  tlsMinVersion: "1.3",
  caa: { issuers: ["letsencrypt.org"], iodef: "mailto:hostmaster@example.net" },
  dmarcReportAuthorizations: [],
  host: { name: "mx.example.net", ipv4: "192.0.2.26", ipv6: "2001:db8::26", tlsaPublicKeys: [] },
};

/** One domain with two mailboxes (one with its own sending limit), SOGo on, default limits. */
function oneDomainTwoMailboxes(dkimPrivateKeyPem: string): Omit<MailcowTenantsArgs, "after"> {
  const mailbox = { quotaMiB: 1024, active: true, forceTfa: true, forcePasswordUpdate: true };
  return {
    connection: { endpoint: "https://mail.example.org/api/v1/", connectAddress: "10.0.0.25", apiKey: "api-key" },
    host: { connection: { host: "10.0.0.25", user: "mailstack-deploy" } },
    sogo: true,
    domains: [
      {
        name: "example.org",
        quotaMiB: 4096,
        maxMailboxes: 10,
        maxAliases: 10,
        mailboxes: [
          { ...mailbox, localPart: "info" },
          { ...mailbox, localPart: "news", rateLimit: { value: 500, frame: "h" } },
        ],
      },
    ],
    dkim: { "example.org": { selector: "dkim", privateKeyPem: dkimPrivateKeyPem } },
    adminUsername: "admin",
    adopt: false,
    limits: { domain: { value: 1000, frame: "h" }, mailbox: { value: 100, frame: "h" } },
    passwordPolicy: { length: 12, letters: true, lowerUpper: true, numbers: true, specialChars: false },
  };
}

/** pfSense in front of one mail host that offers SMTP (25) and submissions (465) only. */
const SMTP_ONLY_FIREWALL = firewallPlan({
  namespace: "test",
  wanInterface: "wan",
  lanInterface: "lan",
  hostIpv4: "10.0.0.25",
  hostPublicIpv6: "2001:db8::25",
  hostAddresses: ["10.0.0.25", "2001:db8::25"],
  publicPorts: [25, 465],
});

// ---- MailDnsZone ---------------------------------------------------------------------------

describe("MailDnsZone with small arguments", () => {
  let dkimKey: string;
  let tlsaKey: string;
  let run: ProgramRun;
  beforeAll(async () => {
    dkimKey = publicKeyPem();
    tlsaKey = publicKeyPem();
    run = await planMailDnsZone(hostAndMailZone(dkimKey, tlsaKey));
  });
  const records = () =>
    run.resources.filter((r) => r.type === TYPES.dnsRecord).map((r) => [r.name, inputsOf(r)] as const);

  it("gives a hosted domain its mail records, each a child of the zone in the zone's Cloudflare zone", () => {
    const zone = run.resources.find((r) => r.type === TYPES.mailDnsZone);
    const byName = Object.fromEntries(records());
    expect(byName["zone-mx"]).toMatchObject({
      type: "MX",
      name: "example.org",
      content: "mail.example.org",
      priority: 10,
    });
    expect(byName["zone-spf"]).toMatchObject({ type: "TXT", content: '"v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all"' });
    expect(String(byName["zone-dkim"]?.content)).toContain(dkimKey.replace(/-----[^-]+-----|\s/g, "").slice(0, 40));
    expect(byName["zone-dmarc"]).toMatchObject({ name: "_dmarc.example.org" });
    expect(byName["zone-host-tlsa-25"]).toMatchObject({ type: "TLSA", name: "_25._tcp.mail.example.org" });
    for (const record of run.resources.filter((r) => r.type === TYPES.dnsRecord)) {
      expect(record.parent).toBe(zone?.urn);
      expect(inputsOf(record).zoneId).toBe("0123456789abcdef0123456789abcdef");
    }
  });

  it("offers only the services the domain says: POP3 over TLS and ManageSieve are published as not offered", () => {
    const srv: Record<string, string> = Object.fromEntries(
      records()
        .filter(([, r]) => r.type === "SRV")
        .map(([, r]) => [String(r.name), (r.data as { target: string }).target]),
    );
    expect(srv["_imaps._tcp.example.org"]).toBe("mail.example.org");
    expect(srv["_pop3s._tcp.example.org"]).toBe(".");
    expect(srv["_sieve._tcp.example.org"]).toBe(".");
  });

  it("serves the MTA-STS policy from a Worker on mta-sts.<zone> and protects DNSSEC from deletion", () => {
    expect(inputsOf(named(run, "zone-mta-sts-domain"))).toMatchObject({ hostname: "mta-sts.example.org" });
    const worker = run.resources.find((r) => r.type === TYPES.workersScript);
    expect(String(worker && inputsOf(worker).content)).toContain("mode: enforce");
    expect(named(run, "zone-dnssec").options).toMatchObject({ protect: true, ignoreChanges: ["status"] });
  });

  it("a zone that only holds the host gets the host's records and no mail records, Worker or DNSSEC", async () => {
    const hostOnly = await planMailDnsZone(HOST_ONLY_ZONE);
    const types = hostOnly.resources
      .filter((r) => r.type === TYPES.dnsRecord)
      .map((r) => `${String(inputsOf(r).type)} ${String(inputsOf(r).name)}`);
    expect(types.filter((t) => !t.startsWith("CAA"))).toEqual([
      "A mx.example.net",
      "AAAA mx.example.net",
      "TXT mx.example.net",
    ]);
    expect(hostOnly.resources.filter((r) => r.type === TYPES.workersScript || r.type === TYPES.zoneDnssec)).toEqual([]);
  });
});

// ---- MailcowTenants ------------------------------------------------------------------------

describe("MailcowTenants with small arguments", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    run = await planMailcowTenants(
      oneDomainTwoMailboxes(privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
    );
  });
  const ofKind = (kind: string) =>
    run.resources.filter((r) => r.type === `pulumi-nodejs:dynamic/mailcow:${kind}`).map((r) => inputsOf(r));

  it("creates the domain, its DKIM key and every mailbox with 2FA and a password change enforced", () => {
    expect(ofKind("Domain").map((d) => (d.spec as { domain: string }).domain)).toEqual(["example.org"]);
    expect(ofKind("DkimKey").map((d) => [d.domain, d.selector])).toEqual([["example.org", "dkim"]]);
    const boxes = ofKind("Mailbox").map((m) => m.spec as { localPart: string; forceTfa: boolean });
    expect(boxes.map((b) => [b.localPart, b.forceTfa])).toEqual([
      ["info", true],
      ["news", true],
    ]);
    for (const box of ofKind("Mailbox")) expect(box.forcePasswordUpdate).toBe(true);
  });

  it("gives the domain and every mailbox a sending limit: the default, or the mailbox's own", () => {
    const limits = Object.fromEntries(
      ofKind("RateLimit").map((l) => [String(l.object), `${String(l.value)}/${String(l.frame)}`]),
    );
    expect(limits).toEqual({ "example.org": "1000/h", "info@example.org": "100/h", "news@example.org": "500/h" });
  });

  it("talks to mailcow only after the bring-up, and keeps the API key and the admin password secret", () => {
    const bringUp = named(run, "bring-up").urn;
    const admin = run.resources.find((r) => r.type === TYPES.mailcowAdmin);
    expect(admin?.dependencies).toContain(bringUp);
    expect(isSecret(admin?.inputs.password)).toBe(true);
    for (const resource of run.resources.filter((r) => r.type.startsWith(TYPES.mailcowPrefix)))
      expect(isSecret(resource.inputs.connection), resource.name).toBe(true);
  });
});

// ---- PfSenseRules --------------------------------------------------------------------------

describe("PfSenseRules with small arguments", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await planPfSenseRules({
      plan: SMTP_ONLY_FIREWALL,
      connection: { endpoint: "https://pfsense.example.org/api/v2/", apiKey: "pfsense-key" },
    });
  });
  const objects = () =>
    run.resources.filter((r) => r.type.startsWith(TYPES.pfsensePrefix) && r.name !== "pfsense-apply");

  it("creates one pfSense object per planned alias, port forward and rule, each with its marker", () => {
    const kinds = objects().map((o) => inputsOf(o).kind);
    expect(kinds.filter((k) => k === "alias")).toHaveLength(SMTP_ONLY_FIREWALL.aliases.length);
    expect(kinds.filter((k) => k === "port_forward")).toHaveLength(SMTP_ONLY_FIREWALL.portForwards.length);
    expect(kinds.filter((k) => k === "rule")).toHaveLength(SMTP_ONLY_FIREWALL.rules.length);
    for (const object of objects()) expect(String(inputsOf(object).marker)).toMatch(/^\[mailstack:test:/);
  });

  it("forwards only the offered ports, to the mail host's LAN address", () => {
    const ports = SMTP_ONLY_FIREWALL.aliases.find((a) => a.key === "alias-mail-ports");
    expect(ports?.address).toEqual(["25", "465"]);
    const forwards = objects().filter((o) => inputsOf(o).kind === "port_forward");
    expect(forwards.map((f) => inputsOf(f).spec)).toEqual([
      expect.objectContaining({ target: "10.0.0.25", destination_port: ports?.name }),
    ]);
  });

  it("applies once, after every object, with the API key kept secret", () => {
    const apply = named(run, "pfsense-apply");
    expect(objects().length).toBeGreaterThan(0);
    for (const object of objects()) expect(apply.dependencies).toContain(object.urn);
    for (const resource of run.resources.filter((r) => r.type.startsWith(TYPES.pfsensePrefix)))
      expect(isSecret(resource.inputs.connection), resource.name).toBe(true);
  });
});
