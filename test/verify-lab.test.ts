// `npm run verify` against the loopback lab (test/support/verify-lab.ts): real Knot, Unbound,
// Postfix, Dovecot and HTTPS servers with the planned zone and the rendered settings. It must
// pass clean, then catch each injected fault in the right category with a fix. All servers are
// shared by this file; every fault is undone before the next test.
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postfixOpensslCnf, TLS12_CIPHERS } from "../render/mailcow";
import { packBundle, PROMETHEUS_FILE_NAME, verifySettings } from "../render/verify-schedule";
import { verifyBundle } from "../verify/bundle";
import { CATEGORIES, type Category, type Report, type Result } from "../verify/result";
import { root } from "./plans";
import { run, runOk } from "./support/exec";
import { DOMAIN, HOST, IPV4, IPV6, VerifyLab, type VerifyRun } from "./support/verify-lab";
import { requirePythonTool } from "./tools";

let lab: VerifyLab;
let clean: VerifyRun;

beforeAll(async () => {
  lab = await VerifyLab.start();
  clean = await lab.verify();
  // How long a full run takes on this machine (reported, never asserted).
  console.log(`verify: ${clean.report.results.length} checks in ${(clean.report.durationMs / 1000).toFixed(1)} s`);
});

afterAll(async () => {
  await lab?.stop();
});

const failures = (report: Report) => report.results.filter((result) => result.status === "fail");
const failingCategories = (report: Report) => new Set(failures(report).map((result) => result.category));
const show = (results: readonly Result[]) =>
  results
    .map((r) => `${r.status} ${r.category}/${r.check} ${r.host ?? r.domain ?? ""}:${r.port ?? ""} ${r.message}`)
    .join("\n");

/** The fault is caught: exit 1, failures exactly in `categories`, each with a fix; returns the failures. */
function caught(run: VerifyRun, categories: readonly Category[]): Result[] {
  expect(run.code, run.stderr).toBe(1);
  const failed = failures(run.report);
  expect([...failingCategories(run.report)].sort(), show(failed)).toEqual([...categories].sort());
  for (const result of failed) expect(result.fix, `${result.check}: ${result.message}`).toMatch(/\w{3,}/);
  return failed;
}

describe("verify on a healthy deployment", () => {
  it("passes clean: exit 0, no failure or warning", () => {
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.report.summary.fail, show(failures(clean.report))).toBe(0);
    expect(
      clean.report.results.filter((r) => r.status === "warn"),
      "warnings",
    ).toEqual([]);
  });

  it("reports every category, each result with its subject", () => {
    expect(new Set(clean.report.results.map((r) => r.category))).toEqual(new Set(CATEGORIES));
    for (const result of clean.report.results) {
      expect(result.domain ?? result.host, result.check).toBeTruthy();
      expect(["pass", "warn", "fail"]).toContain(result.status);
    }
  });

  it("checks TLS, the certificate and DANE on every endpoint over IPv4 and IPv6", () => {
    const tls = clean.report.results.filter((r) => r.check === "tls-versions");
    expect(new Set(tls.map((r) => `${r.port}@${r.address}`))).toEqual(
      new Set([25, 465, 587, 993, 995, 443].flatMap((port) => [`${port}@${IPV4}`, `${port}@${IPV6}`])),
    );
    const dane = clean.report.results.filter((r) => r.check === "dane-match");
    expect(dane.map((r) => [r.address, r.status]).sort()).toEqual([
      [IPV4, "pass"],
      [IPV6, "pass"],
    ]);
    const groups = clean.report.results.find((r) => r.check === "tls-groups" && r.port === 25);
    expect(groups?.details?.accepted).toEqual(["X25519", "prime256v1", "secp384r1"]);
  });

  it("validates the chain from the lab trust anchor (RSA, like .de) to the zone (ECDSA, like Cloudflare) and checks the DS the stack reports", () => {
    expect(readFileSync(lab.anchorFile, "utf8")).toMatch(/^de\. IN DNSKEY 257 3 8 /);
    expect(lab.ds).toMatch(/ IN DS \d+ 13 2 [0-9A-F]{64}$/);
    const ds = clean.report.results.filter((r) => r.category === "dnssec" && r.check.startsWith("dnssec-ds"));
    expect(ds.map((r) => [r.check, r.status])).toEqual([
      ["dnssec-ds", "pass"],
      ["dnssec-ds-output", "pass"],
    ]);
  });

  it("runs only the categories asked for with --only", async () => {
    const only = await lab.verify({ extra: ["--only", "dane", "ptr"] });
    expect(only.code).toBe(0);
    expect(new Set(only.report.results.map((r) => r.category))).toEqual(new Set(["dane", "ptr"]));
  });
});

