// A small valid configuration and helpers to feed it to loadConfig the way the CLI would.
import { generateKeyPairSync } from "node:crypto";
import { loadConfig, NAMESPACE, type LoadedConfig, type RawConfig } from "../config/load";
import { secretKeys, type SecretKey } from "../config/schema";
import { BACKUP_PATHS, type OffsiteBackupInput } from "../render/backup";
import { macAddressFor } from "../render/cloud-init";
import type { HostSecrets, MailcowHostInput } from "../render/mailcow-host";

export type ConfigObject = Record<string, unknown>;

export const ED25519_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSB1f8wkIt2S5RgAv5lXwfhALMeEiVictb/e4JOAnLL ops@example.org";

/** A valid configuration (a deep copy on every call). */
export function baseConfig(): ConfigObject {
  return structuredClone({
    environment: "production",
    hostname: "mail.example.org",
    publicIpv4: "134.255.229.52",
    publicIpv6: "2a05:bec0:27:fd03::4",
    lan: { ipv4: "10.3.0.4/24", gateway4: "10.3.0.1", ipv6: "fd03::4/64", gateway6: "fd03::1" },
    vm: { cores: 4, memoryGiB: 8, diskGb: 80 },
    proxmox: {
      endpoint: "https://pve.example.org:8006/",
      node: "pve",
      sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFxQ4sH7xsA0mCpNaqurdzKrxwnIPXhUrPRzN/599wh root@pve",
    },
    admin: { email: "admin@example.org", sshKeys: [ED25519_KEY], sshCidrs: ["10.3.0.0/24"] },
    cloudflare: { accountId: "440b1b00395e5390b6dd1dbd09c86369" },
    domains: [
      {
        name: "example.org",
        zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
        mailboxes: [{ localPart: "alice", quotaMiB: 1024 }],
      },
    ],
    pfsense: { endpoint: "https://fw.example.org/" },
  });
}

export const SECRET_VALUE = "s3cr3t-Value-never-printed";

/** The CLI's view: structured values as JSON, scalars as strings, secrets flagged. */
export function rawConfig(config: ConfigObject, secrets: Partial<Record<SecretKey, string>> = allSecrets()): RawConfig {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    values[`${NAMESPACE}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  for (const [key, value] of Object.entries(secrets)) values[`${NAMESPACE}:${key}`] = value;
  const secretNames = new Set(Object.keys(secrets).map((key) => `${NAMESPACE}:${key}`));
  return { stack: "prod", values, isSecret: (key) => secretNames.has(key) };
}

/** Every secret, except the InfluxDB token a metric server of that type alone may have. */
export function allSecrets(): Partial<Record<SecretKey, string>> {
  return Object.fromEntries(
    Object.keys(secretKeys)
      .filter((key) => key !== "proxmoxMetricsToken")
      .map((key) => [key, SECRET_VALUE]),
  );
}

export function load(config: ConfigObject, secrets?: Partial<Record<SecretKey, string>>): LoadedConfig {
  return loadConfig(rawConfig(config, secrets));
}

/** An RSA public key line of the given size, for SSH key checks. */
export function rsaSshKey(bits: number): string {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const jwk = publicKey.export({ format: "jwk" });
  const field = (data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, data]);
  };
  const mpint = (b64: string | undefined) => {
    const bytes = Buffer.from(b64 ?? "", "base64url");
    return field((bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), bytes]) : bytes);
  };
  const blob = Buffer.concat([field(Buffer.from("ssh-rsa")), mpint(jwk.e), mpint(jwk.n)]);
  return `ssh-rsa ${blob.toString("base64")} rsa@example.org`;
}

/** Settings of the off-site backup tools for tests (the renderer's input), with overrides. */
export function offsiteBackupInput(overrides: Partial<OffsiteBackupInput> = {}): OffsiteBackupInput {
  return {
    repository: "s3:https://s3.example.com/bucket/mailcow",
    host: "mail.example.org",
    retention: { daily: 7, weekly: 4, monthly: 6, yearly: 1 },
    schedule: "*-*-* 03:30",
    checkSchedule: "Sun *-*-* 05:00",
    checkSubset: "5%",
    maxAgeHours: 26,
    notifyEmail: "admin@example.org",
    notifySmtpUrl: "smtp://127.0.0.1:25",
    notifyFrom: "mailstack-backup@example.org",
    paths: BACKUP_PATHS,
    ...overrides,
  };
}

/** The day-2 settings of a mail host (logging, updates, Postfix limits) as the entry point passes them. */
export const DAY2_HOST_INPUT = {
  logging: {
    localOnlyReason: "a test host: its logs stay on it",
    retention: { days: 30, maxSizeMiB: 2048 },
    containerCache: { maxSizeMiB: 20, maxFiles: 5 },
  },
  updates: {
    window: { start: "04:00", durationMinutes: 90 },
    automaticReboot: true,
    docker: true,
    mailcow: "notify" as const,
    mailcowCheckSchedule: "*-*-* 07:15",
    notifyEmail: "admin@example.org",
    notifyFrom: "mailstack-updates@example.org",
  },
  postfixLimits: { connectionCount: 20, connectionRatePerMinute: 60, messageRatePerMinute: 100 },
};

/** mailcow secrets for rendering tests (not secret: fixed test values). */
export const MAIL_HOST_SECRETS: HostSecrets = {
  dbPass: "DbPass0123456789abcdefABCDEF",
  dbRoot: "DbRoot0123456789abcdefABCDEF",
  redisPass: "Redis0123456789abcdefABCDEFG",
  apiKey: "ApiKey0123456789abcdefABCDEF0123456789ab",
  apiKeyReadOnly: "ApiRo0123456789abcdefABCDEF0123456789abc",
  sogoUrlEncryptionKey: "Sogo0123456789ab",
  adminSudoPassword: "Sudo0123456789abcdefABCD",
};
/** The mail host renderers' input (prod-like), a deep copy with `overrides` applied at the top level. */
export function mailHostInput(overrides: Partial<MailcowHostInput> = {}): MailcowHostInput {
  return structuredClone({ ...MAIL_HOST_INPUT, ...overrides });
}

const MAIL_HOST_INPUT: MailcowHostInput = {
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
  httpsEarlySources: ["10.3.0.0/24", "fd03::/64"],
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
    commit: "489db905122d20487e29c9a8438b311c403442ab",
    repository: "https://github.com/mailcow/mailcow-dockerized",
    domains: ["example.org"],
    limits: { "postfix-mailcow": { memoryMiB: 512, cpus: 0.5 } },
    conf: {
      version: "2026-07a",
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
  offsiteBackupTool: "/usr/local/sbin/mailstack-backup",
  monitoring: {
    listenAddress: "10.3.0.4",
    scrapeCidrs: ["10.3.5.0/24"],
    mailcowDir: "/opt/mailcow-dockerized",
    composeProject: "mailcowdockerized",
    services: ["postfix-mailcow", "dovecot-mailcow"],
    families: ["ip4", "ip6"],
  },
  ...DAY2_HOST_INPUT,
};
