// The mail host's rendered files, checked by the tools that read them: cloud-init's schema,
// shellcheck, bash itself (the installer runs for real in a temp directory), iptables-restore,
// doveconf. Postfix/Dovecot TLS behaviour is proven in tls-lab.test.ts.
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { macAddressFor } from "../render/cloud-init";
import { dockerUserRules, installFilesScript, type HostScript } from "../render/host-scripts";
import { mailcowConfVariables, REDACTED_SECRETS, type MailcowSecrets } from "../render/mailcow";
import { cloudInit, fileInstalls, hostScripts, mailcowUp, type MailcowHostInput } from "../render/mailcow-host";
import { guestHostKeyScript, hostKeyFromOutput } from "../render/proxmox";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-render-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secrets: MailcowSecrets = {
  dbPass: "DbPass0123456789abcdefABCDEF",
  dbRoot: "DbRoot0123456789abcdefABCDEF",
  redisPass: "Redis0123456789abcdefABCDEFG",
  apiKey: "ApiKey0123456789abcdefABCDEF0123456789ab",
  apiKeyReadOnly: "ApiRo0123456789abcdefABCDEF0123456789abc",
  sogoUrlEncryptionKey: "Sogo0123456789ab",
};
const tlsKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ format: "pem", type: "pkcs1" })
  .toString();

const input: MailcowHostInput = {
  hostname: "mail.example.org",
  timezone: "Europe/Berlin",
  tlsMinVersion: "1.2",
  admin: {
    username: "mailops",
    email: "admin@example.org",
    sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSB1f8wkIt2S5RgAv5lXwfhALMeEiVictb/e4JOAnLL ops"],
    networks: ["10.3.0.0/24"],
  },
  deployKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICViTJDwxU3/M06rz0oh3EZcEUKvsiqB+aQUQd25ubW",
  publicPorts: [25, 80, 443, 465, 587, 993, 995],
  network: {
    macAddress: macAddressFor("mail.example.org"),
    interface: "lan0",
    addresses: ["10.3.0.4/24", "fd03::4/64", "2a05:bec0:27:fd03::4/64"],
    gateway4: "10.3.0.1",
    gateway6: "fd03::1",
    resolvers: ["10.3.0.1"],
    searchDomain: "example.org",
  },
  mailcow: {
    version: "2026-07a",
    limits: { "postfix-mailcow": { memoryMiB: 512, cpus: 0.5 } },
    conf: {
      hostname: "mail.example.org",
      timezone: "Europe/Berlin",
      clamav: true,
      sogo: true,
      fullTextSearch: true,
      apiAllowFrom: ["10.3.0.0/24"],
      watchdogEmail: "admin@example.org",
      services: { submission: true, pop3s: true, imap: false, pop3: false, sieve: false },
    },
  },
};

async function shellcheck(script: HostScript): Promise<string> {
  requireTool("shellcheck");
  const result = await run("shellcheck", ["-S", "style", "-s", "bash", "-"], { input: script.content });
  return result.status === 0 ? "" : `${script.name}:\n${result.stdout}`;
}

