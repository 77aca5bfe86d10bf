// The TLS and DNSSEC rules of the policy pack, called with fabricated resources: a compliant
// case, one failing case per way a rule can be violated, and unknown preview values skipped.
import { describe, expect, it } from "vitest";
import { dnssec } from "../policies/dns/dnssec";
import { dnssecForTlsa } from "../policies/dns/dnssec-for-tlsa";
import { dsOutput } from "../policies/dns/ds-output";
import { tlsaForMx } from "../policies/dns/tlsa-for-mx";
import { TYPES } from "../policies/lib";
import { mailTls12 } from "../policies/tls/mail-tls12";
import { mtaSts, policyFromWorker } from "../policies/tls/mta-sts";
import { verifiedConnections } from "../policies/tls/verified-connections";
import { zoneTls12 } from "../policies/tls/zone-tls12";
import { installAndRun, installFilesScript } from "../render/host-scripts";
import { stepResourceName } from "../render/mailcow-host";
import { dovecotExtraConf, postfixExtraCf, postfixOpensslCnf } from "../render/mailcow";
import { mtaStsWorkerScript } from "../render/mta-sts-worker";
import { mailHostInput } from "./fixtures";
import {
  mailHostCommand,
  mailHostCommands,
  OTHER_ZONE,
  record,
  resource,
  stack,
  stackMessages,
  stackViolations,
  UNKNOWN_VALUE,
  violations,
  ZONE,
  zoneDnssec,
  zoneSetting,
} from "./support/policy";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICViTJDwxU3/M06rz0oh3EZcEUKvsiqB+aQUQd25ubW";
const mx = (domain: string, host: string, zoneId = ZONE) =>
  record(domain, "MX", { content: host, priority: 10 }, zoneId);
const tlsa = (name: string, zoneId = ZONE) =>
  record(name, "TLSA", { data: { usage: 3, selector: 1, matchingType: 1, certificate: "ab".repeat(32) } }, zoneId);

