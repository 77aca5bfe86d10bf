import { generateKeyPair, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { plainRecordArgs, recordFromCloudflareArgs } from "../render/cloudflare";
import {
  dkimRecord,
  dmarcRecord,
  mailZoneRecords,
  mtaStsId,
  mtaStsPolicyText,
  tlsaSpkiSha256,
  type MailZoneInput,
} from "../render/dns";
import { txtStrings, txtText, type DnsRecordSpec, type RecordType } from "../render/dns-record";
import { mailZones } from "../render/dns-zones";
import { zoneFile } from "../render/zonefile";
import { baseConfig, load, type ConfigObject } from "./fixtures";
import { promisify } from "node:util";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = publicKey.export({ type: "spki", format: "pem" }).toString();

const input: MailZoneInput = {
  zone: "example.org",
  ttl: 3600,
  caa: { issuers: ["letsencrypt.org"], iodef: "mailto:admin@example.org" },
  dmarcReportAuthorizations: [],
  host: {
    name: "mail.example.org",
    ipv4: "134.255.229.52",
    ipv6: "2a05:bec0:27:fd03::4",
    tlsa: ["aa".repeat(32), "bb".repeat(32)],
  },
  mail: {
    mxHost: "mail.example.org",
    ipv4: "134.255.229.52",
    ipv6: "2a05:bec0:27:fd03::4",
    dkimSelector: "dkim",
    dkim: dkimRecord(pem),
    dmarc: { policy: "reject", rua: ["mailto:dmarc@example.org"], ruf: [], adkim: "r", aspf: "r", pct: 100 },
    mtaSts: { mode: "enforce", mx: ["mail.example.org"], maxAgeSeconds: 604800 },
    tlsRptRua: ["mailto:tls@example.org"],
    services: { submission: true, pop3s: false, imap: false, pop3: false, sieve: false },
    groupware: false,
  },
};
const records = mailZoneRecords(input);
const find = <T extends RecordType>(name: string, type: T) =>
  records.filter((r): r is DnsRecordSpec & { type: T } => r.name === name && r.type === type);

describe("the mail zone record set", () => {
  it("puts MX, SPF, DMARC, MTA-STS and TLS-RPT at the mail domain, not at the host (errata 5.1)", () => {
    expect(find("example.org", "MX")).toEqual([expect.objectContaining({ content: "mail.example.org", priority: 10 })]);
    expect(find("example.org", "TXT").map((r) => r.content)).toEqual([
      "v=spf1 ip4:134.255.229.52 ip6:2a05:bec0:27:fd03::4 -all",
    ]);
    expect(find("_dmarc.example.org", "TXT")).toHaveLength(1);
    expect(find("_mta-sts.example.org", "TXT")).toHaveLength(1);
    expect(find("_smtp._tls.example.org", "TXT").map((r) => r.content)).toEqual([
      "v=TLSRPTv1; rua=mailto:tls@example.org",
    ]);
    expect(
      records.filter((r) => r.name.startsWith("_dmarc.mail.") || (r.name === "mail.example.org" && r.type === "MX")),
    ).toEqual([]);
  });

  it("publishes the public addresses of the host, never LAN or ULA ones", () => {
    expect(find("mail.example.org", "A").map((r) => r.content)).toEqual(["134.255.229.52"]);
    expect(find("mail.example.org", "AAAA").map((r) => r.content)).toEqual(["2a05:bec0:27:fd03::4"]);
    expect(find("mail.example.org", "TXT").map((r) => r.content)).toEqual([
      "v=spf1 ip4:134.255.229.52 ip6:2a05:bec0:27:fd03::4 -all",
    ]);
  });

  it("publishes TLSA 3 1 1 for the current and the next key on port 25", () => {
    expect(find("_25._tcp.mail.example.org", "TLSA").map((r) => r.tlsa)).toEqual([
      { usage: 3, selector: 1, matchingType: 1, certificate: "aa".repeat(32) },
      { usage: 3, selector: 1, matchingType: 1, certificate: "bb".repeat(32) },
    ]);
  });

  it("marks services that are not offered with the target '.'", () => {
    expect(find("_submission._tcp.example.org", "SRV")[0]?.srv).toEqual({
      priority: 0,
      weight: 1,
      port: 587,
      target: "mail.example.org",
    });
    expect(find("_pop3s._tcp.example.org", "SRV")[0]?.srv).toEqual({ priority: 0, weight: 0, port: 0, target: "." });
    expect(find("_imap._tcp.example.org", "SRV")[0]?.srv?.target).toBe(".");
    expect(find("_imaps._tcp.example.org", "SRV")[0]?.srv?.port).toBe(993);
    expect(find("_autodiscover._tcp.example.org", "SRV")[0]?.srv?.port).toBe(443);
    expect(find("autoconfig.example.org", "CNAME")[0]?.content).toBe("mail.example.org");
  });

  it("restricts certificate issuance with CAA", () => {
    expect(find("example.org", "CAA").map((r) => r.caa)).toEqual([
      { flags: 0, tag: "issue", value: "letsencrypt.org" },
      { flags: 0, tag: "issuewild", value: ";" },
      { flags: 0, tag: "iodef", value: "mailto:admin@example.org" },
    ]);
  });

  it("gives every record a unique, stable key", () => {
    const keys = records.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(mailZoneRecords(input).map((r) => r.key)).toEqual(keys);
  });
});

describe("record values", () => {
  it("splits long TXT values into quoted strings of at most 255 bytes", async () => {
    // RSA 4096 is generated off the event loop (a synchronous one blocks the test worker for seconds).
    const { publicKey: big } = await promisify(generateKeyPair)("rsa", { modulusLength: 4096 });
    const value = dkimRecord(big.export({ type: "spki", format: "pem" }).toString());
    const quoted = txtStrings(value);
    const strings = [...quoted.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? "");
    expect(strings.length).toBeGreaterThan(2);
    for (const s of strings) expect(Buffer.byteLength(s)).toBeLessThanOrEqual(255);
    expect(strings.join("")).toBe(value);
  });

  it("escapes quotes and backslashes", () => {
    expect(txtStrings('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    expect(txtStrings("")).toBe('""');
  });

  it("reads character-strings back into the text they were written from", () => {
    for (const text of ["", 'a "b" \\c', "é".repeat(200), "x".repeat(600), '\\"" ""']) {
      expect(txtText(txtStrings(text))).toBe(text);
    }
    expect(txtText("v=spf1 -all")).toBeUndefined(); // not quoted
    expect(txtText('"a" "b')).toBeUndefined(); // unterminated
  });

  it("never splits a multi-byte character", () => {
    const strings = [...txtStrings("é".repeat(200)).matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? "");
    expect(strings.join("")).toBe("é".repeat(200));
    for (const s of strings) expect(Buffer.byteLength(s)).toBeLessThanOrEqual(255);
  });

  it("computes TLSA 3 1 1 as SHA-256 over the DER SPKI, like openssl", async () => {
    requireTool("openssl");
    const der = (await run("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: pem })).stdoutBytes;
    const digest = (await runOk("openssl", ["dgst", "-sha256", "-r"], { input: der })).split(" ")[0];
    expect(tlsaSpkiSha256(pem)).toBe(digest);
  });

  it("publishes the DKIM key as the base64 SPKI in mailcow's format", () => {
    const der = publicKey.export({ type: "spki", format: "der" }).toString("base64");
    expect(dkimRecord(pem)).toBe(`v=DKIM1; k=rsa; t=s; s=email; p=${der}`);
  });

  it("writes DMARC with the policy first and only the tags that are set", () => {
    expect(
      dmarcRecord({
        policy: "reject",
        rua: ["mailto:a@example.org", "mailto:b@example.org"],
        ruf: [],
        adkim: "s",
        aspf: "r",
        pct: 100,
      }),
    ).toBe("v=DMARC1; p=reject; rua=mailto:a@example.org,mailto:b@example.org; adkim=s; aspf=r");
    expect(
      dmarcRecord({
        policy: "quarantine",
        subdomainPolicy: "reject",
        rua: [],
        ruf: ["mailto:f@example.org"],
        adkim: "r",
        aspf: "r",
        pct: 50,
      }),
    ).toBe("v=DMARC1; p=quarantine; sp=reject; pct=50; ruf=mailto:f@example.org; fo=1; adkim=r; aspf=r");
  });

  it("derives the MTA-STS id from the policy text: it changes exactly when the policy changes", () => {
    const policy = { mode: "enforce" as const, mx: ["mail.example.org"], maxAgeSeconds: 604800 };
    const id = mtaStsId(mtaStsPolicyText(policy));
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(mtaStsId(mtaStsPolicyText({ ...policy }))).toBe(id);
    expect(mtaStsId(mtaStsPolicyText({ ...policy, mode: "testing" }))).not.toBe(id);
    expect(mtaStsId(mtaStsPolicyText({ ...policy, maxAgeSeconds: 1209600 }))).not.toBe(id);
  });
});

describe("zones from the configuration", () => {
  function zonesOf(mutate: (c: ConfigObject) => void) {
    const config = baseConfig();
    mutate(config);
    return mailZones(load(config).config);
  }

  it("manages one zone per hosted domain; the host's zone holds the host", () => {
    const zones = zonesOf((c) =>
      (c.domains as unknown[]).push({ name: "example.net", zoneId: "9eee3d33d906a9ff88e49080a057dc02" }),
    );
    expect(zones.map((z) => [z.zone.name, z.holdsHost, z.mail !== undefined])).toEqual([
      ["example.org", true, true],
      ["example.net", false, true],
    ]);
  });

  it("adds the host zone when the host lives outside the hosted domains", () => {
    const zones = zonesOf((c) => {
      c.hostname = "mx1.mail-infra.net";
      c.hostZone = { name: "mail-infra.net", zoneId: "9eee3d33d906a9ff88e49080a057dc02" };
    });
    expect(zones.map((z) => [z.zone.name, z.holdsHost, z.mail !== undefined])).toEqual([
      ["example.org", false, true],
      ["mail-infra.net", true, false],
    ]);
  });

  it("authorises DMARC reports for other hosted domains in the zone that receives them", () => {
    const zones = zonesOf((c) => {
      (c.domains as unknown[]).push({ name: "example.net", zoneId: "9eee3d33d906a9ff88e49080a057dc02" });
      c.dmarc = { rua: ["mailto:dmarc@example.org"] };
    });
    expect(zones[0]?.dmarcReportAuthorizations).toEqual([{ forDomain: "example.net", reportDomain: "example.org" }]);
    expect(zones[1]?.dmarcReportAuthorizations).toEqual([]);
    const records = mailZoneRecords({ ...input, dmarcReportAuthorizations: zones[0]?.dmarcReportAuthorizations ?? [] });
    const reports = records.filter((r) => r.name === "example.net._report._dmarc.example.org");
    expect(reports.map((r) => (r.type === "TXT" ? r.content : r.type))).toEqual(["v=DMARC1"]);
  });
});

describe("the Cloudflare arguments", () => {
  it("read back into the record they were made from, for every record type", () => {
    expect(new Set(records.map((r) => r.type))).toEqual(
      new Set(["A", "AAAA", "TXT", "TLSA", "MX", "CNAME", "SRV", "CAA"]),
    );
    for (const { key: _key, ...record } of records)
      expect(recordFromCloudflareArgs(plainRecordArgs(record))).toEqual(record);
  });

  it("fail naming the record when a field the type needs is missing", () => {
    const mx = plainRecordArgs({
      name: "example.org",
      type: "MX",
      ttl: 300,
      comment: "",
      content: "mx.example.org",
      priority: 10,
    });
    const { priority: _priority, ...withoutPriority } = mx;
    expect(() => recordFromCloudflareArgs(withoutPriority)).toThrow("the MX record example.org has no priority");
  });
});

describe("the zone file", () => {
  const text = zoneFile({
    zone: "example.org",
    records,
    nameServers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
  });

  it("is accepted by named-checkzone", async () => {
    requireTool("named-checkzone");
    const dir = mkdtempSync(join(tmpdir(), "mailstack-zone-"));
    try {
      writeFileSync(join(dir, "example.org.zone"), text);
      const output = await runOk("named-checkzone", ["-i", "local", "example.org", join(dir, "example.org.zone")]);
      expect(output).toMatch(/loaded serial 1\nOK/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes every record with an absolute owner name", () => {
    expect(text).toContain("example.org. 3600 IN MX 10 mail.example.org.");
    expect(text).toContain("_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 " + "aa".repeat(32));
    expect(text).toContain("_pop3s._tcp.example.org. 3600 IN SRV 0 0 0 .");
    expect(text).toContain('example.org. 3600 IN CAA 0 issuewild ";"');
    expect(text).toContain("@ 3600 IN NS ada.ns.cloudflare.com.");
  });
});