describe("verify catches injected faults", () => {
  it("a TLSA record for another key (dane)", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" });
    const hash = createHash("sha256").update(other).digest("hex");
    try {
      await lab.changeZone("child", (text) => text.replace(/(IN TLSA 3 1 1 )[0-9a-f]{64}/i, `$1${hash}`));
      const failed = caught(await lab.verify(), ["dane"]);
      const match = failed.filter((r) => r.check === "dane-match");
      expect(match.map((r) => r.address).sort()).toEqual([IPV4, IPV6].sort());
      expect(match[0]?.message).toMatch(/no TLSA record .* matches the certificate presented/);
      expect(match[0]?.fix).toMatch(/pulumi (refresh|up)/);
    } finally {
      await lab.restoreZones();
    }
  });

  it("TLS 1.0 allowed on Postfix (tls)", async () => {
    const opensslCnf = join(lab.dir, "openssl.cnf");
    const original = readFileSync(opensslCnf, "utf8");
    try {
      writeFileSync(
        opensslCnf,
        `${postfixOpensslCnf("1.2").replace("MinProtocol = TLSv1.2", "MinProtocol = TLSv1")}CipherString = DEFAULT:@SECLEVEL=0\n`,
      );
      await lab.postconf([
        "smtpd_tls_protocols=>=TLSv1",
        "smtpd_tls_mandatory_protocols=>=TLSv1",
        "smtps_smtpd_tls_mandatory_protocols=>=TLSv1",
        "submission_smtpd_tls_mandatory_protocols=>=TLSv1",
        `tls_high_cipherlist=${TLS12_CIPHERS}:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA`,
      ]);
      const failed = caught(await lab.verify(), ["tls"]);
      // sslyze (its own OpenSSL build) agrees that TLS 1.0 is now accepted on 25.
      expect((await sslyze(25, true)).protocols).toContain("TLSv1");
      const versions = failed.filter((r) => r.check === "tls-versions");
      expect(new Set(versions.map((r) => r.port))).toEqual(new Set([25, 465, 587]));
      for (const result of versions) expect(result.message).toMatch(/TLS 1\.0 is accepted/);
      expect(versions[0]?.fix).toMatch(/extra\.cf/);
    } finally {
      writeFileSync(opensslCnf, original);
      await lab.postconf([
        "smtpd_tls_protocols=>=TLSv1.2",
        "smtpd_tls_mandatory_protocols=>=TLSv1.2",
        "smtps_smtpd_tls_mandatory_protocols=>=TLSv1.2",
        "submission_smtpd_tls_mandatory_protocols=>=TLSv1.2",
        `tls_high_cipherlist=${TLS12_CIPHERS}`,
      ]);
    }
  });

  it("an expired certificate (certificate)", async () => {
    try {
      await lab.postconf([`smtpd_tls_cert_file=${lab.expiredCert.cert}`]);
      const failed = caught(await lab.verify(), ["certificate"]);
      const expiry = failed.filter((r) => r.check === "certificate-expiry");
      expect(new Set(expiry.map((r) => r.port))).toEqual(new Set([25, 465, 587]));
      expect(expiry[0]?.message).toMatch(/expired on/);
      expect(expiry[0]?.fix).toMatch(/acme-mailcow/);
    } finally {
      await lab.postconf([`smtpd_tls_cert_file=${lab.mailCert.cert}`]);
    }
  });

  it("a missing DKIM record (dkim)", async () => {
    try {
      await lab.changeZone("child", (text) =>
        text
          .split("\n")
          .filter((line) => !line.startsWith(`dkim._domainkey.${DOMAIN}.`))
          .join("\n"),
      );
      const failed = caught(await lab.verify(), ["dkim"]);
      expect(failed.find((r) => r.check === "dkim-record")?.message).toMatch(
        /no DKIM record at dkim\._domainkey\.xd-cloud\.de/,
      );
    } finally {
      await lab.restoreZones();
    }
  });

  it("a bad DNSSEC signature (dnssec)", async () => {
    try {
      await lab.breakSignature(DOMAIN, "MX");
      const failed = caught(await lab.verify(), ["dnssec"]);
      const mx = failed.find((r) => r.check === "dnssec-rrset-mx");
      expect(mx?.message).toMatch(/MX xd-cloud\.de does not validate/);
      expect(mx?.message).toMatch(/SERVFAIL/);
      expect(mx?.message).toMatch(/signature by key \d+ does not verify/);
    } finally {
      await lab.restoreSignatures();
    }
  });

  it("a DS at the parent that does not match the zone's key (dnssec)", async () => {
    try {
      await lab.changeZone("parent", (text) =>
        text.replace(
          /( IN DS \d+ 13 2 [0-9A-F]+)([0-9A-F])$/m,
          (_, head: string, last: string) => `${head}${last === "0" ? "1" : "0"}`,
        ),
      );
      const run = await lab.verify();
      expect(run.code).toBe(1);
      const ds = failures(run.report).find((r) => r.category === "dnssec" && r.check === "dnssec-ds");
      expect(ds?.message, show(failures(run.report))).toMatch(/the DS at de .* matches no DNSKEY of xd-cloud\.de/);
      // The fix names the DS the registrar must publish (the stack's).
      expect(ds?.fix).toContain(lab.ds.split(/\s+/).slice(-1)[0] ?? "?");
      // checkdmarc's own chain check agrees.
      expect((await checkdmarc()).dnssec).toBe(false);
      // Validating resolvers now refuse the whole zone: that is reported too, under dnssec.
      expect(failures(run.report).some((r) => r.check === "dnssec-validates" && /SERVFAIL/.test(r.message))).toBe(true);
    } finally {
      await lab.restoreZones();
    }
  });

  it("an MTA-STS id that does not match the policy (mta-sts)", async () => {
    try {
      await lab.changeZone("child", (text) => text.replace(/(v=STSv1; id=)[0-9a-f]+/, "$1" + "0".repeat(32)));
      const failed = caught(await lab.verify(), ["mta-sts"]);
      expect((await checkdmarc()).mta_sts_record.record).toBe(`v=STSv1; id=${"0".repeat(32)}`);
      expect(failed.find((r) => r.check === "mta-sts-txt")?.message).toMatch(
        /announces id 0{32}, the stack's policy has id [0-9a-f]{32}/,
      );
    } finally {
      await lab.restoreZones();
    }
  });

  it("an extra open port (ports)", async () => {
    const open = await lab.openPort();
    const failed = caught(await lab.verify({ overrides: { 3306: open } }), ["ports"]);
    expect(failed.map((r) => [r.check, r.port, r.address]).sort()).toEqual([
      ["port-closed", 3306, IPV4],
      ["port-closed", 3306, IPV6],
    ]);
    expect(failed[0]?.message).toMatch(/3306 \(MySQL\/MariaDB\) answers/);
  });

  it("is clean again once every fault is undone", async () => {
    const again = await lab.verify();
    expect(again.code, show(failures(again.report))).toBe(0);
    expect(again.report.results.length).toBe(clean.report.results.length);
  });
});