describe("mailstack-tls-require-mail-tls12", () => {
  const install = (stdin: unknown) => resource(TYPES.command, "mailcow-postfix-tls", { create: "sudo bash -s", stdin });
  const withoutStep = (name: string, input = mailHostInput()) =>
    mailHostCommands(input).filter((r) => r.name !== stepResourceName("mailcow", name));

  it("accepts the bring-up the stack renders for TLS 1.2 and 1.3 (the commands MailcowVm declares)", async () => {
    for (const version of ["1.2", "1.3"] as const)
      expect(await stackMessages(mailTls12, mailHostCommands(mailHostInput({ tlsMinVersion: version })))).toEqual([]);
  });

  it("accepts the commands that install the rendered Postfix and Dovecot files for TLS 1.2 and 1.3", async () => {
    for (const version of ["1.2", "1.3"] as const) {
      const files = [
        postfixExtraCf({ hostname: "mail.example.org", minVersion: version }),
        postfixOpensslCnf(version),
        dovecotExtraConf(version),
      ].join("\n");
      expect(await stackMessages(mailTls12, [install(files)])).toEqual([]);
    }
  });

  it("reports a command that writes a TLS minimum below 1.2 into Postfix's or Dovecot's files", async () => {
    const cases: [string, string][] = [
      ["smtpd_tls_protocols = >=TLSv1\n", "smtpd_tls_protocols = TLSv1.0"],
      ["smtp_tls_mandatory_protocols = >=TLSv1.1\n", "smtp_tls_mandatory_protocols = TLSv1.1"],
      ["ssl_min_protocol = TLSv1.1\n", "ssl_min_protocol = TLSv1.1"],
      ["[baseline_postfix_settings]\nMinProtocol = TLSv1\n", "MinProtocol = TLSv1.0"],
    ];
    for (const [file, named] of cases) {
      const command = install(`cat > extra.cf <<'EOF'\n${file}EOF\n`);
      expect(await stackViolations(mailTls12, [command])).toEqual([
        {
          message: `mailcow-postfix-tls configures mailcow with ${named}: render the files from mailstack:tlsMinVersion "1.2" or "1.3"`,
          urn: command.urn,
        },
      ]);
    }
  });

  it("judges the files inside the real install scripts (base64-encoded), not only the wrapper", async () => {
    const weak = installFilesScript(
      "postfix-tls",
      [
        {
          path: "/opt/mailcow-dockerized/data/conf/postfix/extra.cf",
          mode: "0644",
          content: "smtpd_tls_protocols = >=TLSv1\n",
        },
      ],
      { root: "/opt/mailcow-dockerized", onChange: { restart: ["postfix-mailcow"] } },
    );
    expect(weak.content).not.toContain("TLSv1\n"); // the file travels base64-encoded
    for (const stdin of [weak.content, installAndRun(weak)]) {
      expect(await stackMessages(mailTls12, [install(stdin)])).toEqual([
        'mailcow-postfix-tls configures mailcow with smtpd_tls_protocols = TLSv1.0: render the files from mailstack:tlsMinVersion "1.2" or "1.3"',
      ]);
    }
  });

  it("reports mailcow installed without the steps that set Postfix's or Dovecot's minimum (mailcow's default is TLS 1.0)", async () => {
    const conf = mailHostCommand("mailcow-conf");
    expect(await stackViolations(mailTls12, withoutStep("postfix-tls"))).toEqual([
      { message: expect.stringMatching(/no command sets smtpd_tls_protocols for Postfix/) as string, urn: conf.urn },
      {
        message: expect.stringMatching(/no command sets smtpd_tls_mandatory_protocols for Postfix/) as string,
        urn: conf.urn,
      },
    ]);
    expect(await stackMessages(mailTls12, withoutStep("dovecot-tls"))).toEqual([
      expect.stringMatching(/no command sets ssl_min_protocol for Dovecot \(IMAP, POP3\), so mailcow's default/),
    ]);
  });

  it("skips a script a preview cannot know (the minimums may be there), and other resource types", async () => {
    expect(await stackMessages(mailTls12, [install(UNKNOWN_VALUE)])).toEqual([]);
    expect(await stackMessages(mailTls12, [...withoutStep("postfix-tls"), install(UNKNOWN_VALUE)])).toEqual([]);
    expect(await stackMessages(mailTls12, [resource(TYPES.vm, "mailcow-vm", { tlsMinVersion: "1.0" })])).toEqual([]);
  });
});

describe("mailstack-tls-require-zone-tls12", () => {
  const records = [record("mail.example.org", "A", { content: "192.0.2.1" })];

  it("accepts a zone with min_tls_version 1.2 and TLS 1.3 on", async () => {
    const settings = [zoneSetting("min_tls_version", "1.2"), zoneSetting("tls_1_3", "on")];
    expect(await stackMessages(zoneTls12, [...records, ...settings])).toEqual([]);
  });

  it("reports a zone setting that allows TLS 1.0 or 1.1, at the setting", async () => {
    for (const value of ["1.0", "1.1"]) {
      const setting = zoneSetting("min_tls_version", value);
      const found = await stackViolations(zoneTls12, [...records, setting, zoneSetting("tls_1_3", "on")]);
      expect(found).toEqual([{ message: expect.stringMatching(`accepts TLS ${value}`) as string, urn: setting.urn }]);
    }
  });

  it("reports TLS 1.3 switched off", async () => {
    const found = await stackMessages(zoneTls12, [
      ...records,
      zoneSetting("min_tls_version", "1.2"),
      zoneSetting("tls_1_3", "off"),
    ]);
    expect(found).toEqual([expect.stringMatching(/TLS 1.3 "off": set tls_1_3 to "on"/)]);
  });

  it("reports a zone with records whose TLS settings the stack does not manage", async () => {
    const found = await stackMessages(zoneTls12, [
      ...records,
      zoneSetting("min_tls_version", "1.2"),
      zoneSetting("tls_1_3", "on"),
      record("example.net", "MX", { content: "mail.example.org" }, OTHER_ZONE),
    ]);
    expect(found).toEqual([
      expect.stringMatching(`zone ${OTHER_ZONE} carries records but the stack sets no min_tls_version`),
      expect.stringMatching(`zone ${OTHER_ZONE} carries records but the stack does not turn TLS 1.3 on`),
    ]);
  });

  it("skips setting values a preview cannot know", async () => {
    const settings = [zoneSetting("min_tls_version", UNKNOWN_VALUE), zoneSetting("tls_1_3", "on")];
    expect(await stackMessages(zoneTls12, [...records, ...settings])).toEqual([]);
  });
});

describe("mailstack-tls-require-verified-connections", () => {
  const provider = (props: Record<string, unknown>) => resource(TYPES.proxmoxProvider, "proxmox", props);
  const dynamic = (kind: "pfsense" | "mailcow", connection: unknown) =>
    resource(`pulumi-nodejs:dynamic/${kind}:${kind === "pfsense" ? "FirewallRule" : "Mailbox"}`, "r", { connection });
  const command = (type: string, connection: unknown) => resource(type, "cmd", { connection, create: "true" });

  it("accepts verified TLS and pinned SSH host keys everywhere", async () => {
    const compliant = [
      provider({ endpoint: "https://pve.example.org:8006/", insecure: "false" }),
      provider({ endpoint: "https://pve.example.org:8006/", insecure: false }),
      dynamic("pfsense", { endpoint: "https://fw.example.org/", apiKey: "k" }),
      dynamic("mailcow", { endpoint: "https://mail.example.org", apiKey: "k", caCertificate: "PEM" }),
      resource(TYPES.pbs, "pbs", {
        connection: { endpoint: "https://pve.example.org:8006", apiKey: "k" },
        fingerprint: Array.from({ length: 32 }, () => "AB").join(":"),
      }),
      command(TYPES.command, { host: "10.3.0.4", hostKey: HOST_KEY }),
      command(TYPES.copyToRemote, { host: "10.3.0.4", hostKey: HOST_KEY }),
    ];
    for (const item of compliant) expect(await violations(verifiedConnections, item), item.type).toEqual([]);
  });

  it("accepts an upper-case scheme, which config accepts too (RFC 3986: schemes are case-insensitive)", async () => {
    expect(await violations(verifiedConnections, provider({ endpoint: "HTTPS://pve.example.org:8006/" }))).toEqual([]);
    expect(await violations(verifiedConnections, dynamic("pfsense", { endpoint: "HTTPS://fw.example.org/" }))).toEqual(
      [],
    );
  });

  it("reports a Proxmox provider that skips verification or speaks plain HTTP", async () => {
    for (const insecure of [true, "true"]) {
      expect(await violations(verifiedConnections, provider({ endpoint: "https://pve:8006/", insecure }))).toEqual([
        expect.stringMatching(/skips TLS verification: set insecure to false/),
      ]);
    }
    expect(await violations(verifiedConnections, provider({ endpoint: "http://pve:8006/" }))).toEqual([
      expect.stringMatching(/not HTTPS/),
    ]);
  });

  it("reports pfSense and mailcow clients over HTTP or without an endpoint (the client itself always verifies)", async () => {
    expect(await violations(verifiedConnections, dynamic("pfsense", { endpoint: "http://fw/" }))).toEqual([
      "the pfSense API is reached over http://fw/: use an https:// endpoint",
    ]);
    expect(await violations(verifiedConnections, dynamic("mailcow", {}))).toEqual([
      expect.stringMatching(/mailcow API client has no endpoint/),
    ]);
  });

  it("reports a PBS storage without a pinned fingerprint", async () => {
    const pve = { endpoint: "https://pve.example.org:8006", apiKey: "k" };
    expect(await violations(verifiedConnections, resource(TYPES.pbs, "pbs", { connection: pve }))).toEqual([
      expect.stringMatching(/pins no certificate fingerprint/),
    ]);
    expect(
      await violations(
        verifiedConnections,
        resource(TYPES.pbs, "pbs", { connection: { ...pve, endpoint: "http://pve:8006" }, fingerprint: "AB" }),
      ),
    ).toEqual([expect.stringMatching(/the Proxmox API is reached over http:\/\/pve:8006: use an https:\/\/ endpoint/)]);
  });

  it("reports remote commands and copies that do not pin the host key", async () => {
    for (const type of [TYPES.command, TYPES.copyToRemote]) {
      expect(await violations(verifiedConnections, command(type, { host: "10.3.0.4" })), type).toEqual([
        expect.stringMatching(/SSH connection to 10.3.0.4 does not pin the host key/),
      ]);
    }
  });

  it("skips a host key or connection a preview cannot know yet", async () => {
    expect(
      await violations(verifiedConnections, command(TYPES.command, { host: "10.3.0.4", hostKey: UNKNOWN_VALUE })),
    ).toEqual([]);
    expect(await violations(verifiedConnections, command(TYPES.command, UNKNOWN_VALUE))).toEqual([]);
    expect(await violations(verifiedConnections, dynamic("mailcow", UNKNOWN_VALUE))).toEqual([]);
  });
});

describe("mailstack-tls-enforce-mta-sts", () => {
  const policyText = (mode: string, maxAge: number) =>
    `version: STSv1\nmode: ${mode}\nmx: mail.example.org\nmax_age: ${maxAge}\n`;
  const worker = (mode: string, maxAge: number) =>
    resource(TYPES.workersScript, "example.org-mta-sts", {
      content: mtaStsWorkerScript("example.org", policyText(mode, maxAge)),
    });

  it("reads mode and max_age from the Worker the stack renders", () => {
    expect(policyFromWorker(mtaStsWorkerScript("example.org", policyText("enforce", 1209600)))).toEqual({
      mode: "enforce",
      maxAge: 1209600,
    });
  });

  it("accepts enforce with max_age of a week or more", async () => {
    expect(await violations(mtaSts, worker("enforce", 604800))).toEqual([]);
    expect(await violations(mtaSts, worker("enforce", 1209600))).toEqual([]);
  });

  it("reports testing and none modes in the served policy", async () => {
    for (const mode of ["testing", "none"]) {
      expect(await violations(mtaSts, worker(mode, 604800))).toEqual([
        expect.stringMatching(`"${mode}" mode: set mailstack:mtaSts.mode to "enforce"`),
      ]);
    }
  });

  it("reports a max_age below one week", async () => {
    expect(await violations(mtaSts, worker("enforce", 86400))).toEqual([
      expect.stringMatching(/max_age 86400: set mailstack:mtaSts.maxAgeSeconds to at least 604800/),
    ]);
  });

  it("skips a policy a preview cannot know and Workers that serve no MTA-STS policy", async () => {
    expect(await violations(mtaSts, resource(TYPES.workersScript, "later", { content: UNKNOWN_VALUE }))).toEqual([]);
    expect(await violations(mtaSts, resource(TYPES.workersScript, "other", { content: "export default {}" }))).toEqual(
      [],
    );
  });
});

describe("mailstack-dns-require-dnssec", () => {
  const records = [mx("example.org", "mail.example.org"), record("mail.example.org", "A", { content: "192.0.2.1" })];

  it("accepts zones whose DNSSEC is active, or signed and waiting for the DS at the registrar", async () => {
    expect(await stackMessages(dnssec, [...records, zoneDnssec("active")])).toEqual([]);
    expect(await stackMessages(dnssec, [...records, zoneDnssec(undefined)])).toEqual([]);
    // Cloudflare's state after the first deployment, until the registrar has the DS record.
    expect(await stackMessages(dnssec, [...records, zoneDnssec("pending")])).toEqual([]);
  });

  it("reports a zone that carries records without DNSSEC, once per zone", async () => {
    const found = await stackViolations(dnssec, records);
    expect(found).toEqual([
      {
        message: expect.stringMatching(`zone ${ZONE} carries records .* DNSSEC is not on`) as string,
        urn: records[0]?.urn,
      },
    ]);
  });

  it("reports DNSSEC that is disabled, being disabled or in error", async () => {
    for (const status of ["disabled", "pending-disabled", "error"]) {
      const found = await stackMessages(dnssec, [...records, zoneDnssec(status)]);
      expect(found).toEqual([
        expect.stringMatching(`DNSSEC of zone ${ZONE} is "${status}"`),
        expect.stringMatching(`zone ${ZONE} carries records`),
      ]);
    }
  });
});

describe("mailstack-dns-require-tlsa-for-mx", () => {
  it("accepts an MX host with a TLSA record on port 25", async () => {
    expect(
      await stackMessages(tlsaForMx, [mx("example.org", "mail.example.org"), tlsa("_25._tcp.mail.example.org")]),
    ).toEqual([]);
    // Names compare case-insensitively and without the trailing dot.
    expect(
      await stackMessages(tlsaForMx, [mx("example.org", "Mail.Example.org."), tlsa("_25._tcp.mail.example.org")]),
    ).toEqual([]);
  });

  it("reports an MX host without TLSA, and TLSA on the wrong port or name", async () => {
    const record = mx("example.org", "mail.example.org");
    for (const others of [[], [tlsa("_443._tcp.mail.example.org")], [tlsa("_25._tcp.mx.example.org")]]) {
      expect(await stackViolations(tlsaForMx, [record, ...others])).toEqual([
        { message: expect.stringMatching(/no TLSA record at _25._tcp.mail.example.org/) as string, urn: record.urn },
      ]);
    }
  });
});

describe("mailstack-dns-require-dnssec-for-tlsa", () => {
  it("accepts TLSA in a signed zone (active, or pending the DS at the registrar)", async () => {
    for (const status of ["active", "pending"])
      expect(await stackMessages(dnssecForTlsa, [tlsa("_25._tcp.mail.example.org"), zoneDnssec(status)])).toEqual([]);
  });

  it("reports TLSA in an unsigned zone or one whose DNSSEC is off", async () => {
    const record = tlsa("_25._tcp.mail.example.org");
    for (const others of [[], [zoneDnssec("disabled")], [zoneDnssec("active", OTHER_ZONE)]]) {
      expect(await stackViolations(dnssecForTlsa, [record, ...others])).toEqual([
        {
          message: expect.stringMatching(
            /not DNSSEC-signed: set mailstack:dns.dnssec true, or mailstack:dns.dane false/,
          ) as string,
          urn: record.urn,
        },
      ]);
    }
  });
});

describe("mailstack-dns-require-ds-output", () => {
  const zones = (ds: unknown) => ({ "example.org": { zoneId: ZONE, ...(ds === undefined ? {} : { ds }) } });

  it("accepts a signed zone whose DS is a stack output", async () => {
    const ds = "example.org. 3600 IN DS 2371 13 2 1f6c0c8d2b";
    expect(await stackMessages(dsOutput, [zoneDnssec("active"), stack({ zones: zones(ds) })])).toEqual([]);
  });

  it("reports a signed zone without a DS output, and a missing zones output", async () => {
    const signed = zoneDnssec("active");
    for (const outputs of [{ zones: zones(undefined) }, { zones: zones("") }, { zones: {} }, {}]) {
      expect(await stackViolations(dsOutput, [signed, stack(outputs)])).toEqual([
        {
          message: expect.stringMatching(
            `zone ${ZONE} is signed but its DS record is not in the stack output`,
          ) as string,
          urn: signed.urn,
        },
      ]);
    }
  });

  it("skips a DS that only the apply knows", async () => {
    expect(await stackMessages(dsOutput, [zoneDnssec("active"), stack({ zones: zones(UNKNOWN_VALUE) })])).toEqual([]);
    expect(await stackMessages(dsOutput, [zoneDnssec("active"), stack({ zones: UNKNOWN_VALUE })])).toEqual([]);
  });
});
