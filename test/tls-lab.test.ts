// mailcow's TLS overrides proven on real servers: a Postfix on loopback with the rendered
// extra.cf/openssl.cnf and a certificate on the stack's TLS key, a Dovecot IMAPS listener with the
// rendered extra.conf, openssl s_client as a client that can still speak old protocols (checked
// against a permissive openssl s_server first, so a refusal means the server refused), and
// testssl.sh for the internet.nl criteria. All servers are shared by this file.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dovecotExtraConf, GROUPS, postfixExtraCf, postfixOpensslCnf } from "../render/mailcow";
import {
  Daemon,
  freePort,
  postconfArguments,
  selfSignedCertificate,
  startDovecot,
  startPostfix,
  tcpOpen,
  waitFor,
} from "./lab";
import { planWithKeys } from "./plans";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

/** Parameters of Postfix releases newer than the lab's (3.8+); mailcow's Postfix may be one. */
const NEWER_POSTFIX = ["tls_ffdhe_auto_groups"];
let postfixDefaults = new Set<string>();
/** Leaves out only the newer release's parameters this Postfix lacks (it would warn and ignore them). */
const knownToThisPostfix = (setting: string) => {
  const name = setting.split("=")[0] ?? "";
  return postfixDefaults.has(name) || !NEWER_POSTFIX.includes(name);
};

/**
 * testssl.sh (Debian's 3.0.8, /usr/bin/testssl) on a loaded machine. Its socket checks wait at most
 * MAX_WAITSOCK (10 s) for a ServerHello and STARTTLS_SLEEP (10 s) per line of the SMTP dialog
 * (sockread_serverhello, starttls_full_read), and take no answer in time as "not offered": both
 * are raised, which costs nothing while the answers come fast (wait_kill returns when they do).
 * Its openssl calls have no timeout at all while OPENSSL_TIMEOUT and CONNECT_TIMEOUT
 * (--openssl-timeout, --connect-timeout) are unset, as here: setting them could only add failures.
 */
const TESTSSL_WAITS = { MAX_WAITSOCK: "60", STARTTLS_SLEEP: "60" };
const TESTSSL_KILL_MS = 900_000;

/**
 * The one check of testssl 3.0.8 that fails by a race of its client, not by the server, under load.
 * sub_session_resumption runs `openssl s_client -sess_out FILE </dev/null`, then connects again
 * with `-sess_in FILE`. With TLS 1.3 the server sends its session ticket after the handshake, and
 * s_client, at end of input, often shuts the connection down before the ticket arrives (12 of 30
 * tries against a local `openssl s_server` here; the busier the machine, the likelier): FILE stays
 * empty, the second s_client cannot read it and exits without a certificate, and testssl reports a
 * "connect problem" (sessionresumption_ticket or _ID, WARN) and counts it in its exit code
 * (run_server_defaults `((ret++))`, exit $RET). testssl itself noticed the empty file for
 * resumption by ID (testssl.sh issue 948) but not for tickets. No assertion below is about
 * resumption: exactly this finding is tolerated, and logged; any other failed check fails the test.
 */
const isResumptionRace = (entry: { id: string; severity: string; finding: string }) =>
  /^sessionresumption_(ticket|ID)$/.test(entry.id) &&
  entry.severity === "WARN" &&
  entry.finding === "check failed because of connect problem";

const HOST = "mail.xd-cloud.de";
const dir = mkdtempSync(join(tmpdir(), "mailstack-tls-lab-"));
const daemons: Daemon[] = [];
let stopPostfix = (): Promise<void> => Promise.resolve();
let smtpPort = 0;
let imapsPort = 0;
let permissivePort = 0;

/** openssl s_client that may offer anything (no system policy, security level 0). */
async function handshake(
  port: number,
  args: readonly string[],
  starttls = true,
): Promise<{ ok: boolean; protocol: string; cipher: string; output: string }> {
  requireTool("openssl");
  const result = await run(
    "openssl",
    [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      ...(starttls ? ["-starttls", "smtp"] : []),
      "-servername",
      HOST,
      "-cipher",
      "DEFAULT:@SECLEVEL=0",
      ...args,
    ],
    { input: "", timeoutMs: 20_000, env: { ...process.env, OPENSSL_CONF: "/dev/null" } },
  );
  const output = `${result.stdout}\n${result.stderr}`;
  const match = /New, (TLSv[\d.]+|\(NONE\)), Cipher is (\S+)/.exec(output);
  const protocol = match?.[1] ?? "(NONE)";
  return { ok: protocol !== "(NONE)", protocol, cipher: match?.[2] ?? "(NONE)", output };
}