describe("scheduled verify", () => {
  it("the bundle runs on its own through the installed wrapper and settings and writes the textfile", async () => {
    // A "verify host": a directory outside the repository (no node_modules), the rendered files.
    const host = mkdtempSync(join(tmpdir(), "mailstack-verify-host-"));
    try {
      // The bundle in the form it travels (packBundle), unpacked as the install script does.
      const bundle = join(host, "mailstack-verify.js");
      writeFileSync(bundle, await runOk("bash", ["-c", "base64 -d | gunzip"], { input: packBundle(verifyBundle()) }));
      const textfiles = join(host, "textfile");
      mkdirSync(textfiles);
      const settings = join(host, "verify.env");
      writeFileSync(
        settings,
        verifySettings(
          {
            sshUser: "root",
            schedule: "hourly",
            textfileDirectory: textfiles,
            resolver: `127.0.0.1:${lab.unbound.port}`,
          },
          { bundle, outputs: lab.outputsFile, trustAnchor: lab.anchorFile },
        ),
      );
      const result = await run(
        "bash",
        [join(root, "render", "scripts", "mailstack-verify.sh"), "--ca", lab.ca.certFile, ...lab.connect()],
        {
          cwd: host,
          env: { ...process.env, MAILSTACK_VERIFY_CONFIG: settings, NODE_PATH: "" },
          timeoutMs: 180_000,
        },
      );
      expect(
        result.status,
        `${result.stderr}\n${result.stdout
          .split("\n")
          .filter((l) => /FAIL|fix:/.test(l))
          .join("\n")}`,
      ).toBe(0);
      expect(result.stdout).toMatch(/^mailstack verify: mail\.xd-cloud\.de: \d+ checks, \d+ pass, 0 warn, 0 fail/);
      const metrics = readFileSync(join(textfiles, PROMETHEUS_FILE_NAME), "utf8");
      expect(metrics).toMatch(/^mailstack_verify_success\{mail_host="mail\.xd-cloud\.de"\} 1$/m);
      expect(metrics).toMatch(
        /^mailstack_verify_check_status\{mail_host="mail\.xd-cloud\.de",category="dane",check="dane-match",.*address="134\.255\.229\.52"\} 0$/m,
      );
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });
});

// ---- independent implementations on the same lab ----------------------------------------------

interface SslyzeScan {
  readonly protocols: string[];
  readonly tls12: string[];
  readonly curves: string[];
  readonly compression: boolean;
  readonly secureRenegotiation: boolean;
  readonly extendedMasterSecret: boolean;
  readonly trusted: boolean;
}

const SSLYZE_PROTOCOLS: Readonly<Record<string, string>> = {
  ssl_2_0_cipher_suites: "SSLv2",
  ssl_3_0_cipher_suites: "SSLv3",
  tls_1_0_cipher_suites: "TLSv1",
  tls_1_1_cipher_suites: "TLSv1.1",
  tls_1_2_cipher_suites: "TLSv1.2",
  tls_1_3_cipher_suites: "TLSv1.3",
};
/** sslyze says secp256r1 where OpenSSL (and verify) say prime256v1. */
const CURVE_NAMES: Readonly<Record<string, string>> = { secp256r1: "prime256v1" };

async function sslyze(port: number, starttls: boolean): Promise<SslyzeScan> {
  const python = requirePythonTool("sslyze");
  const out = join(lab.dir, `sslyze-${port}.json`);
  await runOk(
    python,
    [
      "-m",
      "sslyze",
      `--json_out=${out}`,
      ...(starttls ? ["--starttls=smtp"] : []),
      `--certinfo_ca_file=${lab.ca.certFile}`,
      "--quiet",
      // The scans to compare; naming them also turns off sslyze's own Mozilla verdict (exit 1).
      ...["--certinfo", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3"],
      ...["--compression", "--reneg", "--elliptic_curves", "--ems"],
      `${HOST}:${lab.ports.public[port] ?? 0}{127.0.0.1}`,
    ],
    { timeoutMs: 300_000 },
  );
  interface Suites {
    result: { accepted_cipher_suites: { cipher_suite: { openssl_name: string } }[] };
  }
  const scan = (
    JSON.parse(readFileSync(out, "utf8")) as { server_scan_results: { scan_result: Record<string, unknown> }[] }
  ).server_scan_results[0]?.scan_result;
  if (!scan) throw new Error(`sslyze scanned nothing on ${port}`);
  const suites = (key: string) =>
    (scan[key] as Suites).result.accepted_cipher_suites.map((s) => s.cipher_suite.openssl_name);
  const result = <T>(key: string) => (scan[key] as { result: T }).result;
  const certificate = result<{
    certificate_deployments: {
      path_validation_results: { trust_store: { name: string }; was_validation_successful: boolean }[];
    }[];
  }>("certificate_info");
  return {
    protocols: Object.entries(SSLYZE_PROTOCOLS)
      .filter(([key]) => suites(key).length > 0)
      .map(([, name]) => name),
    tls12: suites("tls_1_2_cipher_suites"),
    curves: result<{ supported_curves: { name: string }[] }>("elliptic_curves").supported_curves.map(
      (c) => CURVE_NAMES[c.name] ?? c.name,
    ),
    compression: result<{ supports_compression: boolean }>("tls_compression").supports_compression,
    secureRenegotiation: result<{ supports_secure_renegotiation: boolean }>("session_renegotiation")
      .supports_secure_renegotiation,
    extendedMasterSecret: result<{ supports_ems_extension: boolean }>("tls_extended_master_secret")
      .supports_ems_extension,
    trusted:
      certificate.certificate_deployments[0]?.path_validation_results.find(
        (p) => p.trust_store.name === "Supplied CA file",
      )?.was_validation_successful ?? false,
  };
}

/** verify's findings on one endpoint over IPv4, in sslyze's terms. */
function verifyView(report: Report, port: number): SslyzeScan {
  const at = (check: string) => report.results.find((r) => r.check === check && r.port === port && r.address === IPV4);
  return {
    protocols: (at("tls-versions")?.details?.accepted as string[] | undefined) ?? [],
    tls12: (at("tls-ciphers")?.details?.accepted as string[] | undefined) ?? [],
    curves: (at("tls-groups")?.details?.accepted as string[] | undefined) ?? [],
    compression: at("tls-compression")?.status !== "pass",
    secureRenegotiation: at("tls-renegotiation")?.status === "pass",
    extendedMasterSecret: at("tls-extended-master-secret")?.status === "pass",
    trusted: at("certificate-chain")?.status === "pass",
  };
}

const sorted = (scan: SslyzeScan) => ({
  ...scan,
  protocols: [...scan.protocols].sort(),
  tls12: [...scan.tls12].sort(),
  curves: [...scan.curves].sort(),
});

interface CheckdmarcView {
  spf: { valid: boolean; record: string };
  dmarc: { valid: boolean; tags: { p: { value: string } } };
  tls_rpt: { valid: boolean; tags: { rua: { value: string[] } } };
  mta_sts_record: { record: string };
  mta_sts_policy: { policy: { mode: string; max_age: number; mx: string[] } };
  dnssec: boolean;
  dnssec_mx: boolean;
  tlsa: string[];
}

async function policyText(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: lab.stsPort,
        path: "/.well-known/mta-sts.txt",
        servername: `mta-sts.${DOMAIN}`,
        headers: { host: `mta-sts.${DOMAIN}` },
        ca: readFileSync(lab.ca.certFile),
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve(body));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function checkdmarc(): Promise<CheckdmarcView> {
  const python = requirePythonTool("checkdmarc");
  const output = await runOk(
    python,
    [join(root, "test", "cross-check", "checkdmarc_probe.py"), DOMAIN, HOST, String(lab.unbound.port)],
    { input: await policyText(), timeoutMs: 120_000 },
  );
  return JSON.parse(output) as CheckdmarcView;
}

describe("independent implementations agree with verify on the same lab", () => {
  it("sslyze sees the same protocols, TLS 1.2 suites, groups, compression, renegotiation, EMS and trust on every port", async () => {
    for (const [port, starttls] of [
      [25, true],
      [587, true],
      [465, false],
      [993, false],
      [995, false],
      [443, false],
    ] as const) {
      const scan = await sslyze(port, starttls);
      expect(sorted(scan), `port ${port}`).toEqual(sorted(verifyView(clean.report, port)));
      expect(scan.protocols, `port ${port}`).toEqual(["TLSv1.2", "TLSv1.3"]);
    }
  });

  it("checkdmarc reads the same SPF, DMARC, TLS-RPT, MTA-STS, DNSSEC and TLSA verdicts", async () => {
    const view = await checkdmarc();
    const served = (check: string) => clean.report.results.find((r) => r.check === check && r.status === "pass");
    expect(view.spf.valid).toBe(true);
    expect(view.spf.record).toBe("v=spf1 ip4:134.255.229.52 ip6:2a05:bec0:27:fd03::4 -all");
    expect(served("spf-record")).toBeDefined();
    expect(view.dmarc.valid).toBe(true);
    expect(served("dmarc-policy")?.message).toBe(`p=${view.dmarc.tags.p.value}`);
    expect(view.tls_rpt.valid).toBe(true);
    expect(served("tls-rpt")?.message).toContain(view.tls_rpt.tags.rua.value.join(", "));
    const id = /id=([0-9a-f]+)/.exec(view.mta_sts_record.record)?.[1];
    expect(served("mta-sts-txt")?.message).toContain(`policy id ${id ?? "?"}`);
    expect(served("mta-sts-policy")?.message).toContain(
      `mode ${view.mta_sts_policy.policy.mode}, max_age ${view.mta_sts_policy.policy.max_age}`,
    );
    expect(view.mta_sts_policy.policy.mx).toEqual([HOST]);
    expect([view.dnssec, view.dnssec_mx]).toEqual([true, true]);
    expect(served("dnssec-ds")).toBeDefined();
    const tlsa = clean.report.results.find((r) => r.check === "dane-match" && r.address === IPV4)?.details?.matching;
    expect(view.tlsa).toEqual(tlsa);
  });
});
