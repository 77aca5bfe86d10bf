// A small valid configuration and helpers to feed it to loadConfig the way the CLI would.
import { generateKeyPairSync } from "node:crypto";
import { loadConfig, NAMESPACE, type LoadedConfig, type RawConfig } from "../config/load";
import { secretKeys, type SecretKey } from "../config/schema";
import { BACKUP_PATHS, type OffsiteBackupInput } from "../render/backup";

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
