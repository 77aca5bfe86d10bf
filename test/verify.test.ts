// verify's parts on their own: usage errors end with exit 2 and a message (no stack trace), the
// outputs it reads, DS digests and key tags against BIND's and ldns' tools, certificate expiry
// thresholds on real certificates, reverse names against Python's ipaddress, and the Prometheus
// file read by a real node_exporter.
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { reverseName } from "../verify/checks/ports";
import { dsText, keyTag, parseTrustAnchors } from "../verify/dns/dnssec";
import { Connector } from "../verify/net";
import { parseConnect, parseHostPort, parseOptions, UsageError } from "../verify/options";
import { parseOutputsText } from "../verify/outputs";
import { prometheusReport, writeAtomically } from "../verify/report";
import { fail, pass, summarize, warn, type Report } from "../verify/result";
import { EXPIRY_FAIL_DAYS, EXPIRY_WARN_DAYS, judgeCertificate, signatureAlgorithm } from "../verify/tls/certificate";
import { Daemon, freePort, waitFor } from "./lab";
import { root } from "./plans";
import { run, runOk } from "./support/exec";
import { LabCa } from "./support/verify-lab";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The plan's outputs.json as `npm run plan` writes it (a small stand-in written once). */
const OUTPUTS = {
  environment: "production",
  mailHost: { hostname: "mail.example.org", publicIpv4: "192.0.2.10", publicIpv6: "2001:db8::10" },
  tlsMinVersion: "1.2",
  endpoints: { smtp: { host: "mail.example.org", port: 25, security: "starttls" } },
  publicPorts: [25],
  domains: {
    "example.org": {
      mx: "mail.example.org",
      dkim: { name: "dkim._domainkey.example.org", value: "v=DKIM1; p=AAAA" },
      mtaStsPolicyUrl: "https://mta-sts.example.org/.well-known/mta-sts.txt",
      mtaStsPolicyId: "0123",
      mtaStsPolicy: "version: STSv1\n",
    },
  },
  zones: {
    "example.org": {
      zoneId: "x",
      ds: "[unknown]",
      records: [{ name: "example.org", type: "MX", value: "10 mail.example.org" }],
    },
  },
  mailboxInitialPasswords: "[secret]",
};

function verifyCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  return run(process.execPath, ["--require", "tsx/cjs", join(root, "verify", "cli.ts"), ...args], {
    cwd: root,
    env,
    timeoutMs: 120_000,
  });
}

