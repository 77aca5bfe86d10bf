// The mailstack stack configuration: one zod schema per top-level config key, plus the
// secret keys. Pure (no Pulumi import) so that the program, the offline plan, the policy
// pack and the tests share one definition. Cross-field rules live in rules.ts.
import { DEPLOY_USER } from "../common/host-users";
import { RELAXABLE_RULES, RULE_NAMES, RULES } from "../common/policy-catalog";
import { z } from "zod";
import { calendarProblem, proxmoxCalendarProblem } from "./calendar";
import { domainNameProblem, emailProblem, httpsUrlProblem, localPartProblem, mailtoProblem } from "./names";
import { ipv4NotPublic, ipv6NotGlobal, parseCidr, parseIpv4, parseIpv6 } from "./net";
import { parseSshPublicKey } from "./ssh";
import { ALERT_NAMES, DEFAULT_THRESHOLDS, DURATION } from "../render/monitoring";

/**
 * The cloud image the VM boots from: Debian 13 (trixie) genericcloud, pinned to a release and
 * verified against Debian's SHA512SUMS.
 */
export const DEBIAN_IMAGE = {
  url: "https://cloud.debian.org/images/cloud/trixie/20250924-2245/debian-13-genericcloud-amd64-20250924-2245.qcow2",
  sha512:
    "25b430e6416b443620fc32975f40effe3d7ae6603060aa9563b80092f0b073734a35a8c56816ae4f4ea395d7e5599de7cba254f92a9465f6ce95b29a03a8e1f5",
} as const;

/** The services of mailcow's docker-compose.yml that resource limits may name. */
export const MAILCOW_SERVICES = [
  "unbound-mailcow",
  "mysql-mailcow",
  "redis-mailcow",
  "clamd-mailcow",
  "rspamd-mailcow",
  "php-fpm-mailcow",
  "sogo-mailcow",
  "dovecot-mailcow",
  "postfix-mailcow",
  "postfix-tlspol-mailcow",
  "memcached-mailcow",
  "nginx-mailcow",
  "acme-mailcow",
  "netfilter-mailcow",
  "watchdog-mailcow",
  "dockerapi-mailcow",
  "olefy-mailcow",
  "ofelia-mailcow",
] as const;

/** The mailcow release the VM installs (a git tag of mailcow-dockerized). */
export const MAILCOW_DEFAULT_VERSION = "2026-07a";

/**
 * mailcow releases the project knows, with the commit each tag must be (read from
 * mailcow/mailcow-dockerized; tags are plain commits on master). A tag that moved is refused on the
 * host. 2026-03 is the first release with force_tfa and force_pw_update for admins and mailboxes
 * (commit ad5b94af5), which the stack relies on.
 */
export const MAILCOW_RELEASES: Readonly<Record<string, string>> = {
  "2026-03": "b84ba8ded12fc5646a634cf8d39f8a5c9b298088",
  "2026-03a": "a693325fe6f0ddd4c2c63bc0e467f6aa41d721b4",
  "2026-03b": "281cf93db359554e8f4ca941351d5ba157325cc7",
  "2026-05": "32156a337a8a531ae0b43012c2367b91289f309f",
  "2026-05a": "384e2f6ac1c03c9d92b22b3d53e16afe3d677e99",
  "2026-05b": "1eb6d2e26cf234bd2e80f32b5f556b5e173ed33b",
  "2026-05c": "2ac4b1deaee50e1284d644cecc16dcb0b37e67e2",
  "2026-07": "96a70652c320d1c76979610df13c71f363ecc2de",
  "2026-07a": "489db905122d20487e29c9a8438b311c403442ab",
};
export const MAILCOW_OLDEST_SUPPORTED = "2026-03";

/**
 * A Proxmox storage id (pve-storage's `pve-storage-id` format); it becomes part of paths on the
 * node, so nothing else is accepted.
 */
const storageId = (what: string) =>
  z.string({ error: `expected ${what}` }).regex(/^[a-z][a-z0-9._-]{0,98}[a-z0-9]$/, {
    error: `expected ${what}: a Proxmox storage id (lower-case letters, digits, '.', '_', '-'), such as local or local-lvm`,
  });

/** A string checked by a function that returns a problem description or undefined. */
function checkedString(expected: string, problem: (value: string) => string | undefined) {
  return z.string({ error: `expected ${expected}` }).superRefine((value, ctx) => {
    const found = problem(value);
    if (found !== undefined) ctx.addIssue({ code: "custom", message: `expected ${expected}; ${found}` });
  });
}