beforeAll(async () => {
  postfixDefaults = new Set((await runOk("postconf", ["-d"])).split("\n").map((line) => line.split(" = ")[0] ?? ""));
  // A certificate on the stack's TLS key (as the bring-up seeds it before ACME replaces it).
  const { keys } = await planWithKeys();
  const certificate = await selfSignedCertificate(
    dir,
    "stack",
    String(keys.get("mail-tls-key-a")?.privateKeyPem),
    HOST,
  );
  const keyFile = certificate.keyFile;
  writeFileSync(join(dir, "cert.pem"), certificate.pem);

  // Postfix with the rendered settings; openssl.cnf at a test path instead of the container's.
  writeFileSync(join(dir, "openssl.cnf"), postfixOpensslCnf("1.2"));
  smtpPort = await freePort();
  const postfix = await startPostfix(dir, smtpPort, [
    `myhostname=${HOST}`,
    `smtpd_tls_cert_file=${join(dir, "cert.pem")}`,
    `smtpd_tls_key_file=${keyFile}`,
    "smtpd_tls_security_level=may",
    ...postconfArguments(
      postfixExtraCf({ hostname: HOST, minVersion: "1.2", opensslConfig: join(dir, "openssl.cnf") }),
    ).filter(knownToThisPostfix),
  ]);
  stopPostfix = postfix.stop;

  // Dovecot IMAPS with the rendered extra.conf.
  imapsPort = await freePort();
  daemons.push(
    await startDovecot(dir, {
      cert: join(dir, "cert.pem"),
      key: keyFile,
      extraConf: dovecotExtraConf("1.2"),
      imaps: imapsPort,
    }),
  );

  // A permissive server: proves the client can still speak TLS 1.1 and sign with SHA-1.
  permissivePort = await freePort();
  daemons.push(
    Daemon.start(
      "permissive",
      "openssl",
      [
        "s_server",
        "-accept",
        `127.0.0.1:${permissivePort}`,
        "-cert",
        join(dir, "cert.pem"),
        "-key",
        keyFile,
        "-cipher",
        "DEFAULT:@SECLEVEL=0",
        "-www",
      ],
      dir,
      { OPENSSL_CONF: "/dev/null" },
    ),
  );
  await waitFor(`a listener on ${permissivePort}`, () => tcpOpen(permissivePort));
});

afterAll(async () => {
  await stopPostfix();
  await Promise.all(daemons.map((daemon) => daemon.stop()));
  if (!process.env.KEEP_LAB) rmSync(dir, { recursive: true, force: true });
});

describe("the test client", () => {
  it("can negotiate TLS 1.1 and SHA-1 signatures with a permissive server (so refusals below are the server's)", async () => {
    expect(await handshake(permissivePort, ["-tls1_1"], false)).toMatchObject({ ok: true });
    const sha1 = await handshake(permissivePort, ["-tls1_2", "-sigalgs", "RSA+SHA1"], false);
    expect(sha1.ok).toBe(true);
    expect(sha1.output).toMatch(/Peer signing digest: SHA1/);
  });
});

