import { describe, expect, it } from "vitest";
import { ConfigError, formatProblem, loadConfig, type ConfigProblem } from "../config/load";
import { MAILCOW_DEFAULT_VERSION } from "../config/schema";
import { ALERT_NAMES } from "../render/monitoring";
import { allSecrets, baseConfig, load, rawConfig, rsaSshKey, SECRET_VALUE, type ConfigObject } from "./fixtures";

function problemsOf(config: ConfigObject, secrets = allSecrets()): readonly ConfigProblem[] {
  try {
    load(config, secrets);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected the configuration to be rejected");
}

type Mutation = (config: ConfigObject) => void;
const set =
  (path: string, value: unknown): Mutation =>
  (config) => {
    const parts = path.split(".");
    let target = config as Record<string, unknown>;
    for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
    const last = parts[parts.length - 1] ?? "";
    if (value === undefined) delete target[last];
    else target[last] = value;
  };
const domain = (index: number) => (config: ConfigObject) => (config.domains as Record<string, unknown>[])[index] ?? {};

const PFSENSE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDqyrASm8ytTAYX5cQfXVLEYwhZacG+wTJi6wHTTDnGb root@fw";

describe("a valid configuration", () => {
  it("loads and fills the derived defaults", () => {
    const { config } = load(baseConfig());
    expect(config.hostZone).toEqual({ name: "example.org", zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f" });
    expect(config.lan.resolvers).toEqual(["10.3.0.1"]);
    expect(config.lan.bridge).toBe("vmbr0");
    expect(config.mailcow.apiAllowFrom).toEqual(["10.3.0.0/24"]);
    expect(config.mailcow.version).toBe(MAILCOW_DEFAULT_VERSION);
    expect(config.dmarc).toMatchObject({ policy: "reject", rua: ["mailto:dmarc-reports@example.org"], pct: 100 });
    expect(config.tlsRpt.rua).toEqual(["mailto:tls-reports@example.org"]);
    expect(config.mtaSts).toEqual({ mode: "enforce", maxAgeSeconds: 604800 });
    expect(config.dns).toMatchObject({ dnssec: true, dane: true, caaIodef: "mailto:admin@example.org" });
    expect(config.tlsMinVersion).toBe("1.2");
    expect(config.timezone).toBe("UTC");
    expect(config.backup.notifyEmail).toBe("admin@example.org");
    expect(config.domains[0]?.mailboxes[0]).toMatchObject({ forceTfa: true, forcePasswordUpdate: true, active: true });
  });

  it("returns the secrets separately from the configuration", () => {
    const loaded = load(baseConfig());
    expect(loaded.secrets.cloudflareApiToken).toBe(SECRET_VALUE);
    expect(JSON.stringify(loaded.config)).not.toContain(SECRET_VALUE);
  });

  it("takes pfSense's configuration backup with the off-site repository, with its defaults", () => {
    const config = baseConfig();
    set("backup", { offsite: { repository: "s3:https://s3.example.com/bucket/mailcow" } })(config);
    set("pfsense", { endpoint: "https://fw.example.org/", configBackup: { hostKey: PFSENSE_HOST_KEY } })(config);
    expect(load(config).config.pfsense.configBackup).toEqual({
      hostKey: PFSENSE_HOST_KEY,
      port: 22,
      user: "mailstack-backup",
      schedule: "*-*-* 01:30",
    });
  });

  it("ignores keys of other namespaces", () => {
    const raw = rawConfig(baseConfig());
    expect(() => loadConfig({ ...raw, values: { ...raw.values, "aws:region": "eu-central-1" } })).not.toThrow();
  });

  it.each<[string, Mutation]>([
    ["TLS 1.3 as the minimum", set("tlsMinVersion", "1.3")],
    ["a link-local IPv6 gateway", set("lan.gateway6", "fe80::1")],
    ["6 GiB without ClamAV", (c) => (set("vm.memoryGiB", 6)(c), set("mailcow", { clamav: false })(c))],
    ["an RSA 3072 SSH key", set("admin.sshKeys", [rsaSshKey(3072)])],
    [
      "a host in a separate zone given as hostZone",
      (c) => (
        set("hostname", "mx1.mail-infra.net")(c),
        set("hostZone", { name: "mail-infra.net", zoneId: "9eee3d33d906a9ff88e49080a057dc02" })(c)
      ),
    ],
    ["MTA-STS testing with a short max_age", set("mtaSts", { mode: "testing", maxAgeSeconds: 3600 })],
    ["DNSSEC and DANE both off", set("dns", { dnssec: false, dane: false })],
    ["DMARC p=none (the policy pack decides where that is acceptable)", set("dmarc", { policy: "none" })],
    ["an IPv4-only LAN", set("lan", { ipv4: "10.3.0.4/24", gateway4: "10.3.0.1" })],
    [
      "systemd calendar schedules",
      set("backup", {
        schedule: "mon..fri *-*-* 02:00:00",
        offsite: {
          repository: "s3:https://s3.example.com/bucket/mailcow",
          schedule: "*-*-* 03:00:00 Europe/Berlin",
          checkSchedule: "Sun *-*~01 05:00",
        },
      }),
    ],
    ["an admin network given as IPv6 prefix", set("admin.sshCidrs", ["fd03::/64"])],
    ["a key rollover to slot b", set("tlsKey", { active: "a", next: "b" })],
    ["the zone's name servers", (c) => (domain(0)(c).nameServers = ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"])],
    ["a mailcow release the project knows", set("mailcow", { version: "2026-05c" })],
    [
      "a newer mailcow release with its commit",
      set("mailcow", { version: "2026-09", commit: "0123456789abcdef0123456789abcdef01234567" }),
    ],
  ])("accepts %s", (_title, mutate) => {
    const config = baseConfig();
    mutate(config);
    expect(() => load(config)).not.toThrow();
  });
});

interface Invalid {
  readonly title: string;
  readonly mutate: Mutation;
  readonly key: string;
  readonly message: RegExp;
  readonly secrets?: ReturnType<typeof allSecrets>;
}

const invalid: Invalid[] = [
  {
    title: "a mail host without a subdomain (mailcow's update.sh would stop to ask)",
    mutate: (c) => (
      set("hostname", "xd-mail.de")(c),
      set("hostZone", { name: "xd-mail.de", zoneId: "9eee3d33d906a9ff88e49080a057dc02" })(c)
    ),
    key: "mailstack:hostname",
    message: /needs a host name below the domain .*update\.sh refuses to run unattended/,
  },
  {
    title: "a mailcow release older than the first that enforces admin 2FA",
    mutate: set("mailcow", { version: "2025-12" }),
    key: "mailstack:mailcow.version",
    message: /older than 2026-03, the first release that enforces 2FA/,
  },
  {
    title: "a mailcow release the project does not know, without its commit",
    mutate: set("mailcow", { version: "2026-09" }),
    key: "mailstack:mailcow.commit",
    message: /does not know mailcow 2026-09 yet; set mailstack:mailcow\.commit .*git ls-remote/,
  },
  {
    title: "a commit that is not the known release's",
    mutate: set("mailcow", { version: "2026-07a", commit: "0".repeat(40) }),
    key: "mailstack:mailcow.commit",
    message: /mailcow 2026-07a is commit 489db905/,
  },
  {
    title: "the DNS-01 ACME challenge",
    mutate: set("mailcow", { acmeChallenge: "dns-01" }),
    key: "mailstack:mailcow.acmeChallenge",
    message: /DNS-01 .* issue with a key of its own, so the TLSA record \(DANE\) would stop matching/,
  },
  {
    title: "a snippet storage that is a path",
    mutate: set("proxmox.snippetDatastore", "../../../../etc"),
    key: "mailstack:proxmox.snippetDatastore",
    message: /a Proxmox storage id/,
  },
  {
    title: "a PBS namespace that climbs out",
    mutate: set("backup", {
      pbs: {
        server: "pbs.example.org",
        datastore: "mail",
        username: "mailstack@pbs",
        namespace: "../../etc",
        fingerprint: Array.from({ length: 32 }, () => "AB").join(":"),
      },
    }),
    key: "mailstack:backup.pbs.namespace",
    message: /expected a PBS namespace/,
  },
  {
    title: "a ULA public IPv6",
    mutate: set("publicIpv6", "fd03::4"),
    key: "mailstack:publicIpv6",
    message: /global unicast.*unique local/,
  },
  {
    title: "a link-local public IPv6",
    mutate: set("publicIpv6", "fe80::4"),
    key: "mailstack:publicIpv6",
    message: /link-local/,
  },
  {
    title: "a documentation public IPv6",
    mutate: set("publicIpv6", "2001:db8::4"),
    key: "mailstack:publicIpv6",
    message: /documentation/,
  },
  {
    title: "an IPv4 address as public IPv6",
    mutate: set("publicIpv6", "134.255.229.52"),
    key: "mailstack:publicIpv6",
    message: /not an IPv6 address/,
  },
  {
    title: "a private public IPv4",
    mutate: set("publicIpv4", "10.3.0.4"),
    key: "mailstack:publicIpv4",
    message: /private/,
  },
  {
    title: "a documentation public IPv4",
    mutate: set("publicIpv4", "192.0.2.10"),
    key: "mailstack:publicIpv4",
    message: /documentation/,
  },
  {
    title: "a shortened IPv4",
    mutate: set("publicIpv4", "134.255.229"),
    key: "mailstack:publicIpv4",
    message: /dotted-quad/,
  },
  {
    title: "a host name with one label",
    mutate: set("hostname", "mail"),
    key: "mailstack:hostname",
    message: /two labels/,
  },
  {
    title: "a host name in upper case",
    mutate: set("hostname", "Mail.example.org"),
    key: "mailstack:hostname",
    message: /lower case/,
  },
  {
    title: "a host name with a trailing dot",
    mutate: set("hostname", "mail.example.org."),
    key: "mailstack:hostname",
    message: /trailing dot/,
  },
  {
    title: "a host name with an underscore",
    mutate: set("hostname", "mail_1.example.org"),
    key: "mailstack:hostname",
    message: /letters, digits or hyphens/,
  },
  {
    title: "the mail domain as host name",
    mutate: set("hostname", "example.org"),
    key: "mailstack:hostname",
    message: /must differ/,
  },
  {
    title: "a host outside every hosted domain",
    mutate: set("hostname", "mail.other.net"),
    key: "mailstack:hostZone",
    message: /not inside any hosted domain/,
  },
  {
    title: "a hostZone that does not hold the host",
    mutate: set("hostZone", { name: "other.net", zoneId: "9eee3d33d906a9ff88e49080a057dc02" }),
    key: "mailstack:hostZone.name",
    message: /not inside the zone/,
  },
  {
    title: "TLS 1.0 as minimum",
    mutate: set("tlsMinVersion", "1.0"),
    key: "mailstack:tlsMinVersion",
    message: /"1.2" or "1.3"/,
  },
  {
    title: "TLS 1.1 as minimum",
    mutate: set("tlsMinVersion", "1.1"),
    key: "mailstack:tlsMinVersion",
    message: /insecure/,
  },
  {
    title: "a gateway outside the LAN",
    mutate: set("lan.gateway4", "10.4.0.1"),
    key: "mailstack:lan.gateway4",
    message: /outside the VM's LAN 10.3.0.0\/24/,
  },
  {
    title: "the VM address as gateway",
    mutate: set("lan.gateway4", "10.3.0.4"),
    key: "mailstack:lan.gateway4",
    message: /another host/,
  },
  {
    title: "the network address as VM address",
    mutate: set("lan.ipv4", "10.3.0.0/24"),
    key: "mailstack:lan.ipv4",
    message: /network or broadcast/,
  },
  {
    title: "a LAN address without prefix length",
    mutate: set("lan.ipv4", "10.3.0.4"),
    key: "mailstack:lan.ipv4",
    message: /prefix length/,
  },
  {
    title: "a /48 LAN IPv6 prefix (the guide's error)",
    mutate: set("lan.ipv6", "fd03::4/48"),
    key: "mailstack:lan.ipv6",
    message: /\/64/,
  },
  {
    title: "an IPv6 gateway outside the prefix",
    mutate: set("lan.gateway6", "fd04::1"),
    key: "mailstack:lan.gateway6",
    message: /neither inside fd03::\/64 nor link-local/,
  },
  {
    title: "a LAN IPv6 without gateway",
    mutate: set("lan.gateway6", undefined),
    key: "mailstack:lan.gateway6",
    message: /needs a gateway6/,
  },
  {
    title: "an IPv6 gateway without LAN IPv6",
    mutate: set("lan.ipv6", undefined),
    key: "mailstack:lan.gateway6",
    message: /needs lan.ipv6/,
  },
  {
    title: "too little memory for mailcow with ClamAV",
    mutate: set("vm.memoryGiB", 6),
    key: "mailstack:vm.memoryGiB",
    message: /ClamAV needs at least 8 GiB/,
  },
  {
    title: "too little memory for mailcow",
    mutate: (c) => (set("vm.memoryGiB", 4)(c), set("mailcow", { clamav: false })(c)),
    key: "mailstack:vm.memoryGiB",
    message: /at least 6 GiB/,
  },
  { title: "a disk under 40 GB", mutate: set("vm.diskGb", 30), key: "mailstack:vm.diskGb", message: /at least 40 GB/ },
  {
    title: "zero cores",
    mutate: set("vm.cores", 0),
    key: "mailstack:vm.cores",
    message: /number of vCPU cores, at least 1/,
  },
  { title: "cores as a string", mutate: set("vm.cores", "8"), key: "mailstack:vm.cores", message: /whole number/ },
  {
    title: "no SSH key",
    mutate: set("admin.sshKeys", []),
    key: "mailstack:admin.sshKeys",
    message: /at least one SSH public key/,
  },
  {
    title: "a truncated SSH key",
    mutate: set("admin.sshKeys", ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x"]),
    key: "mailstack:admin.sshKeys[0]",
    message: /does not match its type|truncated/,
  },
  {
    title: "a DSA SSH key",
    mutate: set("admin.sshKeys", ["ssh-dss AAAAB3NzaC1kc3MAAACBAP x"]),
    key: "mailstack:admin.sshKeys[0]",
    message: /DSA/,
  },
  {
    title: "a 2048-bit RSA SSH key",
    mutate: set("admin.sshKeys", [rsaSshKey(2048)]),
    key: "mailstack:admin.sshKeys[0]",
    message: /2048 bits/,
  },
  {
    title: "SSH open to 0.0.0.0/0",
    mutate: set("admin.sshCidrs", ["0.0.0.0/0"]),
    key: "mailstack:admin.sshCidrs",
    message: /whole of public IPv4/,
  },
  {
    title: "SSH open to ::/0",
    mutate: set("admin.sshCidrs", ["::/0"]),
    key: "mailstack:admin.sshCidrs",
    message: /whole of public IPv6/,
  },
  {
    title: "a host zone whose id differs from the same hosted domain's",
    mutate: set("hostZone", { name: "example.org", zoneId: "0123456789abcdef0123456789abcdef" }),
    key: "mailstack:hostZone.zoneId",
    message: /use the same zone id/,
  },
  {
    title: "mailbox quotas adding up to more than the domain quota",
    mutate: (c) => {
      const first = domain(0)(c);
      first.quotaMiB = 3000;
      first.mailboxes = [
        { localPart: "alice", quotaMiB: 2000 },
        { localPart: "bob", quotaMiB: 2000 },
      ];
    },
    key: "mailstack:domains[0].quotaMiB",
    message: /add up to 4000 MiB, more than the domain quota of 3000 MiB/,
  },
  {
    title: "an invalid hosted domain name",
    mutate: (c) => {
      domain(0)(c).name = "exa mple..org";
    },
    key: "mailstack:domains[0].name",
    message: /expected a domain name such as example\.org/,
  },
  {
    title: "a /31 LAN",
    mutate: set("lan", { ipv4: "10.3.0.4/31", gateway4: "10.3.0.5", ipv6: "fd03::4/64", gateway6: "fd03::1" }),
    key: "mailstack:lan.ipv4",
    message: /between \/8 and \/30/,
  },
  {
    title: "an IPv6 gateway that is the VM itself",
    mutate: set("lan", { ipv4: "10.3.0.4/24", gateway4: "10.3.0.1", ipv6: "fd03::4/64", gateway6: "fd03::4" }),
    key: "mailstack:lan.gateway6",
    message: /another host than the VM/,
  },
  {
    title: "a Proxmox backup schedule with a timezone (systemd takes it, Proxmox does not)",
    mutate: set("backup", { schedule: "*-*-* 02:00 Europe/Berlin" }),
    key: "mailstack:backup.schedule",
    message: /take no timezone \("Europe\/Berlin"\).*local time/,
  },
  {
    title: "a Proxmox backup schedule counting days from the end of the month",
    mutate: set("backup", { schedule: "*-*~01 02:00" }),
    key: "mailstack:backup.schedule",
    message: /no '~'/,
  },
  {
    title: "a Proxmox backup schedule with a long weekday name",
    mutate: set("backup", { schedule: "Sunday 02:00" }),
    key: "mailstack:backup.schedule",
    message: /abbreviated weekdays \(mon…sun\), not "Sunday"/,
  },
  {
    title: "a mailcow CA that is not a PEM certificate",
    mutate: set("mailcow", { caCertificate: "MIIB...base64 without armour" }),
    key: "mailstack:mailcow.caCertificate",
    message: /PEM certificate/,
  },
  {
    title: "root as admin user",
    mutate: set("admin.username", "root"),
    key: "mailstack:admin.username",
    message: /not root/,
  },
  {
    title: "the deploy identity as admin user",
    mutate: set("admin.username", "mailstack-deploy"),
    key: "mailstack:admin.username",
    message: /not mailstack-deploy \(the stack's own deploy identity\)/,
  },
  {
    title: "an invalid admin e-mail",
    mutate: set("admin.email", "admin"),
    key: "mailstack:admin.email",
    message: /name@example.org/,
  },
  {
    title: "no hosted domain",
    mutate: set("domains", []),
    key: "mailstack:domains",
    message: /at least one hosted mail domain/,
  },
  {
    title: "a duplicate hosted domain",
    mutate: (c) => (c.domains as unknown[]).push({ name: "example.org", zoneId: "9eee3d33d906a9ff88e49080a057dc02" }),
    key: "mailstack:domains[1].name",
    message: /duplicate hosted domain/,
  },
  {
    title: "two domains with one zone id",
    mutate: (c) => (c.domains as unknown[]).push({ name: "example.net", zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f" }),
    key: "mailstack:domains[1].zoneId",
    message: /zone id already used/,
  },
  {
    title: "a zone id that is not hex",
    mutate: (c) => (domain(0)(c).zoneId = "zone-1"),
    key: "mailstack:domains[0].zoneId",
    message: /hexadecimal/,
  },
  {
    title: "a duplicate mailbox",
    mutate: (c) => (domain(0)(c).mailboxes = [{ localPart: "bob" }, { localPart: "bob" }]),
    key: "mailstack:domains[0].mailboxes[1].localPart",
    message: /duplicate mailbox bob@example.org/,
  },
  {
    title: "a mailbox in upper case",
    mutate: (c) => (domain(0)(c).mailboxes = [{ localPart: "Bob" }]),
    key: "mailstack:domains[0].mailboxes[0].localPart",
    message: /lower case/,
  },
  {
    title: "a mailbox over the domain quota",
    mutate: (c) => (domain(0)(c).mailboxes = [{ localPart: "bob", quotaMiB: 20480 }]),
    key: "mailstack:domains[0].mailboxes[0].quotaMiB",
    message: /exceeds the domain quota/,
  },
  {
    title: "more mailboxes than allowed",
    mutate: (c) =>
      Object.assign(domain(0)(c), {
        maxMailboxes: 1,
        mailboxes: [
          { localPart: "a", quotaMiB: 1 },
          { localPart: "b", quotaMiB: 1 },
        ],
      }),
    key: "mailstack:domains[0].maxMailboxes",
    message: /2 mailboxes are declared/,
  },
  {
    title: "a DMARC rua that is not mailto:",
    mutate: set("dmarc", { rua: ["reports@example.org"] }),
    key: "mailstack:dmarc.rua[0]",
    message: /mailto:/,
  },
  {
    title: "an unknown DMARC policy",
    mutate: set("dmarc", { policy: "strict" }),
    key: "mailstack:dmarc.policy",
    message: /none.*quarantine.*reject/,
  },
  {
    title: "MTA-STS enforce with max_age under a week (the guide's 86400)",
    mutate: set("mtaSts", { mode: "enforce", maxAgeSeconds: 86400 }),
    key: "mailstack:mtaSts.maxAgeSeconds",
    message: /604800/,
  },
  {
    title: "DANE without DNSSEC",
    mutate: set("dns", { dnssec: false }),
    key: "mailstack:dns.dane",
    message: /DNSSEC-signed/,
  },
  {
    title: "an http:// Proxmox endpoint",
    mutate: set("proxmox.endpoint", "http://pve.example.org:8006/"),
    key: "mailstack:proxmox.endpoint",
    message: /https/,
  },
  {
    title: "credentials in the pfSense URL",
    mutate: set("pfsense.endpoint", "https://admin:pw@fw.example.org/"),
    key: "mailstack:pfsense.endpoint",
    message: /credentials/,
  },
  {
    title: "a backup schedule that is not a calendar expression",
    mutate: set("backup", { schedule: "every night" }),
    key: "mailstack:backup.schedule",
    message: /a Proxmox calendar event such as/,
  },
  {
    title: "a backup at 25 o'clock",
    mutate: set("backup", { schedule: "*-*-* 25:00" }),
    key: "mailstack:backup.schedule",
    message: /hour 25/,
  },
  {
    title: "a retention of zero daily backups",
    mutate: set("backup", { retention: { daily: 0 } }),
    key: "mailstack:backup.retention.daily",
    message: /daily backups to keep, at least 1/,
  },
  {
    title: "an off-site repository over plain HTTP",
    mutate: set("backup", { offsite: { repository: "s3:http://s3.example.com/b/m" } }),
    key: "mailstack:backup.offsite.repository",
    message: /s3:https/,
  },
  {
    title: "an off-site target without credentials",
    mutate: set("backup", { offsite: { repository: "s3:https://s3.example.com/b/m" } }),
    key: "mailstack:offsiteSecretAccessKey",
    message: /pulumi config set --secret mailstack:offsiteSecretAccessKey/,
    secrets: { ...allSecrets(), offsiteAccessKeyId: undefined, offsiteSecretAccessKey: undefined },
  },
  {
    title: "the same TLS key slot as active and next",
    mutate: set("tlsKey", { active: "a", next: "a" }),
    key: "mailstack:tlsKey.next",
    message: /other slot than the active one \("b"\)/,
  },
  {
    title: "a TLS key slot that does not exist",
    mutate: set("tlsKey", { active: "c" }),
    key: "mailstack:tlsKey.active",
    message: /slot "a" or "b"/,
  },
  {
    title: "a single name server",
    mutate: (c) => (domain(0)(c).nameServers = ["ada.ns.cloudflare.com"]),
    key: "mailstack:domains[0].nameServers",
    message: /two name servers/,
  },
  {
    title: "a DKIM selector with a dot",
    mutate: set("dns", { dkimSelector: "mail.2026" }),
    key: "mailstack:dns.dkimSelector",
    message: /DKIM selector/,
  },
  {
    title: "no SSH host key for the Proxmox node",
    mutate: set("proxmox.sshHostKey", undefined),
    key: "mailstack:proxmox.sshHostKey",
    message: /is missing; expected an OpenSSH public key line/,
  },
  {
    title: "an image checksum that is not SHA-512",
    mutate: set("vm.image", { url: "https://cloud.debian.org/x.qcow2", sha512: "abc" }),
    key: "mailstack:vm.image.sha512",
    message: /SHA-512/,
  },
  {
    title: "HA with a single node",
    mutate: set("vm.ha", { nodes: { pve: 1 } }),
    key: "mailstack:vm.ha.nodes",
    message: /at least two nodes/,
  },
  {
    title: "a resource limit for a service mailcow does not have",
    mutate: set("mailcow", { limits: { "postfix-mailcw": { memoryMiB: 512, cpus: 1 } } }),
    key: "mailstack:mailcow.limits.postfix-mailcw",
    message: /did you mean postfix-mailcow\?\); valid: unbound-mailcow/,
  },
  {
    title: "a public IPv6 prefix shorter than /48",
    mutate: set("lan.publicIpv6PrefixLength", 32),
    key: "mailstack:lan.publicIpv6PrefixLength",
    message: /at least 48/,
  },
  {
    title: "an unknown time zone",
    mutate: set("timezone", "Mars/Olympus"),
    key: "mailstack:timezone",
    message: /IANA time zone/,
  },
  {
    title: "a mailcow version that is not a release tag",
    mutate: set("mailcow", { version: "latest" }),
    key: "mailstack:mailcow.version",
    message: /release tag/,
  },
  {
    title: "a plain string for a structured key",
    mutate: set("lan", "10.3.0.4"),
    key: "mailstack:lan",
    message: /expected object/,
  },
  {
    title: "a misspelt top-level key",
    mutate: set("pubicIpv6", "x"),
    key: "mailstack:pubicIpv6",
    message: /did you mean mailstack:publicIpv6/,
  },
  {
    title: "a misspelt nested key",
    mutate: set("vm.memoryGB", 16),
    key: "mailstack:vm.memoryGB",
    message: /did you mean memoryGiB/,
  },
  {
    title: "logs both forwarded and declared local-only",
    mutate: set("logging", {
      forward: {
        host: "logs.example.org",
        caCertificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      },
      localOnly: { reason: "the journal is the record here" },
    }),
    key: "mailstack:logging.localOnly",
    message: /either forwarded or kept local only/,
  },
  {
    title: "pfSense's firewall log asked for without a collector to forward it to",
    mutate: set("logging", { pfsense: true, localOnly: { reason: "the journal is the record here" } }),
    key: "mailstack:logging.pfsense",
    message: /set logging\.forward, or remove logging\.pfsense/,
  },
  {
    title: "pfSense's log switch given as a word",
    mutate: set("logging", { pfsense: "yes" }),
    key: "mailstack:logging.pfsense",
    message: /expected true or false/,
  },
  {
    title: "a local-only declaration without a real reason",
    mutate: set("logging", { localOnly: { reason: "none" } }),
    key: "mailstack:logging.localOnly.reason",
    message: /at least 10 characters/,
  },
  {
    title: "a journal kept longer than the retention policy allows",
    mutate: set("logging", { retention: { days: 120 } }),
    key: "mailstack:logging.retention.days",
    message:
      /120 days lies outside the retention policy's bounds \(7 to 90 days.*mailstack-ops-require-bounded-log-retention/,
  },
  {
    title: "a retention policy whose minimum exceeds its maximum",
    mutate: set("logging", { retention: { legalMinDays: 100, legalMaxDays: 30, days: 30 } }),
    key: "mailstack:logging.retention.legalMinDays",
    message: /minimum \(100 days\) exceeds its maximum \(30 days\)/,
  },
  {
    title: "pfSense's configuration backup without an off-site repository to keep it",
    mutate: set("pfsense", { endpoint: "https://fw.example.org/", configBackup: { hostKey: PFSENSE_HOST_KEY } }),
    key: "mailstack:pfsense.configBackup",
    message: /goes into the off-site repository: configure mailstack:backup.offsite, or remove pfsense.configBackup/,
  },
  {
    title: "pfSense's configuration backup without the host key to pin",
    mutate: set("pfsense", { endpoint: "https://fw.example.org/", configBackup: {} }),
    key: "mailstack:pfsense.configBackup.hostKey",
    message: /OpenSSH public key line/,
  },
  {
    title: "pfSense's configuration backup inside the maintenance window, when the host may reboot",
    mutate: (config) => {
      set("backup", { offsite: { repository: "s3:https://s3.example.com/bucket/mailcow" } })(config);
      set("pfsense", {
        endpoint: "https://fw.example.org/",
        configBackup: { hostKey: PFSENSE_HOST_KEY, schedule: "*-*-* 04:15" },
      })(config);
    },
    key: "mailstack:pfsense.configBackup.schedule",
    message: /the backup at 04:15 starts inside the maintenance window \(updates.window 04:00 for 90 minutes\)/,
  },
  {
    title: "a pfSense backup user name pfSense would refuse",
    mutate: set("pfsense", {
      endpoint: "https://fw.example.org/",
      configBackup: { hostKey: PFSENSE_HOST_KEY, user: "Backup User" },
    }),
    key: "mailstack:pfsense.configBackup.user",
    message: /expected the pfSense user name, such as mailstack-backup/,
  },
  {
    title: "unattended mailcow upgrades without an off-site backup",
    mutate: set("updates", { mailcow: "upgrade" }),
    key: "mailstack:updates.mailcow",
    message: /needs a fresh off-site backup first: configure mailstack:backup.offsite, or use "notify"/,
  },
  {
    title: "a maintenance window that is not a time of day",
    mutate: set("updates", { window: { start: "4am" } }),
    key: "mailstack:updates.window.start",
    message: /time of day such as "04:00"/,
  },
  {
    title: "a sending limit of 0 (mailcow would remove it)",
    mutate: set("limits", { mailcow: { mailbox: { value: 0 } } }),
    key: "mailstack:limits.mailcow.mailbox.value",
    message: /at least 1/,
  },
  {
    title: "a sending limit per week",
    mutate: set("limits", { mailcow: { domain: { value: 1000, frame: "w" } } }),
    key: "mailstack:limits.mailcow.domain.frame",
    message: /"s", "m", "h" or "d"/,
  },
  {
    title: "a missing required key",
    mutate: set("hostname", undefined),
    key: "mailstack:hostname",
    message: /is not set; expected a domain name/,
  },
  {
    title: "a missing Cloudflare token",
    mutate: () => undefined,
    key: "mailstack:cloudflareApiToken",
    message: /pulumi config set --secret mailstack:cloudflareApiToken/,
    secrets: { ...allSecrets(), cloudflareApiToken: undefined },
  },
];

describe("an invalid configuration", () => {
  it.each(invalid)("rejects $title, naming $key", ({ mutate, key, message, secrets }) => {
    const config = baseConfig();
    mutate(config);
    const cleaned = secrets && Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== undefined));
    const problems = problemsOf(config, cleaned);
    const problem = problems.find((p) => p.key === key);
    expect(problem, `problems: ${problems.map(formatProblem).join(" | ")}`).toBeDefined();
    expect(problem?.message).toMatch(message);
  });

  it("reports every problem at once, one message each, with key and value", () => {
    const config = baseConfig();
    set("publicIpv6", "fd03::4")(config);
    set("lan.gateway4", "10.9.9.9")(config);
    set("vm.diskGb", 10)(config);
    const problems = problemsOf(config);
    expect(problems.map((p) => p.key).sort()).toEqual([
      "mailstack:lan.gateway4",
      "mailstack:publicIpv6",
      "mailstack:vm.diskGb",
    ]);
    expect(problems.map(formatProblem)).toContain(
      'mailstack:publicIpv6 = "fd03::4": expected a global unicast IPv6 address (2000::/3); a unique local address (fc00::/7), which is not routed on the internet',
    );
  });

  it("keeps checking the rest of a key that has an unknown setting", () => {
    const config = baseConfig();
    set("lan", { ipv4: "10.3.0.4/24", gateway4: "10.9.0.1", bridg: "vmbr1" })(config);
    expect(
      problemsOf(config)
        .map((p) => p.key)
        .sort(),
    ).toEqual(["mailstack:lan.bridg", "mailstack:lan.gateway4"]);
  });

  it("rejects a secret stored in plain text without printing it", () => {
    const raw = rawConfig(baseConfig());
    const values = { ...raw.values, "mailstack:cloudflareApiToken": "plain-token-123" };
    const error = (() => {
      try {
        loadConfig({
          stack: "prod",
          values,
          isSecret: (key) => key !== "mailstack:cloudflareApiToken" && raw.isSecret(key),
        });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("expected a ConfigError");
    })();
    expect(error.problems).toEqual([
      expect.objectContaining({
        key: "mailstack:cloudflareApiToken",
        message: expect.stringMatching(/plain text/) as string,
      }),
    ]);
    expect(error.message).not.toContain("plain-token-123");
  });

  it("rejects malformed structured values", () => {
    const raw = rawConfig(baseConfig());
    expect(() => loadConfig({ ...raw, values: { ...raw.values, "mailstack:vm": "{cores: 8" } })).toThrow(
      /mailstack:vm: is not a valid structured value/,
    );
  });
});

describe('limits of one stack (README "Scale")', () => {
  // The base config's own domain (the mail host's zone) first, then generated ones.
  const hosted = (count: number, mailboxes: number) => [
    ...(baseConfig().domains as unknown[]).slice(0, 1),
    ...Array.from({ length: count - 1 }, (_, i) => ({
      name: `d${i}.limits.example`,
      zoneId: i.toString(16).padStart(32, "0"),
      quotaMiB: 1_000_000,
      maxMailboxes: 100_000,
      mailboxes: Array.from({ length: mailboxes }, (_, j) => ({ localPart: `m${j}`, quotaMiB: 1 })),
    })),
  ];

  it("refuses 300 hosted domains, naming the key and the limit", () => {
    const config = baseConfig();
    config.domains = hosted(300, 2);
    const problems = problemsOf(config);
    expect(problems).toHaveLength(1);
    expect(formatProblem(problems[0] as ConfigProblem)).toMatch(
      /^mailstack:domains = .*: 300 hosted domains are declared, at most 100 per stack \(mailstack:capacity.domains\): .*split the domains across stacks/,
    );
  });

  it("refuses 20,000 mailboxes, naming the key and the limit", () => {
    const config = baseConfig();
    config.domains = hosted(11, 2000);
    const problems = problemsOf(config);
    expect(problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      expect.stringMatching(
        /^mailstack:domains: 2000\d mailboxes are declared, at most 2000 per stack \(mailstack:capacity.mailboxes\)/,
      ),
    ]);
  });

  it("accepts a stack at the limits, and more when mailstack:capacity raises them", () => {
    const config = baseConfig();
    config.domains = hosted(100, 19);
    expect(load(config).config.domains).toHaveLength(100);
    config.domains = hosted(300, 2);
    config.capacity = { domains: 300 };
    expect(load(config).config.capacity).toEqual({ domains: 300, mailboxes: 2000 });
  });

  it("takes mailstack:apiConcurrency as the requests in flight per API (default 4), refusing 0 and more than 64", () => {
    const config = baseConfig();
    expect(load(config).config.apiConcurrency).toBe(4);
    config.apiConcurrency = "8";
    expect(load(config).config.apiConcurrency).toBe(8);
    for (const [value, bound] of [
      [0, "at least 1"],
      [65, "at most 64"],
    ] as const) {
      config.apiConcurrency = String(value);
      expect(problemsOf(config).map((p) => `${p.key}: ${p.message}`)).toEqual([
        `mailstack:apiConcurrency: expected the most requests in flight to one API (mailcow, pfSense), ${bound}`,
      ]);
    }
  });
});

describe("mailstack:monitoring", () => {
  const withMonitoring = (monitoring: Record<string, unknown>): ConfigObject => ({ ...baseConfig(), monitoring });
  const messages = (config: ConfigObject, secrets = allSecrets()) =>
    problemsOf(config, secrets).map((p) => `${p.key}: ${p.message}`);

  it("defaults to no scrape networks, mail to the admin and the mail host as relay", () => {
    const { config } = load(baseConfig());
    expect(config.monitoring.scrapeCidrs).toEqual([]);
    expect(config.monitoring.notifyEmail).toBe(config.admin.email);
    expect(config.monitoring.pfsenseInterface).toBe(config.pfsense.lanInterface);
    expect(config.monitoring.smtp.smarthost).toBe(`${config.hostname}:25`);
  });

  it.each(["0.0.0.0/0", "134.255.229.0/24", "10.0.0.0/7"])("refuses the scrape network %s", (cidr) => {
    expect(messages(withMonitoring({ scrapeCidrs: [cidr] }))).toEqual([
      expect.stringMatching(/^mailstack:monitoring\.scrapeCidrs\[0\]: .* is not a private network/),
    ]);
  });

  it("refuses the WAN as the interface the scrapes arrive on", () => {
    expect(messages(withMonitoring({ scrapeCidrs: ["10.3.5.0/24"], pfsenseInterface: "wan" }))).toEqual([
      expect.stringMatching(/^mailstack:monitoring\.pfsenseInterface: "wan" is the WAN interface/),
    ]);
  });

  it("takes an InfluxDB token only for an InfluxDB metric server", () => {
    const token = { ...allSecrets(), proxmoxMetricsToken: SECRET_VALUE };
    const server = { server: "10.3.5.10", port: 8086, protocol: "https" };
    expect(() => load(withMonitoring({ proxmoxMetrics: { type: "influxdb", ...server } }), token)).not.toThrow();
    expect(messages(withMonitoring({ proxmoxMetrics: { type: "graphite", ...server, port: 2003 } }), token)).toEqual([
      expect.stringMatching(
        /^mailstack:monitoring\.proxmoxMetrics\.protocol: a graphite metric server speaks udp or tcp/,
      ),
      expect.stringMatching(/^mailstack:proxmoxMetricsToken: is only used by an InfluxDB metric server/),
    ]);
  });

  it("needs the SMTP login with a password file, and alert names it knows", () => {
    expect(messages(withMonitoring({ smtp: { passwordFile: "/etc/alertmanager/smtp" } }))).toEqual([
      "mailstack:monitoring.smtp.username: smtp.passwordFile needs smtp.username (the SMTP login)",
    ]);
    expect(messages(withMonitoring({ alertFor: { MailHostDwn: "5m" } }))).toEqual([
      "mailstack:monitoring.alertFor.MailHostDwn: unknown setting (did you mean MailHostDown?); valid: " +
        ALERT_NAMES.join(", "),
    ]);
  });
});