const domainName = checkedString("a domain name such as example.org", domainNameProblem);
const ipv4 = checkedString("an IPv4 address such as 10.3.0.1", (v) => (parseIpv4(v) ? undefined : "not one"));
const ipv6 = checkedString("an IPv6 address such as fd03::1", (v) => (parseIpv6(v) ? undefined : "not one"));
const anyIp = checkedString("an IPv4 or IPv6 address", (v) => (parseIpv4(v) || parseIpv6(v) ? undefined : "not one"));
const cidr4 = checkedString("an IPv4 address with prefix length such as 10.3.0.4/24", (v) =>
  parseCidr(v, 4) ? undefined : "not one",
);
const cidr6 = checkedString("an IPv6 address with prefix length such as fd03::4/64", (v) =>
  parseCidr(v, 6) ? undefined : "not one",
);
const anyCidr = checkedString("an IPv4 or IPv6 prefix such as 10.3.0.0/24 or fd03::/64", (v) =>
  parseCidr(v, 4) || parseCidr(v, 6) ? undefined : "not one",
);
/**
 * An operator's address: it is written into mailcow.conf (WATCHDOG_NOTIFY_EMAIL) and the host
 * scripts' settings, whose renderer refuses quotes, `$`, backslashes, `#` and spaces
 * (render/mailcow.ts mailcowConf). Refused here, so that whatever the config accepts renders.
 */
const email = checkedString(
  "an e-mail address such as admin@example.org",
  (value) =>
    emailProblem(value) ??
    (/[\s"'$`\\#]/.test(value)
      ? "must not contain quotes, $, `, \\, # or spaces: mailcow.conf and the host scripts carry it (use an alias without them)"
      : undefined),
);
const hostPort = checkedString("host:port such as 10.3.5.2:9093 or alertmanager.example.org:9093", (value) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) return "not one";
  const host = (match[1] ?? "").replace(/^\[|\]$/g, "");
  return parseIpv4(host) || parseIpv6(host) || domainNameProblem(host) === undefined ? undefined : "not a host";
});
const absolutePath = z.string().regex(/^\/[A-Za-z0-9._/-]+$/, {
  error: "expected an absolute path without spaces such as /etc/alertmanager/smtp-password",
});
const mailto = checkedString("a mailto: URI such as mailto:reports@example.org", mailtoProblem);
const httpsUrl = checkedString("an https:// URL", httpsUrlProblem);
/** A CA or server certificate to trust instead of the system store (TLS stays verified). */
const pemCertificate = z.string().regex(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, {
  error: "expected a PEM certificate (-----BEGIN CERTIFICATE-----)",
});
const calendar = checkedString("a systemd calendar expression such as '*-*-* 02:00'", calendarProblem);
const proxmoxCalendar = checkedString(
  "a Proxmox calendar event such as 'mon..fri 02:00' (systemd's syntax without timezone or '~')",
  proxmoxCalendarProblem,
);
/** HOST[:PORT] of a DNS resolver: an address (IPv6 in brackets with a port) or a host name. */
function resolverProblem(value: string): string | undefined {
  const match =
    /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(value) ?? (parseIpv6(value) ? [value, value] : null);
  if (!match) return "not HOST[:PORT]";
  const host = match[1] ?? match[2] ?? "";
  const port = match[3] === undefined ? 53 : Number(match[3]);
  if (port < 1 || port > 65535) return `port ${port} is out of range`;
  return parseIpv4(host) || parseIpv6(host) || domainNameProblem(host) === undefined
    ? undefined
    : `"${host}" is neither an address nor a host name`;
}
const sshKey = checkedString("an OpenSSH public key line such as 'ssh-ed25519 AAAA… user@host'", (v) => {
  const key = parseSshPublicKey(v);
  return typeof key === "string" ? key : undefined;
});
const cloudflareId = z
  .string({ error: "expected a 32-character hexadecimal Cloudflare id" })
  .regex(/^[0-9a-f]{32}$/, { error: "expected a 32-character lower-case hexadecimal Cloudflare id" });
const shortName = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .regex(/^[a-z][a-z0-9-]{0,62}$/, { error: `expected ${what}: lower-case letters, digits, hyphens` });
/** A whole number with messages that say what it is and its bounds. */
function wholeNumber(what: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .int({
      error: (issue) =>
        issue.code === "too_small"
          ? `expected ${what}, at least ${min}`
          : issue.code === "too_big"
            ? `expected ${what}, at most ${max}`
            : `expected ${what} as a whole number`,
    })
    .min(min)
    .max(max);
}
const positiveInt = (what: string, max?: number) => wholeNumber(what, 1, max);
const count = (what: string, min = 0) => wholeNumber(what, min);

const timezone = checkedString("an IANA time zone such as Europe/Berlin or UTC", (value) => {
  try {
    new Intl.DateTimeFormat("en", { timeZone: value });
    return undefined;
  } catch {
    return "unknown time zone";
  }
});

const retention = z
  .strictObject({
    daily: count("the number of daily backups to keep", 1).default(7),
    weekly: count("the number of weekly backups to keep").default(4),
    monthly: count("the number of monthly backups to keep").default(6),
    yearly: count("the number of yearly backups to keep").default(0),
  })
  .prefault({});

/** A mailcow rate limit (rspamd's ratelimit, RL_VALUE in Redis): messages per second/minute/hour/day. */
export const RATE_LIMIT_FRAMES = ["s", "m", "h", "d"] as const;
const rateLimit = z.strictObject({
  /** Messages per frame; mailcow removes a limit of 0 (functions.ratelimit.inc.php:43-45), so at least 1. */
  value: positiveInt("the number of messages per frame (at least 1; a limit is never off)"),
  frame: z.enum(RATE_LIMIT_FRAMES, { error: 'expected a rate limit frame: "s", "m", "h" or "d"' }).default("h"),
});

