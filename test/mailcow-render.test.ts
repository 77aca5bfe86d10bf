// The mail host's rendered files, checked by the tools that read them: cloud-init's schema,
// shellcheck, bash itself (the installer runs for real in a temp directory), iptables-restore,
// doveconf. Postfix/Dovecot TLS behaviour is proven in tls-lab.test.ts.
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { dockerUserRules, HTTPS_PUBLIC_MARKER } from "../render/host-files";
import { httpsPublicScript, installAndRun, installFilesScript, type HostScript } from "../render/host-scripts";
import { mailcowConfVariables, REDACTED_SECRETS } from "../render/mailcow";
import { bringUp, cloudInit, hostScripts } from "../render/mailcow-host";
import { guestHostKeyScript, hostKeyFromOutput } from "../render/proxmox";
import { run, runOk } from "./support/exec";
import { decoded, setting } from "./support/scripts";
import { MAIL_HOST_SECRETS, mailHostInput } from "./fixtures";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-render-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secrets = MAIL_HOST_SECRETS;
const tlsKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ format: "pem", type: "pkcs1" })
  .toString();

const input = mailHostInput();
const steps = bringUp(input, secrets, tlsKeyPem);
const step = (name: string) => steps.find((s) => s.name === name);

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
    // The bring-up's secret steps do carry them (they travel as secrets on SSH stdin).
    expect(JSON.stringify(step("mailcow-conf"))).toContain(secrets.dbPass);
    expect(steps.filter((s) => s.secret).map((s) => s.name)).toEqual(["admin-password", "tls-key", "mailcow-conf"]);
  });

  it("creates the admin and the deploy user with keys only, no sudo rule of its own, disables passwords and root, and runs every host script", () => {
    const document = parse(userData.replace(/^#cloud-config\n/, "")) as Record<string, unknown>;
    expect(document).toMatchObject({
      ssh_pwauth: false,
      disable_root: true,
      fqdn: "mail.example.org",
      timezone: "Europe/Berlin",
    });
    expect(document.users).toEqual([
      expect.objectContaining({ name: "mailops", lock_passwd: true, ssh_authorized_keys: input.admin.sshKeys }),
      expect.objectContaining({ name: "mailstack-deploy", lock_passwd: true }),
    ]);
    const runcmd = JSON.stringify(document.runcmd);
    for (const name of ["admin-access", "base-hardening", "firewall", "docker", "crowdsec", "mailcow-release"]) {
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
  const scripts: HostScript[] = [
    ...steps.map((s) => s.script),
    ...steps
      .filter((s) => !s.secret)
      .map((s) => ({ name: `install-${s.name}`, content: installAndRun(s.script), files: [] })),
    httpsPublicScript(),
    { name: "guest-host-key", content: guestHostKeyScript(104), files: [] },
  ];

  const BRING_UP_ORDER = [
    "admin-access",
    "admin-password",
    "base-hardening",
    "network",
    "firewall",
    "docker",
    "logging",
    "crowdsec",
    "mailcow-release",
    "tls-key",
    "mailcow-conf",
    "postfix-tls",
    "dovecot-tls",
    "autoconfig",
    "compose-override",
    "updates",
    "incident-report",
    "mailcow-up",
    "monitoring",
  ];

  it("are the bring-up's steps in order, the first boot's host scripts among them", () => {
    expect(steps.map((s) => s.name)).toEqual(BRING_UP_ORDER);
    // Only the admin's password, the TLS key and mailcow.conf hold secrets: they travel as secrets, their output unlogged.
    expect(steps.filter((s) => s.secret).map((s) => s.name)).toEqual(["admin-password", "tls-key", "mailcow-conf"]);
    const firstBoot = hostScripts(input).map((s) => s.name);
    expect(firstBoot).toEqual([
      "admin-access",
      "base-hardening",
      "firewall",
      "docker",
      "logging",
      "crowdsec",
      "mailcow-release",
    ]);
    for (const name of firstBoot)
      expect(step(name)?.script.content).toBe(hostScripts(input).find((s) => s.name === name)?.content);
  });

  it("pass shellcheck", async () => {
    expect((await Promise.all(scripts.map(shellcheck))).filter(Boolean)).toEqual([]);
  });

  it("install themselves where the host can run them again, carrying any content safely", async () => {
    const content = "#!/bin/bash\necho 'it'\\''s' EOF\nexit 0\nEOF\n";
    const wrapped = installAndRun({ name: "firewall", content, files: [] });
    expect(setting(wrapped, "SCRIPT_PATH")).toBe("/usr/local/sbin/mailstack-firewall");
    expect(decoded(wrapped, "SCRIPT_B64")).toBe(content);
    // Run for real with the path moved into a temp directory: installed 0700, then run.
    const target = join(dir, "sbin", "mailstack-firewall");
    const moved = wrapped.replace(/^readonly SCRIPT_PATH=.*$/m, `readonly SCRIPT_PATH='${target}'`);
    expect(await runOk("bash", ["-s"], { input: moved })).toBe("it's EOF\n");
    expect(readFileSync(target, "utf8")).toBe(content);
    expect(statSync(target).mode & 0o777).toBe(0o700);
  });

  it("harden sshd: keys only, no root, no keyboard-interactive", () => {
    const admin = step("admin-access")?.script;
    const file = (path: string) => admin?.files.find((f) => f.path === path)?.content ?? "";
    const sshd = file("/etc/ssh/sshd_config.d/10-mailstack.conf");
    for (const line of [
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin no",
      "AllowUsers mailops mailstack-deploy",
    ]) {
      expect(sshd).toContain(line);
    }
    expect(decoded(admin?.content ?? "", "SSHD_CONFIG_B64")).toBe(sshd);
    expect(file("/home/mailops/.ssh/authorized_keys")).not.toContain(input.deployKey);
    expect(file("/home/mailstack-deploy/.ssh/authorized_keys")).toBe(
      `restrict,from="10.3.0.0/24" ${input.deployKey} mailstack-deploy\n`,
    );
    expect(setting(admin?.content ?? "", "ADMIN_USER")).toBe("mailops");
    // Neither user stays in the docker group (root-equivalent).
    expect(admin?.content).toContain('gpasswd -d "$name" docker');
    expect(admin?.content).toMatch(/^user "\$ADMIN_USER" "\$AUTHORIZED_KEYS_B64"$/m);
    expect(admin?.content).toMatch(/^user "\$DEPLOY_USER" "\$DEPLOY_KEYS_B64"$/m);
  });

  it("open only the public ports, SSH only from the admin networks, the exporters only from the scrape networks", () => {
    const firewall = scripts.find((s) => s.name === "firewall")?.content ?? "";
    const allowed = [
      ...decoded(firewall, "UFW_RULES_B64").matchAll(
        /^ufw allow log (?:(\d+)\/tcp|from (\S+) to any port (\d+) proto tcp) /gm,
      ),
    ].map((m) => (m[1] ? `any:${m[1]}` : `${m[2]}:${m[3]}`));
    expect(allowed).toEqual([
      "any:25",
      "any:80",
      "any:443",
      "any:465",
      "any:587",
      "any:993",
      "any:995",
      "10.3.0.0/24:22",
      "10.3.5.0/24:9100",
      "10.3.5.0/24:9154",
      "10.3.5.0/24:9115",
    ]);
    expect(firewall).toContain("ufw default deny incoming");
    expect(firewall).not.toMatch(/ufw (--force )?reset|ufw reload|ufw disable/);
  });

  it("give ufw only rules it accepts (ufw --dry-run changes nothing)", async () => {
    requireTool("ufw");
    const firewall = scripts.find((s) => s.name === "firewall")?.content ?? "";
    // The defaults run only when they differ ("if …; then ufw default …; fi"); the rules come from the payload.
    const defaults = [...firewall.matchAll(/then (ufw (?:default|logging) [a-z ]+);/g)].map((m) => m[1] ?? "");
    const rules = decoded(firewall, "UFW_RULES_B64")
      .split("\n")
      .filter((line) => /^ufw (allow|limit|deny) /.test(line));
    expect(defaults).toEqual([
      "ufw default deny incoming",
      "ufw default allow outgoing",
      "ufw default deny routed",
      "ufw logging low",
    ]);
    expect(rules).toHaveLength(11);
    for (const rule of [...defaults, ...rules]) {
      const dry = await run("bash", ["-c", rule.replace(/^ufw /, "ufw --dry-run ")]);
      expect(dry.status, `${rule}\n${dry.stderr}`).toBe(0);
    }
  });

  it("accept a signing-key file only when it holds exactly the pinned key (only_key, real gpg)", async () => {
    requireTool("gpg");
    const home = mkdtempSync(join(tmpdir(), "mailstack-gpg-"));
    try {
      const gpg = (...args: string[]) => runOk("gpg", ["--homedir", home, "--batch", ...args]);
      const keyOf = async (uid: string) => {
        await gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never");
        const listed = await gpg("--with-colons", "--list-keys", uid);
        const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listed)?.[1] ?? "";
        const file = join(home, `${fpr}.asc`);
        writeFileSync(file, await gpg("--armor", "--export", fpr));
        return { fpr, file };
      };
      const pinned = await keyOf("Pinned <pinned@example.org>");
      const other = await keyOf("Other <other@example.org>");
      const both = join(home, "both.asc");
      writeFileSync(both, readFileSync(pinned.file, "utf8") + readFileSync(other.file, "utf8"));
      const onlyKey = (file: string) =>
        run("bash", ["-c", `source render/scripts/lib/host.sh; only_key "$1" "$2"`, "only_key", file, pinned.fpr], {
          env: { ...process.env, GNUPGHOME: home },
        });
      expect((await onlyKey(pinned.file)).status).toBe(0);
      const appended = await onlyKey(both);
      expect(appended.status).toBe(1);
      expect(appended.stderr).toContain(`not exactly the pinned ${pinned.fpr}`);
      expect((await onlyKey(other.file)).status).toBe(1);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("install Docker only with the pinned signing key and keep its API off TCP", () => {
    const docker = step("docker")?.script;
    expect(setting(docker?.content ?? "", "DOCKER_KEY_FINGERPRINT")).toBe("9DC858229FC7DD38854AE2D88D81803C0EBFCD88");
    expect(docker?.content).toContain('only_key "$tmp/docker.asc" "$DOCKER_KEY_FINGERPRINT" || exit 1');
    expect(docker?.content).toContain("docker-compose-plugin");
    // Container logs go to the bounded journal; Docker's own copy is a bounded cache (render/logging.ts).
    const daemonJson = docker?.files.find((f) => f.path === "/etc/docker/daemon.json")?.content;
    expect(daemonJson).toContain('"log-driver": "journald"');
    expect(daemonJson).toContain('"cache-max-size": "20m"');
  });
});

describe("DOCKER-USER rules", () => {
  const firewallInput = {
    interface: "lan0",
    publicPorts: input.publicPorts,
    adminNetworks: ["10.3.0.0/24"],
    httpsEarlySources: ["10.3.0.0/24", "fd03::/64"],
  };

  it("load into iptables and ip6tables in a scratch network namespace, before and after 443 opens", async () => {
    requireTool("iptables-restore");
    const namespace = `mailstack-render-${process.pid}`;
    await runOk("ip", ["netns", "add", namespace]);
    try {
      const listed = async (tool: "iptables" | "ip6tables", rules: string) => {
        await runOk("ip", ["netns", "exec", namespace, `${tool}-restore`], { input: rules });
        return runOk("ip", ["netns", "exec", namespace, tool, "-S", "DOCKER-USER"]);
      };
      const open = await listed("iptables", dockerUserRules(firewallInput, true, 4));
      expect(open).toContain("-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 25 --ctdir ORIGINAL -j RETURN");
      expect(open).toContain("-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN");
      expect(open.trim().split("\n").pop()).toBe("-A DOCKER-USER -j DROP");
      // Before the admin account is the stack's, 443 answers the admin and API networks only.
      const early4 = await listed("iptables", dockerUserRules(firewallInput, false, 4));
      expect(early4).toContain(
        "-A DOCKER-USER -s 10.3.0.0/24 -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
      );
      expect(early4).not.toMatch(/^-A DOCKER-USER -p tcp .*ctorigdstport 443 /m);
      expect(early4).toContain("--ctorigdstport 80 --ctdir ORIGINAL -j RETURN"); // ACME HTTP-01 stays open
      const early6 = await listed("ip6tables", dockerUserRules(firewallInput, false, 6));
      expect(early6).toContain(
        "-A DOCKER-USER -s fd03::/64 -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
      );
      expect(early6).not.toContain("10.3.0.0/24");
    } finally {
      await runOk("ip", ["netns", "del", namespace]);
    }
  });

  it("choose the 443 rules by the marker the stack writes once the admin account is secured", () => {
    const firewall = step("firewall")?.script.content ?? "";
    expect(setting(firewall, "HTTPS_PUBLIC_MARKER")).toBe(HTTPS_PUBLIC_MARKER);
    expect(firewall).toContain('if [ -f "$HTTPS_PUBLIC_MARKER" ]; then');
    const https = httpsPublicScript().content;
    expect(setting(https, "HTTPS_PUBLIC_MARKER")).toBe(HTTPS_PUBLIC_MARKER);
    expect(https).toContain('install -D -m 0644 /dev/null "$HTTPS_PUBLIC_MARKER"');
    expect(setting(https, "FIREWALL_SCRIPT")).toBe("/usr/local/sbin/mailstack-firewall");
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
    WATCHDOG_NOTIFY_EMAIL WATCHDOG_NOTIFY_BAN WATCHDOG_NOTIFY_START WATCHDOG_EXTERNAL_CHECKS WATCHDOG_VERBOSE
    LOG_LINES IPV4_NETWORK IPV6_NETWORK API_KEY API_KEY_READ_ONLY
    API_ALLOW_FROM MAILDIR_SUB SOGO_EXPIRE_SESSION SOGO_URL_ENCRYPTION_KEY DOVECOT_MASTER_USER DOVECOT_MASTER_PASS
    WEBAUTHN_ONLY_TRUSTED_VENDORS SPAMHAUS_DQS_KEY ENABLE_IPV6 DISABLE_NETFILTER_ISOLATION_RULE`.split(/\s+/);
  const conf = step("mailcow-conf")?.files[0]?.content ?? "";
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
    expect(() => bringUp(input, bad, tlsKeyPem)).toThrow(/DBPASS cannot be written safely/);
  });

  it("holds every option mailcow's update.sh would add, so an upgrade adds nothing and the stack's file wins", () => {
    // CONFIG_ARRAY of mailcow-dockerized 2026-07a _modules/scripts/new_options.sh:8-63; it skips a key
    // when `^#?KEY=` matches.
    const UPDATE_SH_OPTIONS = `AUTODISCOVER_SAN SKIP_LETS_ENCRYPT SKIP_SOGO USE_WATCHDOG WATCHDOG_NOTIFY_EMAIL
      WATCHDOG_NOTIFY_WEBHOOK WATCHDOG_NOTIFY_WEBHOOK_BODY WATCHDOG_NOTIFY_BAN WATCHDOG_NOTIFY_START
      WATCHDOG_EXTERNAL_CHECKS WATCHDOG_SUBJECT SKIP_CLAMD SKIP_OLEFY SKIP_IP_CHECK ADDITIONAL_SAN DOVEADM_PORT
      IPV4_NETWORK IPV6_NETWORK LOG_LINES SNAT_TO_SOURCE SNAT6_TO_SOURCE COMPOSE_PROJECT_NAME DOCKER_COMPOSE_VERSION
      SQL_PORT API_KEY API_KEY_READ_ONLY API_ALLOW_FROM MAILDIR_GC_TIME MAILDIR_SUB ACL_ANYONE FTS_HEAP FTS_PROCS
      SKIP_FTS ENABLE_SSL_SNI ALLOW_ADMIN_EMAIL_LOGIN SKIP_HTTP_VERIFICATION SOGO_EXPIRE_SESSION
      SOGO_URL_ENCRYPTION_KEY REDIS_PORT REDISPASS DOVECOT_MASTER_USER DOVECOT_MASTER_PASS MAILCOW_PASS_SCHEME
      ADDITIONAL_SERVER_NAMES WATCHDOG_VERBOSE WEBAUTHN_ONLY_TRUSTED_VENDORS SPAMHAUS_DQS_KEY
      SKIP_UNBOUND_HEALTHCHECK DISABLE_NETFILTER_ISOLATION_RULE HTTP_REDIRECT ENABLE_IPV6 ACME_DNS_CHALLENGE
      ACME_DNS_PROVIDER ACME_ACCOUNT_EMAIL`
      .trim()
      .split(/\s+/);
    const missing = UPDATE_SH_OPTIONS.filter((option) => !new RegExp(`^#?${option}=`, "m").test(conf));
    expect(missing).toEqual([]);
    expect(conf.split("\n")[0]).toContain("mailcow 2026-07a");
  });
});

describe("Postfix's extra.cf", () => {
  const extra = step("postfix-tls")?.files.find((f) => f.path.endsWith("/extra.cf"))?.content ?? "";

  it("is what mailcow's postfix container leaves of it, so re-applying it changes and restarts nothing", async () => {
    // mailcow-dockerized 2026-07a data/Dockerfiles/postfix/postfix.sh:488-490, run on a copy.
    const file = join(dir, "extra.cf");
    writeFileSync(file, extra);
    await runOk("bash", [
      "-c",
      `sed -i '/\\$myhostname/! { /myhostname/d }' "$1" && echo -e "myhostname = $2\n$(cat "$1")" > "$1"`,
      "bash",
      file,
      input.hostname,
    ]);
    expect(readFileSync(file, "utf8")).toBe(extra);
  });

  it("sets the TLS minimum for 465 and 587 too, which mailcow's master.cf takes from their own parameters", () => {
    for (const parameter of [
      "smtpd_tls_mandatory_protocols",
      "smtps_smtpd_tls_mandatory_protocols",
      "submission_smtpd_tls_mandatory_protocols",
    ]) {
      expect(extra).toMatch(new RegExp(`^${parameter} = >=TLSv1\\.2$`, "m"));
    }
  });
});

describe("the network step", () => {
  it("writes a netplan file that netplan itself accepts", async () => {
    requireTool("netplan");
    const network = step("network")?.files[0];
    expect(network?.path).toBe("/etc/netplan/50-cloud-init.yaml");
    const root = join(dir, "netplan-root");
    mkdirSync(join(root, "etc", "netplan"), { recursive: true });
    writeFileSync(join(root, "etc", "netplan", "50-cloud-init.yaml"), network?.content ?? "", { mode: 0o600 });
    await runOk("netplan", ["generate", "--root-dir", root]);
    const unit = readFileSync(join(root, "run", "systemd", "network", "10-netplan-lan0.network"), "utf8");
    for (const address of input.network.addresses) expect(unit).toContain(`Address=${address}`);
    expect(unit).toContain("Gateway=10.3.0.1");
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