describe("cloud-init user-data", () => {
  const { userData, networkConfig } = cloudInit(input);

  it("is accepted by `cloud-init schema`", async () => {
    requireTool("cloud-init");
    const file = join(dir, "user-data.yaml");
    writeFileSync(file, userData);
    const output = await runOk("cloud-init", ["schema", "--config-file", file]);
    expect(output).toMatch(/Valid cloud-config/);
  });

  it("holds no secret: no password, API key or private key", () => {
    const all = userData + networkConfig;
    for (const value of Object.values(secrets)) expect(all).not.toContain(value);
    expect(all).not.toMatch(/PRIVATE KEY/);
    const rendered = JSON.stringify(fileInstalls(input, secrets, tlsKeyPem));
    expect(rendered).toContain(Buffer.from(`DBPASS=${secrets.dbPass}`).toString("base64").slice(0, 8)); // the installs do carry them
  });

  it("creates the admin with keys only and sudo, disables passwords and root, and runs every host script", () => {
    const document = parse(userData.replace(/^#cloud-config\n/, "")) as Record<string, unknown>;
    expect(document).toMatchObject({
      ssh_pwauth: false,
      disable_root: true,
      fqdn: "mail.example.org",
      timezone: "Europe/Berlin",
    });
    expect(document.users).toEqual([
      expect.objectContaining({ name: "mailops", lock_passwd: true, sudo: "ALL=(ALL) NOPASSWD:ALL" }),
    ]);
    const runcmd = JSON.stringify(document.runcmd);
    for (const name of ["admin-access", "base-hardening", "firewall", "docker", "crowdsec", "mailcow-fetch"]) {
      expect(runcmd).toContain(`/usr/local/sbin/mailstack-${name}`);
    }
  });

  it("configures the LAN and the public IPv6 on one interface matched by MAC", () => {
    const document = parse(networkConfig) as { version: number; ethernets: Record<string, Record<string, unknown>> };
    expect(document.version).toBe(2);
    expect(document.ethernets.lan0).toMatchObject({
      match: { macaddress: input.network.macAddress },
      addresses: ["10.3.0.4/24", "fd03::4/64", "2a05:bec0:27:fd03::4/64"],
      routes: [
        { to: "0.0.0.0/0", via: "10.3.0.1" },
        { to: "::/0", via: "fd03::1" },
      ],
    });
    expect(input.network.macAddress).toMatch(/^02(:[0-9a-f]{2}){5}$/);
  });
});

describe("host scripts", () => {
  const scripts = [
    ...hostScripts(input),
    ...fileInstalls(input, secrets, tlsKeyPem).map((install) => install.script),
    mailcowUp(input),
    { name: "guest-host-key", content: guestHostKeyScript(104) },
  ];

  it("pass shellcheck", async () => {
    expect((await Promise.all(scripts.map(shellcheck))).filter(Boolean)).toEqual([]);
    expect(scripts.length).toBe(13);
  });

  it("harden sshd: keys only, no root, no keyboard-interactive", () => {
    const admin = scripts.find((s) => s.name === "admin-access")?.content ?? "";
    for (const line of [
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin no",
      "AllowUsers mailops",
    ]) {
      expect(admin).toContain(line);
    }
    expect(admin).toContain(
      `from="10.3.0.0/24",no-agent-forwarding,no-X11-forwarding ${input.deployKey} mailstack-deploy`,
    );
    expect(admin).toMatch(/gpasswd -d mailops docker/);
  });

  it("open only the public ports, SSH only from the admin networks", () => {
    const firewall = scripts.find((s) => s.name === "firewall")?.content ?? "";
    const allowed = [...firewall.matchAll(/ufw allow log proto tcp (?:from (\S+) )?to any port (\d+)/g)].map(
      (m) => `${m[1] ?? "any"}:${m[2]}`,
    );
    expect(allowed).toEqual([
      "any:25",
      "any:80",
      "any:443",
      "any:465",
      "any:587",
      "any:993",
      "any:995",
      "10.3.0.0/24:22",
    ]);
    expect(firewall).toContain("ufw default deny incoming");
  });

  it("give ufw only rules it accepts (ufw --dry-run changes nothing)", async () => {
    requireTool("ufw");
    const firewall = scripts.find((s) => s.name === "firewall")?.content ?? "";
    const rules = firewall.split("\n").filter((line) => /^ufw (allow|limit|deny|default|logging) /.test(line));
    expect(rules.length).toBeGreaterThan(8);
    for (const rule of rules) {
      const dry = await run("bash", ["-c", rule.replace(/^ufw /, "ufw --dry-run ")]);
      expect(dry.status, `${rule}\n${dry.stderr}`).toBe(0);
    }
  });

  it("install Docker only with the pinned signing key and keep its API off TCP", () => {
    const docker = scripts.find((s) => s.name === "docker")?.content ?? "";
    expect(docker).toContain("readonly FINGERPRINT=9DC858229FC7DD38854AE2D88D81803C0EBFCD88");
    expect(docker).toContain("docker-compose-plugin");
    expect(docker).toContain('"max-size": "50m"');
  });
});

describe("DOCKER-USER rules", () => {
  it("load into iptables and ip6tables in a scratch network namespace", async () => {
    requireTool("iptables-restore");
    const rules = dockerUserRules({
      interface: "lan0",
      publicPorts: input.publicPorts,
      adminNetworks: ["10.3.0.0/24"],
    });
    const namespace = `mailstack-render-${process.pid}`;
    await runOk("ip", ["netns", "add", namespace]);
    try {
      for (const tool of ["iptables-restore", "ip6tables-restore"]) {
        await runOk("ip", ["netns", "exec", namespace, tool], { input: rules });
      }
      const listed = await runOk("ip", ["netns", "exec", namespace, "iptables", "-S", "DOCKER-USER"]);
      expect(listed).toContain("-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 25 --ctdir ORIGINAL -j RETURN");
      expect(listed.trim().split("\n").pop()).toBe("-A DOCKER-USER -j DROP");
    } finally {
      await runOk("ip", ["netns", "del", namespace]);
    }
  });
});

describe("mailcow.conf", () => {
  // The variables generate_config.sh writes (mailcow 2026-07a; see the README's mailcow notes).
  const KNOWN = `MAILCOW_HOSTNAME MAILCOW_PASS_SCHEME DBNAME DBUSER DBPASS DBROOT REDISPASS HTTP_PORT HTTP_BIND
    HTTPS_PORT HTTPS_BIND HTTP_REDIRECT SMTP_PORT SMTPS_PORT SUBMISSION_PORT IMAP_PORT IMAPS_PORT POP_PORT POPS_PORT
    SIEVE_PORT DOVEADM_PORT SQL_PORT REDIS_PORT TZ COMPOSE_PROJECT_NAME DOCKER_COMPOSE_VERSION ACL_ANYONE
    MAILDIR_GC_TIME ADDITIONAL_SAN AUTODISCOVER_SAN ADDITIONAL_SERVER_NAMES SKIP_LETS_ENCRYPT ACME_DNS_CHALLENGE
    ACME_DNS_PROVIDER ACME_ACCOUNT_EMAIL ENABLE_SSL_SNI SKIP_IP_CHECK SKIP_HTTP_VERIFICATION SKIP_UNBOUND_HEALTHCHECK
    SKIP_CLAMD SKIP_OLEFY SKIP_SOGO SKIP_FTS FTS_HEAP FTS_PROCS ALLOW_ADMIN_EMAIL_LOGIN USE_WATCHDOG
    WATCHDOG_NOTIFY_EMAIL WATCHDOG_NOTIFY_BAN LOG_LINES IPV4_NETWORK IPV6_NETWORK API_KEY API_KEY_READ_ONLY
    API_ALLOW_FROM MAILDIR_SUB SOGO_EXPIRE_SESSION SOGO_URL_ENCRYPTION_KEY DOVECOT_MASTER_USER DOVECOT_MASTER_PASS
    WEBAUTHN_ONLY_TRUSTED_VENDORS SPAMHAUS_DQS_KEY ENABLE_IPV6 DISABLE_NETFILTER_ISOLATION_RULE`.split(/\s+/);
  const conf = fileInstalls(input, secrets, tlsKeyPem).find((i) => i.name === "mailcow-conf")?.files[0]?.content ?? "";
  const variables = new Map(
    conf
      .split("\n")
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );

  it("holds exactly the known variables, none of the guide's invented ones", () => {
    expect([...variables.keys()].sort()).toEqual([...KNOWN].sort());
    for (const invented of [
      "USE_SSL",
      "ACME_DOMAIN",
      "ACME_MAIL",
      "SSL_TYPE",
      "IPV4_ADDRESS",
      "IPV6_ADDRESS",
      "USE_IPV6",
    ]) {
      expect(variables.has(invented)).toBe(false);
    }
  });

  it("sets the values the stack relies on", () => {
    expect(Object.fromEntries(variables)).toMatchObject({
      MAILCOW_HOSTNAME: "mail.example.org",
      DOCKER_COMPOSE_VERSION: "native",
      ENABLE_IPV6: "true",
      API_KEY: secrets.apiKey,
      API_ALLOW_FROM: "10.3.0.0/24",
      SKIP_LETS_ENCRYPT: "n",
      SKIP_CLAMD: "n",
      DBPASS: secrets.dbPass,
      TZ: "Europe/Berlin",
    });
  });

  it("keeps the ports of services not offered on loopback", () => {
    expect(Object.fromEntries(variables)).toMatchObject({
      IMAP_PORT: "127.0.0.1:143",
      POP_PORT: "127.0.0.1:110",
      SIEVE_PORT: "127.0.0.1:4190",
      SUBMISSION_PORT: "587",
      POPS_PORT: "995",
    });
  });

  it("refuses a value that would break the file", () => {
    expect(() => mailcowConfVariables(input.mailcow.conf, REDACTED_SECRETS)).not.toThrow();
    const bad = { ...secrets, dbPass: "with space" };
    expect(() => fileInstalls(input, bad, tlsKeyPem)).toThrow(/DBPASS cannot be written safely/);
  });
});

describe("the file installer (run for real in a temp directory)", () => {
  const root = join(dir, "mailcow");
  const bin = join(dir, "bin");
  const calls = join(dir, "docker-calls");
  mkdirSync(bin, { recursive: true });
  // A docker stand-in: `compose ps -q` says mailcow runs, every call is recorded.
  writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$2" = ps ]; then echo 0123abcd; fi\n`);
  chmodSync(join(bin, "docker"), 0o755);

  async function install(content: string, restart = ["postfix-mailcow"]): Promise<{ stdout: string; calls: string[] }> {
    writeFileSync(calls, "");
    const script = installFilesScript(
      "postfix-tls",
      [{ path: `${root}/data/conf/postfix/extra.cf`, mode: "0644", content }],
      {
        root,
        onChange: { restart },
      },
    );
    const stdout = await runOk("bash", ["-s"], {
      input: script.content,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
    });
    return { stdout, calls: readFileSync(calls, "utf8").split("\n").filter(Boolean) };
  }

  it("writes the file with its mode and restarts only the affected container", async () => {
    const first = await install("a = 1\n");
    expect(first.stdout).toContain(`changed ${root}/data/conf/postfix/extra.cf`);
    expect(readFileSync(`${root}/data/conf/postfix/extra.cf`, "utf8")).toBe("a = 1\n");
    expect(statSync(`${root}/data/conf/postfix/extra.cf`).mode & 0o777).toBe(0o644);
    expect(first.calls).toEqual(["compose ps -q", "compose restart postfix-mailcow"]);
  });

  it("changes nothing and restarts nothing when run again with the same content", async () => {
    await install("a = 2\n");
    const again = await install("a = 2\n");
    expect(again.stdout).not.toContain("changed");
    expect(again.calls).toEqual([]);
  });

  it("keeps a self-signed certificate matching the seeded key until ACME replaces it", async () => {
    requireTool("openssl");
    const tlsScript = fileInstalls({ ...input, hostname: "mail.example.org" }, secrets, tlsKeyPem).find(
      (i) => i.name === "tls-key",
    );
    const script = (tlsScript?.script.content ?? "").replaceAll("/opt/mailcow-dockerized", root);
    const runInstall = () =>
      runOk("bash", ["-s"], { input: script, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } });
    const first = await runInstall();
    expect(first).toContain(`changed ${root}/data/assets/ssl/acme/key.pem`);
    expect(first).toContain(`changed ${root}/data/assets/ssl/cert.pem`);
    const certKey = await runOk("openssl", ["x509", "-in", `${root}/data/assets/ssl/cert.pem`, "-noout", "-pubkey"]);
    const key = await runOk("openssl", ["pkey", "-in", `${root}/data/assets/ssl/acme/key.pem`, "-pubout"]);
    expect(certKey).toBe(key);
    expect(statSync(`${root}/data/assets/ssl/acme/key.pem`).mode & 0o777).toBe(0o600);
    expect(await runInstall()).not.toContain("changed");
  });

  it("refuses paths outside the mailcow directory", () => {
    expect(() =>
      installFilesScript("x", [{ path: "/etc/passwd", mode: "0644", content: "" }], { root, onChange: "up" }),
    ).toThrow(/outside/);
    expect(() =>
      installFilesScript("x", [{ path: `${root}/../x`, mode: "0644", content: "" }], { root, onChange: "up" }),
    ).toThrow(/outside/);
  });
});

describe("the VM's host key through the guest agent", () => {
  it("takes the key line from the node's output", () => {
    expect(hostKeyFromOutput("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICViTJD root@mail\n")).toBe(
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICViTJD",
    );
    expect(() => hostKeyFromOutput("error: VM 104 not running")).toThrow(/did not return an SSH host key/);
  });
});