describe("usage", () => {
  const outputs = join(dir, "outputs.json");
  writeFileSync(outputs, JSON.stringify(OUTPUTS));

  it.each([
    [[], /--stack <name> or --outputs <file>/],
    [["--stack", "prod", "--outputs", "x.json"], /give one of them/],
    [["--outputs", "x.json", "--bogus"], /Unknown option '--bogus'/],
    [["--outputs", "x.json", "--connect", "mail.example.org"], /expected NAME\[:PORT\]=ADDR\[:PORT\]/],
    [
      ["--outputs", "x.json", "--connect", "mail.example.org=10.0.0.1:25"],
      /a port on the right needs the port it replaces/,
    ],
    [
      ["--outputs", "x.json", "--connect", "2001:db8::zz:25=::1"],
      /is neither an IP address nor a host name|\[ADDRESS\]:PORT/,
    ],
    [["--outputs", "x.json", "--only", "tls", "nonsense"], /unknown category "nonsense"; valid: dnssec, records/],
    [["--outputs", "x.json", "--resolver", "127.0.0.1:99999"], /"99999" is not a port/],
    [["--outputs", join(dir, "missing.json")], /cannot read the outputs file .*missing\.json: ENOENT/],
    [["--outputs", join(root, "package.json")], /does not hold mailstack's stack outputs:\n {2}- mailHost/],
    [["--outputs", outputs, "--ca", join(root, "package.json")], /holds no PEM certificate/],
    [
      ["--outputs", outputs, "--trust-anchor", join(root, "package.json")],
      /--trust-anchor: .*package\.json:1: expected a DS or DNSKEY record/,
    ],
  ])("%j exits 2 with a message and no stack trace", async (args, message) => {
    const result = await verifyCli(args);
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stdout).toBe("");
  });

  it("--help prints the options and exits 0", async () => {
    const result = await verifyCli(["--help"]);
    expect(result.status).toBe(0);
    for (const option of [
      "--stack",
      "--outputs",
      "--resolver",
      "--trust-anchor",
      "--connect",
      "--ca",
      "--only",
      "--json",
      "--prometheus",
    ]) {
      expect(result.stdout).toContain(option);
    }
  });

  it("--stack reads `pulumi stack output --json --stack <name>` and says when the CLI is missing or fails", async () => {
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    const missing = await verifyCli(["--stack", "prod"], { ...process.env, PATH: bin });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/the Pulumi CLI \(pulumi\) is not on PATH.*--outputs outputs\.json/);
    // A stand-in CLI that records its arguments and fails like `pulumi` does for an unknown stack.
    writeFileSync(
      join(bin, "pulumi"),
      `#!/bin/sh\necho "$@" > "${join(dir, "pulumi-args")}"\necho "error: no stack named 'prod' found" >&2\nexit 255\n`,
    );
    chmodSync(join(bin, "pulumi"), 0o755);
    const failing = await verifyCli(["--stack", "prod"], { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` });
    expect(failing.status).toBe(2);
    expect(failing.stderr).toContain("error: no stack named 'prod' found");
    expect(readFileSync(join(dir, "pulumi-args"), "utf8").trim()).toBe("stack output --json --stack prod");
  });

  it("writes mailstack_verify_up 0 to the --prometheus file when it cannot run", async () => {
    const file = join(dir, "down.prom");
    const result = await verifyCli(["--outputs", join(dir, "missing.json"), "--prometheus", file]);
    expect(result.status).toBe(2);
    expect(readFileSync(file, "utf8")).toMatch(/^mailstack_verify_up\{mail_host=""\} 0$/m);
  });
});

describe("options", () => {
  it("parses every --connect form", () => {
    expect(parseConnect("mail.example.org:25=127.0.0.1:2525")).toEqual({
      from: { host: "mail.example.org", port: 25 },
      to: { host: "127.0.0.1", port: 2525 },
    });
    expect(parseConnect("[2001:db8::10]:25=[::1]:2525")).toEqual({
      from: { host: "2001:db8::10", port: 25 },
      to: { host: "::1", port: 2525 },
    });
    expect(parseConnect("Mail.Example.org.=10.3.0.4")).toEqual({
      from: { host: "mail.example.org" },
      to: { host: "10.3.0.4" },
    });
    expect(parseConnect("2001:db8::10=fd03::4")).toEqual({ from: { host: "2001:db8::10" }, to: { host: "fd03::4" } });
  });

  it("takes --only as repeated, comma-separated or following words", () => {
    const only = (args: string[]) => parseOptions(["--outputs", "o.json", ...args]).only;
    expect(only(["--only", "tls", "dane"])).toEqual(["tls", "dane"]);
    expect(only(["--only", "tls,dane", "--only", "ptr"])).toEqual(["tls", "dane", "ptr"]);
    expect(only([])).toBeUndefined();
    expect(() => parseOptions(["--outputs", "o.json", "tls"])).toThrow(UsageError);
  });

  it("reads back any address and port it is given (property)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), (address, port) => {
        const text = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
        const parsed = parseHostPort(text, "test");
        expect(parsed.port).toBe(port);
        expect(parsed.host).toBe(address.toLowerCase());
      }),
    );
  });

  it("maps the most specific rule: address and port, name and port, address, name", () => {
    const connector = new Connector(
      [
        "mail.example.org=10.0.0.1",
        "192.0.2.10=10.0.0.2",
        "mail.example.org:25=10.0.0.3:2525",
        "192.0.2.10:25=10.0.0.4:2526",
      ].map(parseConnect),
    );
    expect(connector.destination("mail.example.org", "192.0.2.10", 25)).toEqual({ host: "10.0.0.4", port: 2526 });
    expect(connector.destination("mail.example.org", "2001:db8::10", 25)).toEqual({ host: "10.0.0.3", port: 2525 });
    expect(connector.destination("mail.example.org", "192.0.2.10", 993)).toEqual({ host: "10.0.0.2", port: 993 });
    expect(connector.destination("mail.example.org", "2001:db8::10", 993)).toEqual({ host: "10.0.0.1", port: 993 });
    expect(new Connector([]).destination("mail.example.org", "2001:db8::10", 993)).toEqual({
      host: "2001:db8::10",
      port: 993,
    });
  });
});

describe("the stack outputs verify reads", () => {
  it("take the plan's outputs.json, unknown and secret values as absent", () => {
    const target = parseOutputsText(JSON.stringify(OUTPUTS), "outputs.json");
    expect(target.zones).toEqual([
      { name: "example.org", records: [{ name: "example.org", type: "MX", value: "10 mail.example.org" }] },
    ]);
    expect(target.host).toEqual({ name: "mail.example.org", ipv4: "192.0.2.10", ipv6: "2001:db8::10" });
  });

  it("take what `npm run plan` writes for prod", async () => {
    const out = join(dir, "plan");
    await runOk("npm", ["run", "-s", "plan", "--", "--out", out], { cwd: root, timeoutMs: 300_000 });
    const target = parseOutputsText(readFileSync(join(out, "outputs.json"), "utf8"), "outputs.json");
    expect(target.domains.map((d) => d.mx)).toEqual(["mail.xd-cloud.de"]);
    expect(target.zones[0]?.records?.length).toBeGreaterThan(20);
    expect(target.domains[0]?.mtaStsPolicy).toMatch(/^version: STSv1\nmode: enforce\n/);
  });
});

describe("DS digests and key tags", () => {
  const keys = join(dir, "keys");
  mkdirSync(keys, { recursive: true });

  it.each([
    ["RSASHA256", ["-b", "2048", "-f", "KSK"]],
    ["ECDSAP256SHA256", ["-f", "KSK"]],
    ["ECDSAP384SHA384", []],
    ["ED25519", []],
  ])("match dnssec-dsfromkey and ldns-key2ds for %s (mixed-case owner)", async (algorithm, extra) => {
    requireTool("dnssec-keygen");
    requireTool("dnssec-dsfromkey");
    requireTool("ldns-key2ds");
    const base = (
      await runOk("dnssec-keygen", ["-q", "-K", keys, "-a", algorithm, ...extra, "-n", "ZONE", "Example.ORG"])
    ).trim();
    const file = join(keys, `${base}.key`);
    const [anchor] = parseTrustAnchors(readFileSync(file, "utf8"), file);
    const key = anchor?.dnskey;
    if (!key) throw new Error(`no DNSKEY in ${file}`);
    expect(String(keyTag(key)).padStart(5, "0")).toBe(base.slice(-5));
    for (const [type, bind, ldns] of [
      [1, ["-1"], ["-1"]],
      [2, ["-2"], ["-2"]],
      [4, ["-a", "SHA-384"], ["-4"]],
    ] as const) {
      const ours = dsText("Example.ORG", key, type);
      expect((await runOk("dnssec-dsfromkey", [...bind, file])).trim()).toBe(`Example.ORG. IN DS ${ours}`);
      const fromLdns = (await runOk("ldns-key2ds", ["-n", "-f", ...ldns, file])).trim().split(/\s+/).slice(4).join(" ");
      expect(fromLdns.toUpperCase()).toBe(ours.toUpperCase());
    }
  });

  it("trust anchors: the root key file Unbound uses parses", () => {
    const file = "/usr/share/dns/root.key";
    const text = (() => {
      try {
        return readFileSync(file, "utf8");
      } catch {
        return ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
      }
    })();
    const anchors = parseTrustAnchors(text, file);
    expect(anchors.every((anchor) => anchor.owner === ".")).toBe(true);
  });
});

describe("certificates", () => {
  const days = (n: number) => new Date(Date.now() + n * 86_400_000);
  const stamp = (date: Date) => `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;

  it(`warn below ${EXPIRY_WARN_DAYS} days, fail below ${EXPIRY_FAIL_DAYS} and when expired (openssl-issued certificates)`, async () => {
    const ca = await LabCa.create(join(dir, "ca"));
    const key = (
      await runOk("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
    ).toString();
    const level = async (name: string, from: number, to: number) => {
      const issued = await ca.issue(name, key, ["mail.example.org"], stamp(days(from)), stamp(days(to)));
      const finding = judgeCertificate(
        "mail.example.org",
        [new X509Certificate(issued.pem)],
        { authorized: true },
        new Date(),
      );
      return finding.find((f) => f.check === "certificate-expiry")?.level;
    };
    expect(await level("long", -1, 60)).toBe("pass");
    expect(await level("late", -60, EXPIRY_WARN_DAYS - 1)).toBe("warn");
    expect(await level("urgent", -60, EXPIRY_FAIL_DAYS - 1)).toBe("fail");
    expect(await level("expired", -60, -1)).toBe("fail");
    expect(await level("future", 2, 60)).toBe("fail");
    const issued = await ca.issue("name", key, ["other.example.org"], stamp(days(-1)), stamp(days(60)));
    const leaf = new X509Certificate(issued.pem);
    const findings = judgeCertificate(
      "mail.example.org",
      [leaf],
      { authorized: false, authorizationError: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
      new Date(),
    );
    expect(findings.find((f) => f.check === "certificate-name")).toMatchObject({ level: "fail" });
    expect(findings.find((f) => f.check === "certificate-chain")?.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(signatureAlgorithm(leaf)).toBe("ecdsa-with-SHA256");
  });
});

describe("reverse names", () => {
  it("match Python's ipaddress.reverse_pointer", async () => {
    const addresses = ["134.255.229.52", "2a05:bec0:27:fd03::4", "2001:db8::1", "10.3.0.4"];
    const python = await runOk("python3", [
      "-c",
      "import ipaddress,sys\nfor a in sys.argv[1:]: print(ipaddress.ip_address(a).reverse_pointer)",
      ...addresses,
    ]);
    expect(addresses.map(reverseName)).toEqual(python.trim().split("\n"));
  });
});

describe("the Prometheus textfile", () => {
  it("is read by node_exporter's textfile collector without errors, one series per check", async () => {
    requireTool("prometheus-node-exporter");
    const textfiles = join(dir, "textfile");
    mkdirSync(textfiles, { recursive: true });
    const results = [
      pass("tls", "tls-versions", { host: "mail.example.org", port: 25, address: "192.0.2.10" }, "ok"),
      fail("dnssec", "dnssec-ds", { domain: "example.org" }, 'the DS "x"\nis wrong', "fix it"),
      // Two findings of one check on one subject: one series with the worst status.
      warn("records", "record-txt", { domain: "example.org", host: "a.example.org" }, "one", "fix"),
      fail("records", "record-txt", { domain: "example.org", host: "a.example.org" }, "two", "fix"),
      pass("certificate", "certificate-expiry", { host: "mail.example.org", port: 25, address: "192.0.2.10" }, "ok", {
        notAfter: "Jan  1 00:00:00 2030 GMT",
      }),
    ];
    const report: Report = {
      startedAt: new Date().toISOString(),
      durationMs: 1234,
      summary: summarize(results),
      results,
    };
    writeAtomically(join(textfiles, "mailstack_verify.prom"), prometheusReport(report, 'mail"host', new Date()));
    expect(readdirSync(textfiles)).toEqual(["mailstack_verify.prom"]);
    const port = await freePort();
    const exporter = Daemon.start(
      "node-exporter",
      "prometheus-node-exporter",
      [
        "--collector.disable-defaults",
        "--collector.textfile",
        `--collector.textfile.directory=${textfiles}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      dir,
    );
    try {
      const metrics = await waitFor("node_exporter", async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        return response.ok ? response.text() : undefined;
      });
      expect(metrics).toMatch(/^node_textfile_scrape_error 0$/m);
      const series = metrics.split("\n").filter((line) => line.startsWith("mailstack_verify_check_status{"));
      expect(series).toHaveLength(4);
      expect(metrics).toContain(
        'mailstack_verify_check_status{address="",category="records",check="record-txt",domain="example.org",host="a.example.org",mail_host="mail\\"host",port=""} 2',
      );
      expect(metrics).toMatch(/^mailstack_verify_success\{mail_host="mail\\"host"\} 0$/m);
      expect(metrics).toMatch(/^mailstack_verify_certificate_expiry_timestamp_seconds\{.*port="25"\} 1\.893456e\+09$/m);
      expect(metrics).toMatch(
        /^mailstack_verify_results\{category="dnssec",mail_host="mail\\"host",status="fail"\} 1$/m,
      );
    } finally {
      await exporter.stop();
    }
  });
});