describe("Postfix with the rendered extra.cf and openssl.cnf", () => {
  it("sets parameters this Postfix knows, except those of newer releases mailcow's may have", () => {
    const unknown = postconfArguments(postfixExtraCf({ hostname: HOST, minVersion: "1.2" })).filter(
      (setting) => !knownToThisPostfix(setting),
    );
    expect(unknown.map((setting) => setting.split("=")[0])).toEqual(
      NEWER_POSTFIX.filter((name) => !postfixDefaults.has(name)),
    );
  });

  it("refuses TLS 1.0 and 1.1", async () => {
    for (const version of ["-tls1", "-tls1_1"]) {
      const result = await handshake(smtpPort, [version]);
      expect(result.ok, result.output).toBe(false);
      expect(result.output).toMatch(/protocol version|unsupported protocol|no protocols available|alert/i);
    }
  });

  it("offers TLS 1.3 and TLS 1.2 with ECDHE and AEAD only", async () => {
    expect(await handshake(smtpPort, ["-tls1_3"])).toMatchObject({ ok: true, protocol: "TLSv1.3" });
    for (const cipher of [
      "ECDHE-RSA-AES256-GCM-SHA384",
      "ECDHE-RSA-CHACHA20-POLY1305",
      "ECDHE-RSA-AES128-GCM-SHA256",
    ]) {
      expect(await handshake(smtpPort, ["-tls1_2", "-cipher", `${cipher}:@SECLEVEL=0`])).toMatchObject({
        ok: true,
        cipher,
      });
    }
    for (const cipher of [
      "DHE-RSA-AES256-GCM-SHA384",
      "AES256-GCM-SHA384",
      "ECDHE-RSA-AES256-SHA384",
      "ECDHE-RSA-AES128-SHA",
      "AES128-SHA",
    ]) {
      const result = await handshake(smtpPort, ["-tls1_2", "-cipher", `${cipher}:@SECLEVEL=0`]);
      expect(result.ok, `${cipher} was accepted`).toBe(false);
    }
  });

  it("enforces its own cipher order", async () => {
    const result = await handshake(smtpPort, [
      "-tls1_2",
      "-cipher",
      "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0",
    ]);
    expect(result.cipher).toBe("ECDHE-RSA-AES256-GCM-SHA384");
  });

  it("refuses a client that offers only SHA-1 signature algorithms", async () => {
    const result = await handshake(smtpPort, ["-tls1_2", "-sigalgs", "RSA+SHA1:ECDSA+SHA1"]);
    expect(result.ok, result.output).toBe(false);
  });

  it(
    "passes testssl: no SSL/TLS < 1.2, no DHE, no CBC, no compression, server order, extended master secret",
    {
      timeout: TESTSSL_KILL_MS + 60_000,
    },
    async () => {
      requireTool("testssl");
      const json = join(dir, "testssl.json");
      const result = await run(
        "testssl",
        [
          "--quiet",
          "--color",
          "0",
          "--warnings",
          "batch",
          "--starttls",
          "smtp",
          "--jsonfile",
          json,
          "-p",
          "-P",
          "-s",
          "-f",
          "-E",
          "-S",
          "-C",
          `127.0.0.1:${smtpPort}`,
        ],
        { timeoutMs: TESTSSL_KILL_MS, env: { ...process.env, ...TESTSSL_WAITS } },
      );
      const report = (): string =>
        `testssl exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`;
      if (!existsSync(json)) throw new Error(report());
      const entries = JSON.parse(readFileSync(json, "utf8")) as { id: string; severity: string; finding: string }[];
      // The exit code counts the checks that failed to run; only the resumption race may be among them.
      const raced = entries.filter(isResumptionRace);
      if (result.status !== raced.length) throw new Error(report());
      for (const entry of raced) {
        console.warn(`testssl: ${entry.id}: ${entry.finding} (openssl s_client closed before the TLS 1.3 ticket came)`);
      }
      const findings = new Map(entries.map((f) => [f.id, f.finding]));
      for (const id of ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]) expect(findings.get(id), id).toBe("not offered");
      expect(findings.get("TLS1_2")).toBe("offered");
      expect(findings.get("TLS1_3")).toMatch(/^offered/);
      const ciphers = [...findings]
        .filter(([id]) => id.startsWith("cipher-tls1_2_"))
        .map(([, finding]) => finding.split(/\s+/)[3] ?? "");
      expect(ciphers.length).toBeGreaterThan(0);
      for (const cipher of ciphers) {
        expect(cipher).toMatch(/^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
      }
      expect(findings.get("cipher_order")).toMatch(/server/);
      expect(findings.get("CRIME_TLS")).toMatch(/not vulnerable/);
      expect(findings.get("TLS_extensions")).toMatch(/extended master secret/);
      // Exactly the groups internet.nl rates good, no finite-field DH.
      expect(new Set(findings.get("PFS_ECDHE_curves")?.split(/\s+/))).toEqual(new Set(GROUPS.split(":")));
    },
  );
});

describe("Dovecot with the rendered extra.conf", () => {
  it("passes doveconf", async () => {
    requireTool("doveconf");
    const config = join(dir, "dovecot.conf");
    expect(await runOk("doveconf", ["-n", "-c", config])).toMatch(/ssl_prefer_server_ciphers = yes/);
    const value = async (key: string) => (await runOk("doveconf", ["-c", config, "-h", key])).trim();
    expect(await value("ssl_min_protocol")).toBe("TLSv1.2");
    for (const cipher of (await value("ssl_cipher_list")).split(":")) {
      expect(cipher).toMatch(/^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    }
    expect(await value("ssl_curve_list")).toBe("X25519:prime256v1:secp384r1");
  });

  it("serves IMAPS with TLS 1.2+ ECDHE/AEAD and refuses TLS 1.1", async () => {
    expect((await handshake(imapsPort, ["-tls1_1"], false)).ok).toBe(false);
    const modern = await handshake(imapsPort, ["-tls1_2"], false);
    expect(modern).toMatchObject({ ok: true, protocol: "TLSv1.2" });
    expect(modern.cipher).toMatch(/^ECDHE-RSA-(AES256-GCM-SHA384|CHACHA20-POLY1305|AES128-GCM-SHA256)$/);
    expect(
      (await handshake(imapsPort, ["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0"], false)).ok,
    ).toBe(false);
  });
});