const mailbox = z.strictObject({
  localPart: checkedString("the part before @, such as alice", localPartProblem),
  name: z.string().min(1).max(255).optional(),
  quotaMiB: positiveInt("the mailbox quota in MiB").default(3072),
  active: z.boolean().default(true),
  /** mailcow `force_tfa`: the user must enrol a second factor at first login. */
  forceTfa: z.boolean().default(true),
  /** mailcow `force_pw_update`: the user must replace the generated password at first login. */
  forcePasswordUpdate: z.boolean().default(true),
  /** This mailbox's own sending limit; mailstack:limits.mailcow.mailbox when not set (rspamd applies a sender's own limit before its domain's). */
  rateLimit: rateLimit.optional(),
  /** mailcow `tls_enforce_in`: refuse mail to this mailbox over unencrypted SMTP (managed only when set). */
  tlsEnforceIn: z.boolean().optional(),
  /** mailcow `tls_enforce_out`: send this mailbox's mail only over TLS (managed only when set). */
  tlsEnforceOut: z.boolean().optional(),
});

/** The zone's Cloudflare-assigned name servers (dashboard → DNS → Records), for delegation and zone files. */
const nameServers = z
  .array(domainName)
  .min(2, { error: "expected the two name servers Cloudflare assigned to the zone" });

/**
 * What one stack is measured to handle by default (`npm run bench`, README "Scale"): every hosted
 * domain is about 40 resources (its zone's records, DKIM key, mailcow domain), every mailbox two.
 * Beyond these the offline plan leaves its time and memory targets (`mailstack:capacity` raises them).
 */
export const MAX_HOSTED_DOMAINS = 100;
export const MAX_MAILBOXES = 2000;

const hostedDomain = z.strictObject({
  name: domainName,
  zoneId: cloudflareId,
  nameServers: nameServers.optional(),
  description: z.string().max(255).optional(),
  quotaMiB: positiveInt("the domain quota in MiB").default(10240),
  maxMailboxes: positiveInt("the maximum number of mailboxes").default(10),
  maxAliases: positiveInt("the maximum number of aliases").default(400),
  mailboxes: z.array(mailbox).default([]),
  /** The domain's sending limit; mailstack:limits.mailcow.domain when not set. */
  rateLimit: rateLimit.optional(),
});

/** "HH:MM" on a 24-hour clock. */
const clockTime = z
  .string({ error: 'expected a time of day such as "04:00"' })
  .regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, { error: 'expected a time of day such as "04:00" (24-hour clock)' });

/** One zod schema per `mailstack:<key>`. Keys missing here are rejected as unknown. */
export const keySchemas = {
  environment: z.enum(["production", "staging"]).default("production"),
  hostname: domainName,
  hostZone: z.strictObject({ name: domainName, zoneId: cloudflareId, nameServers: nameServers.optional() }).optional(),
  publicIpv4: checkedString("a public IPv4 address", ipv4NotPublic),
  publicIpv6: checkedString("a global unicast IPv6 address (2000::/3)", ipv6NotGlobal),
  timezone: timezone.default("UTC"),
  tlsMinVersion: z
    .enum(["1.2", "1.3"], {
      error: `expected "1.2" or "1.3" (TLS 1.0 and 1.1 are insecure; policy ${RULES.mailTls.name})`,
    })
    .default("1.2"),
  lan: z.strictObject({
    bridge: z
      .string()
      .regex(/^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/, { error: "expected a bridge name such as vmbr0" })
      .default("vmbr0"),
    vlanId: wholeNumber("a VLAN id", 1, 4094).optional(),
    ipv4: cidr4,
    gateway4: ipv4,
    ipv6: cidr6.optional(),
    gateway6: ipv6.optional(),
    resolvers: z.array(anyIp).min(1).optional(),
    /** The on-link prefix of mailstack:publicIpv6, which the VM holds beside its LAN addresses. */
    publicIpv6PrefixLength: wholeNumber("the prefix length of the public IPv6 network", 48, 128).default(64),
  }),
  vm: z
    .strictObject({
      id: wholeNumber("a Proxmox VM id", 100, 999_999_999).optional(),
      name: shortName("a VM name").default("mailcow"),
      cores: positiveInt("the number of vCPU cores", 128).default(4),
      memoryGiB: positiveInt("the memory in GiB", 1024).default(8),
      diskGb: positiveInt("the disk size in GB").default(80),
      /** Proxmox deletion protection; on by default, off only where throw-away VMs are wanted. */
      protection: z.boolean().default(true),
      /** The VM's MAC address; derived from the host name when not set. */
      macAddress: z
        .string()
        .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, {
          error: "expected a MAC address in lower case, e.g. 02:a1:b2:c3:d4:e5",
        })
        .optional(),
      /** The cloud image the VM boots from, pinned by checksum. */
      image: z
        .strictObject({
          url: httpsUrl,
          sha512: z.string().regex(/^[0-9a-f]{128}$/, { error: "expected the image's SHA-512 (128 hex digits)" }),
        })
        .prefault(DEBIAN_IMAGE),
      /** Proxmox HA for the VM (cluster with shared or replicated storage): node → priority. */
      ha: z
        .strictObject({
          nodes: z
            .record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/), wholeNumber("an HA node priority", 0, 1000))
            .refine((nodes) => Object.keys(nodes).length >= 2, { error: "expected at least two nodes for HA" }),
          maxRestart: wholeNumber("the HA restart attempts", 0, 10).default(2),
          maxRelocate: wholeNumber("the HA relocation attempts", 0, 10).default(1),
          /**
           * ZFS storage replication of the VM's disks to another HA node (a PVE replication job,
           * pve-guest-common ReplicationConfig.pm): the replicated storage for a cluster without
           * shared VM storage. Not set: the VM's disks must be on shared storage (Ceph RBD, NFS, …).
           */
          replication: z
            .strictObject({
              target: shortName("the Proxmox node the disks are replicated to"),
              /** How often the disks are synced: what a failover loses at most. */
              schedule: proxmoxCalendar.default("*:0/15"),
              /** Bandwidth limit in MB/s (PVE's `rate`); none by default. */
              rateMBps: positiveInt("the replication bandwidth limit in MB/s", 100_000).optional(),
            })
            .optional(),
        })
        .optional(),
    })
    .prefault({}),
  proxmox: z.strictObject({
    endpoint: httpsUrl,
    node: shortName("the Proxmox node name"),
    vmDatastore: storageId("the storage for the VM's disks").default("local-lvm"),
    imageDatastore: storageId("the storage for the cloud image (content type import)").default("local"),
    snippetDatastore: storageId("the storage for the cloud-init snippets (content type snippets)").default("local"),
    sshUser: z.string().min(1).default("root"),
    /** Address for SSH to the node; defaults to the endpoint's host. */
    sshAddress: z.string().min(1).optional(),
    /**
     * The node's SSH host public key ("ssh-ed25519 AAAA…", from /etc/ssh/ssh_host_ed25519_key.pub).
     * SSH to the node is verified with it, and the VM's own host key is read back through it.
     */
    sshHostKey: sshKey,
    /** The realm the Proxmox admins log in with; the stack makes it require a second factor. */
    adminRealm: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9._-]*$/, { error: "expected a Proxmox realm id such as pve or pam" })
      .default("pve"),
    /**
     * PEM CA the stack's own Proxmox API calls (PBS storage, backup job) trust instead of the system
     * store, e.g. the cluster's /etc/pve/pve-root-ca.pem when the node keeps its self-signed certificate.
     */
    caCertificate: pemCertificate.optional(),
    /** The realm's required second factor: TOTP ("oath") or YubiKey OTP ("yubico"). */
    realmTfa: z.enum(["oath", "yubico"], { error: 'expected "oath" (TOTP) or "yubico"' }).default("oath"),
  }),
  mailcow: z
    .strictObject({
      version: z
        .string()
        .regex(/^\d{4}-\d{2}[a-z]?$/, { error: "expected a mailcow release tag such as 2026-07a" })
        .default(MAILCOW_DEFAULT_VERSION),
      /** The commit of the release tag, for releases the project does not know yet (see MAILCOW_RELEASES). */
      commit: z
        .string()
        .regex(/^[0-9a-f]{40}$/, { error: "expected the full 40-digit commit of the release tag" })
        .optional(),
      /**
       * How mailcow proves the host to Let's Encrypt. Only HTTP-01 keeps the stack's key: with DNS-01
       * mailcow's acme.sh client issues with a key of its own (obtain-certificate-dns.sh), so the
       * TLSA record would stop matching.
       */
      acmeChallenge: z
        .enum(["http-01"], {
          error:
            'expected "http-01": DNS-01 (ACME_DNS_CHALLENGE) makes mailcow\'s acme.sh issue with a key of its own, so the TLSA record (DANE) would stop matching the served certificate',
        })
        .default("http-01"),
      /**
       * Where the stack's mailcow API calls connect (TLS still verified for the host name): the
       * VM's LAN IPv4 by default, so they come from the deployer's own address (no NAT reflection).
       */
      apiConnectAddress: anyIp.optional(),
      clamav: z.boolean().default(true),
      sogo: z.boolean().default(true),
      fullTextSearch: z.boolean().default(true),
      /** Networks allowed to use the mailcow API; defaults to the admin networks. */
      apiAllowFrom: z.array(anyCidr).min(1).optional(),
      /** The mailcow admin account whose 2FA the stack enforces. */
      adminUsername: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,60}$/, { error: "expected the mailcow admin's user name" })
        .default("admin"),
      /** Manage hosted domains and mailboxes that already exist in mailcow instead of failing. */
      adoptExisting: z.boolean().default(false),
      /** PEM CA or certificate the API client pins instead of the system store (e.g. an internal CA). */
      caCertificate: pemCertificate.optional(),
      /** Container resource limits (docker-compose.override.yml), the guide's values by default. */
      limits: z
        .partialRecord(
          z.enum(MAILCOW_SERVICES, { error: `expected a mailcow service: ${MAILCOW_SERVICES.join(", ")}` }),
          z.strictObject({
            memoryMiB: positiveInt("the memory limit in MiB"),
            cpus: z.number().positive().max(128),
          }),
        )
        .default({ "postfix-mailcow": { memoryMiB: 512, cpus: 0.5 }, "dovecot-mailcow": { memoryMiB: 1024, cpus: 1 } }),
    })
    .prefault({}),
  admin: z.strictObject({
    username: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "expected a Unix user name such as mailops" })
      .refine((name) => name !== "root", { error: "expected a personal admin user, not root (root login stays off)" })
      .refine((name) => name !== DEPLOY_USER, {
        error: `expected a personal admin user, not ${DEPLOY_USER} (the stack's own deploy identity)`,
      })
      .default("mailops"),
    email: email,
    sshKeys: z.array(sshKey).min(1, { error: "expected at least one SSH public key (password login is off)" }),
    sshCidrs: z.array(anyCidr).min(1, { error: "expected at least one admin network for SSH" }),
  }),
  cloudflare: z.strictObject({ accountId: cloudflareId }),
  domains: z.array(hostedDomain).min(1, { error: "expected at least one hosted mail domain" }),
  /**
   * How much one stack may hold (README "Scale"): raised deliberately, after measuring with
   * `npm run bench`, never by accident.
   */
  capacity: z
    .strictObject({
      domains: positiveInt("the most hosted domains this stack may declare").default(MAX_HOSTED_DOMAINS),
      mailboxes: positiveInt("the most mailboxes this stack may declare").default(MAX_MAILBOXES),
    })
    .prefault({}),
  /**
   * At most this many requests in flight at once to each of the mailcow and pfSense APIs during
   * `pulumi up`, whatever `--parallel` lets the engine run (providers/throttle.ts; README "Scale").
   */
  apiConcurrency: z.preprocess(
    // A top-level value arrives as the string the CLI stored (`pulumi config set apiConcurrency 8`).
    (value) => (typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value),
    positiveInt("the most requests in flight to one API (mailcow, pfSense)", 64).default(4),
  ),
  dmarc: z
    .strictObject({
      policy: z.enum(["none", "quarantine", "reject"]).default("reject"),
      subdomainPolicy: z.enum(["none", "quarantine", "reject"]).optional(),
      rua: z.array(mailto).optional(),
      ruf: z.array(mailto).default([]),
      adkim: z.enum(["r", "s"]).default("r"),
      aspf: z.enum(["r", "s"]).default("r"),
      pct: wholeNumber("the DMARC percentage", 0, 100).default(100),
    })
    .prefault({}),
  mtaSts: z
    .strictObject({
      mode: z.enum(["enforce", "testing", "none"]).default("enforce"),
      maxAgeSeconds: wholeNumber("the MTA-STS max_age in seconds", 1, 31_557_600).default(604_800),
    })
    .prefault({}),
  tlsRpt: z.strictObject({ rua: z.array(mailto).min(1).optional() }).prefault({}),
  dns: z
    .strictObject({
      dnssec: z.boolean().default(true),
      dane: z.boolean().default(true),
      /** TTL in seconds for managed records; 1 means Cloudflare's "automatic". */
      ttl: wholeNumber("a TTL in seconds (1 = automatic)", 1, 86_400).default(3600),
      /** DKIM selector: the record is <selector>._domainkey.<domain> (mailcow's default is "dkim"). */
      dkimSelector: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "expected a DKIM selector: lower-case letters, digits, hyphens" })
        .default("dkim"),
      caaIssuers: z.array(domainName).min(1).default(["letsencrypt.org"]),
      caaIodef: mailto.optional(),
    })
    .prefault({}),
  /**
   * The mail server's TLS key slots (RSA 4096, generated by the stack). `active` is seeded into mailcow;
   * `next` is published in TLSA beside it ahead of a key rollover (DANE "3 1 1" current + next).
   */
  tlsKey: z
    .strictObject({
      active: z.enum(["a", "b"], { error: 'expected key slot "a" or "b"' }).default("a"),
      next: z.enum(["a", "b"], { error: 'expected key slot "a" or "b"' }).optional(),
    })
    .prefault({}),
  services: z
    .strictObject({
      submission: z.boolean().default(true),
      pop3s: z.boolean().default(true),
      imap: z.boolean().default(false),
      pop3: z.boolean().default(false),
      sieve: z.boolean().default(false),
    })
    .prefault({}),
  pfsense: z.strictObject({
    endpoint: httpsUrl,
    wanInterface: z.string().min(1).default("wan"),
    lanInterface: z.string().min(1).default("lan"),
    caCertificate: pemCertificate.optional(),
    /**
     * The firewall's config.xml fetched over SSH by the mail host into the off-site repository, by a
     * pfSense user the stack creates with only "User - System: Copy files (scp)" (scponly shell) and
     * a key that may run nothing but the download of config.xml (providers/pfsense/user.ts).
     */
    configBackup: z
      .strictObject({
        /** Where the mail host reaches pfSense's sshd (its LAN address, lan.gateway4 by default). */
        address: domainName.or(anyIp).optional(),
        port: wholeNumber("a TCP port", 1, 65_535).default(22),
        user: z
          .string({ error: "expected the pfSense user name, such as mailstack-backup" })
          .regex(/^[a-z_][a-z0-9_.-]{0,31}$/, {
            error: "expected the pfSense user name, such as mailstack-backup (lower case, at most 32 characters)",
          })
          .default("mailstack-backup"),
        /** pfSense's SSH host key, pinned (on the console: cat /etc/ssh/ssh_host_ed25519_key.pub). */
        hostKey: sshKey,
        schedule: calendar.default("*-*-* 01:30"),
      })
      .optional(),
  }),
  backup: z
    .strictObject({
      notifyEmail: email.optional(),
      schedule: proxmoxCalendar.default("*-*-* 02:00"),
      retention,
      pbs: z
        .strictObject({
          /** Cluster-wide: defaults to mailstack-<stack>, so two stacks never share it. */
          storageId: shortName("a Proxmox storage id").optional(),
          server: domainName.or(anyIp),
          datastore: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, { error: "expected a PBS datastore name" }),
          namespace: z
            .string()
            .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*){0,7}$/, {
              error:
                "expected a PBS namespace such as mail/prod (names of letters, digits, '.', '_', '-' separated by '/')",
            })
            .optional(),
          username: z
            .string()
            .regex(/^[^\s@]+@[A-Za-z0-9._-]+(!\S+)?$/, { error: "expected a PBS user such as mailstack@pbs" }),
          fingerprint: z.string().regex(/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/, {
            error: "expected the PBS certificate's SHA-256 fingerprint (32 colon-separated hex bytes)",
          }),
        })
        .optional(),
      offsite: z
        .strictObject({
          repository: z.string().regex(/^s3:https:\/\/[^/\s]+\/[^\s]+$/, {
            error: "expected a restic S3 repository such as s3:https://s3.example.com/bucket/mailcow",
          }),
          schedule: calendar.default("*-*-* 03:30"),
          checkSchedule: calendar.default("Sun *-*-* 05:00"),
          /** Share of the data `restic check` downloads and verifies on each check. */
          checkSubset: z
            .string()
            .regex(/^(100|[1-9][0-9]?)(\.[0-9]+)?%$/, { error: 'expected a percentage such as "5%" (at most "100%")' })
            .default("5%"),
          /** The backup status check reports a problem when the last success is older than this. */
          maxAgeHours: positiveInt("hours after which a missing backup is reported").default(26),
          retention,
        })
        .optional(),
    })
    .prefault({}),
  /**
   * Log shipping and local retention. `forward` sends journald (which holds the mailcow containers'
   * logs too) to a collector over syslog/TLS (RFC 5425, octet-counted framing), the collector's CA
   * pinned; `localOnly` declares in writing why logs stay on the host. Retention bounds the local
   * journal in days and size; `legalMinDays`/`legalMaxDays` are the bounds the operator's
   * retention policy (GDPR art. 5(1)(e)) sets, and `days` must lie within them.
   */
  logging: z
    .strictObject({
      forward: z
        .strictObject({
          host: domainName.or(anyIp),
          port: wholeNumber("a TCP port", 1, 65_535).default(6514),
          /** Syslog over TLS (RFC 5425): rsyslog, syslog-ng, Graylog's syslog TCP input, Logstash, Vector, Alloy. */
          protocol: z
            .enum(["syslog-tls"], {
              error: 'expected "syslog-tls" (RFC 5425, which Graylog, Logstash, syslog-ng, Vector and Alloy accept)',
            })
            .default("syslog-tls"),
          /** The CA that signed the collector's certificate: the only one trusted for the connection. */
          caCertificate: pemCertificate,
          /** The name the collector's certificate must carry (defaults to host). */
          peerName: domainName.optional(),
        })
        .optional(),
      /**
       * pfSense's firewall log sent to the mail host (plain UDP syslog on the LAN, pfSense's only
       * transport) and forwarded with the journal over TLS. Default: on when `forward` is set.
       */
      pfsense: z.boolean({ error: "expected true or false (pfSense's firewall log forwarded)" }).optional(),
      localOnly: z
        .strictObject({
          reason: z
            .string({ error: "expected the reason the logs stay on the host" })
            .trim()
            .min(10, { error: "expected a reason of at least 10 characters why logs stay on the host" }),
        })
        .optional(),
      retention: z
        .strictObject({
          days: positiveInt("the days the host keeps its journal", 3650).default(30),
          maxSizeMiB: wholeNumber("the journal's maximum size in MiB", 64, 1_048_576).default(2048),
          legalMinDays: positiveInt("the fewest days the retention policy requires", 3650).default(7),
          legalMaxDays: positiveInt("the most days the retention policy allows", 3650).default(90),
        })
        .prefault({}),
      /** Docker's local copy of each container's log (dual logging cache), beside the journal. */
      containerCache: z
        .strictObject({
          maxSizeMiB: positiveInt("the size of one container log file in MiB", 1024).default(20),
          maxFiles: positiveInt("the number of container log files kept", 20).default(5),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Updates on the mail host: Debian security updates (and Docker Engine with its compose plugin
   * from Docker's repository) inside the maintenance window, a reboot in the window when one is
   * needed and no backup runs, and a daily mailcow release check. `mailcow: "notify"` reports a
   * newer release (mail, metric); "upgrade" also upgrades through the pinned-release path after a
   * fresh successful off-site backup, and the operator then records the release in
   * mailstack:mailcow.version (see the README).
   */
  updates: z
    .strictObject({
      window: z
        .strictObject({
          start: clockTime.default("04:00"),
          durationMinutes: wholeNumber("the maintenance window's length in minutes", 15, 360).default(90),
        })
        .prefault({}),
      automaticReboot: z.boolean().default(true),
      docker: z.boolean().default(true),
      mailcow: z.enum(["notify", "upgrade"], { error: 'expected "notify" or "upgrade"' }).default("notify"),
      mailcowCheckSchedule: calendar.default("*-*-* 07:15"),
    })
    .prefault({}),
  /** Limits against abuse: Postfix's per-client limits, mailcow's default sending limits, its password policy. */
  limits: z
    .strictObject({
      postfix: z
        .strictObject({
          /** smtpd_client_connection_count_limit: simultaneous connections of one client. */
          connectionCount: positiveInt("simultaneous connections per client", 1000).default(20),
          /** smtpd_client_connection_rate_limit: connections of one client per minute. */
          connectionRatePerMinute: positiveInt("connections per client and minute", 100_000).default(60),
          /** smtpd_client_message_rate_limit: messages of one client per minute. */
          messageRatePerMinute: positiveInt("messages per client and minute", 100_000).default(100),
        })
        .prefault({}),
      mailcow: z
        .strictObject({
          /** Each hosted domain's limit: what applies to a sender without a limit of its own. */
          domain: rateLimit.prefault({ value: 1000 }),
          /** Each mailbox's limit (every mailbox the stack declares gets one: one compromised account stays bounded). */
          mailbox: rateLimit.prefault({ value: 200 }),
        })
        .prefault({}),
      passwordPolicy: z
        .strictObject({
          length: wholeNumber("the minimum password length", 8, 24).default(12),
          letters: z.boolean().default(true),
          lowerUpper: z.boolean().default(true),
          numbers: z.boolean().default(true),
          specialChars: z.boolean().default(false),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Monitoring: the VM's exporters answer the scrape networks (LAN IPv4 only; without them they
   * answer 127.0.0.1 only), and the Prometheus configuration, alert rules, Alertmanager routing and
   * Grafana dashboard for the operator's own Prometheus are rendered into the plan.
   */
  monitoring: z
    .strictObject({
      /** Networks Prometheus scrapes from: private IPv4 (the exporters listen on the LAN IPv4). */
      scrapeCidrs: z.array(cidr4).default([]),
      /** The pfSense interface the scrapes arrive on; pfSense's LAN by default. */
      pfsenseInterface: z.string().min(1).optional(),
      /** Where alerts go; admin.email by default. */
      notifyEmail: email.optional(),
      /** Alertmanagers (host:port) the rendered Prometheus sends alerts to. */
      alertmanagers: z.array(hostPort).default([]),
      /** How the rendered Alertmanager sends mail. */
      smtp: z
        .strictObject({
          /** host:port of the relay; the mail host itself (port 25) by default. */
          smarthost: hostPort.optional(),
          from: email.optional(),
          requireTls: z.boolean().default(true),
          username: z.string().min(1).optional(),
          /** A file on the Alertmanager host holding the password (the stack never sees it). */
          passwordFile: absolutePath.optional(),
        })
        .prefault({}),
      /** Where the rendered Prometheus forwards its samples (remote_write). */
      remoteWrite: z.array(z.strictObject({ url: httpsUrl, bearerTokenFile: absolutePath.optional() })).default([]),
      /** The Proxmox node's metric server (pushes node, VM and storage metrics there). */
      proxmoxMetrics: z
        .strictObject({
          type: z.enum(["influxdb", "graphite", "opentelemetry"], {
            error: 'expected "influxdb", "graphite" or "opentelemetry" (what Proxmox VE can push to)',
          }),
          server: domainName.or(anyIp),
          port: wholeNumber("a TCP/UDP port", 1, 65535),
          /** influxdb: udp, http or https; graphite: udp or tcp; opentelemetry: http or https. */
          protocol: z.enum(["udp", "tcp", "http", "https"]).optional(),
          /** OpenTelemetry path (e.g. /api/v1/otlp/v1/metrics for Prometheus' OTLP receiver), or the graphite root path. */
          path: z.string().min(1).optional(),
          bucket: z.string().min(1).optional(),
          organization: z.string().min(1).optional(),
          verifyCertificate: z.boolean().default(true),
        })
        .optional(),
      /** host:port of the node_exporter on the host that runs the scheduled verify. */
      verifyExporter: hostPort.optional(),
      /** `for:` of alerts (a Prometheus duration such as 5m), by alert name. */
      alertFor: z
        .partialRecord(
          z.enum(ALERT_NAMES, { error: `expected an alert name: ${ALERT_NAMES.join(", ")}` }),
          z.string().regex(DURATION, { error: "expected a Prometheus duration such as 10m or 1h30m" }),
        )
        .default({}),
      thresholds: z
        .strictObject({
          diskUsedPercent: wholeNumber("a percentage", 1, 99).default(DEFAULT_THRESHOLDS.diskUsedPercent),
          diskFullHours: positiveInt("hours").default(DEFAULT_THRESHOLDS.diskFullHours),
          memoryAvailablePercent: wholeNumber("a percentage", 1, 99).default(DEFAULT_THRESHOLDS.memoryAvailablePercent),
          queueMessages: positiveInt("a number of messages").default(DEFAULT_THRESHOLDS.queueMessages),
          certificateDays: positiveInt("days").default(DEFAULT_THRESHOLDS.certificateDays),
          banSpikePerHour: positiveInt("a number of bans").default(DEFAULT_THRESHOLDS.banSpikePerHour),
          verifyMaxAgeHours: positiveInt("hours").default(DEFAULT_THRESHOLDS.verifyMaxAgeHours),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Scheduled `npm run verify` from a host that is not the mail VM (a monitoring or CI box with
   * node_exporter): the stack installs it there with a systemd timer. Off when absent.
   */
  verify: z
    .strictObject({
      host: domainName.or(anyIp),
      sshUser: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "expected a Unix user name (root, or one with passwordless sudo)" })
        .default("root"),
      /** The host's SSH host public key ("ssh-ed25519 AAAA…", from /etc/ssh/ssh_host_ed25519_key.pub). */
      sshHostKey: sshKey,
      schedule: calendar.default("hourly"),
      /** node_exporter's --collector.textfile.directory (Debian's prometheus-node-exporter default). */
      textfileDirectory: z
        .string()
        .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "expected an absolute directory path without spaces" })
        .default("/var/lib/prometheus/node-exporter"),
      /** A validating resolver HOST[:PORT] for verify; the host's own resolver when absent. */
      resolver: checkedString("a resolver such as 9.9.9.9 or [2620:fe::fe]:53", resolverProblem).optional(),
    })
    .optional(),
  /** CrossGuard: rules a staging stack runs as advisory (only relaxable ones; never in production). */
  policy: z
    .strictObject({
      advisory: z
        .array(
          z.enum(RULE_NAMES as [string, ...string[]], {
            error: `expected a rule of the mailstack-security pack (${RELAXABLE_RULES.join(", ")} can be lowered)`,
          }),
        )
        .default([]),
    })
    .prefault({}),
} as const;

export type ConfigKey = keyof typeof keySchemas;
export type ParsedConfig = { [K in ConfigKey]: z.output<(typeof keySchemas)[K]> };

/** Secret config keys, always set with `pulumi config set --secret mailstack:<key>`. */
export const secretKeys = {
  cloudflareApiToken: "Cloudflare API token (Zone DNS edit, Zone Settings edit, DNSSEC, Workers Scripts edit)",
  proxmoxApiToken: "Proxmox VE API token in the form user@realm!tokenid=uuid",
  proxmoxSshPrivateKey: "SSH private key for the Proxmox node (snippet upload, realm TFA command)",
  pfsenseApiKey: "pfSense REST API key of a least-privilege API user",
  pbsPassword: "Proxmox Backup Server password or API token secret (only with mailstack:backup.pbs)",
  offsiteAccessKeyId: "S3 access key id of the off-site repository (only with mailstack:backup.offsite)",
  offsiteSecretAccessKey: "S3 secret access key of the off-site repository (only with mailstack:backup.offsite)",
  offsiteRepositoryPassword:
    "restic password of an existing off-site repository (optional: without it the stack generates one)",
  proxmoxMetricsToken:
    "InfluxDB token (or user:password) for the Proxmox metric server (optional, only with mailstack:monitoring.proxmoxMetrics of type influxdb over HTTP)",
  verifySshPrivateKey:
    "SSH private key for mailstack:verify.host (installs the scheduled verify; only with mailstack:verify)",
} as const;

/** Secrets the stack can do without (it generates a value instead). */
export const OPTIONAL_SECRETS: ReadonlySet<SecretKey> = new Set<SecretKey>([
  "offsiteRepositoryPassword",
  "proxmoxMetricsToken",
]);

export type SecretKey = keyof typeof secretKeys;

/** Whether a secret key is required by the given (parsed) configuration. */
export function secretRequired(key: SecretKey, config: Partial<ParsedConfig>): boolean {
  switch (key) {
    case "pbsPassword":
      return config.backup?.pbs !== undefined;
    case "offsiteRepositoryPassword":
    case "proxmoxMetricsToken":
      return false;
    case "offsiteAccessKeyId":
    case "offsiteSecretAccessKey":
      return config.backup?.offsite !== undefined;
    case "verifySshPrivateKey":
      return config.verify !== undefined;
    default:
      return true;
  }
}
