// The stack outputs other teams consume (via `pulumi stack output` or a StackReference).
// Keep this interface stable: renaming a field breaks consumers.
import type * as pulumi from "@pulumi/pulumi";
import type { DeclaredRecord } from "./render/dns-record";
import type { Endpoints } from "./render/endpoints";

export interface HostedDomainOutputs {
  /** The MX target of the domain. */
  readonly mx: string;
  readonly mailboxes: readonly string[];
  /** Where the MTA-STS policy is served (RFC 8461 §3.3) and its current id. */
  readonly mtaStsPolicyUrl: string;
  readonly mtaStsPolicyId: string;
  /** The policy text served at mtaStsPolicyUrl (the id is derived from it). */
  readonly mtaStsPolicy: string;
  /** The DKIM record: name and TXT value. */
  readonly dkim: { readonly name: string; readonly value: string };
  /** Thunderbird-style autoconfig and Outlook autodiscover names for mail clients. */
  readonly autoconfigHost: string;
  readonly autodiscoverHost: string;
}

/** What the registrar of a zone needs: delegation and the DS record (DNSSEC). */
export interface ZoneDelegationOutputs {
  readonly zoneId: string;
  readonly nameServers?: readonly string[];
  /** "<zone>. 3600 IN DS <key tag> 13 2 <digest>"; absent when DNSSEC is off. */
  readonly ds?: string;
  /** Every record the stack manages in the zone (what `npm run verify` expects DNS to serve). */
  readonly records: readonly DeclaredRecord[];
}

/** Where the backups go, and the keys without which they cannot be restored (secrets). */
export interface BackupOutputs {
  readonly pbs?: {
    readonly storageId: string;
    /** "<server>:<datastore>". */
    readonly datastore: string;
    readonly schedule: string;
    /** The client-side encryption key Proxmox generated (secret): store a copy outside Proxmox. */
    readonly encryptionKey: string;
  };
  readonly offsite?: {
    readonly repository: string;
    readonly schedule: string;
    readonly checkSchedule: string;
    /** The restic repository password (secret): store a copy outside the stack. */
    readonly resticPassword: string;
    /** Run on the mail host to list the snapshots (see the README's restore runbook). */
    readonly restoreCommand: string;
  };
}

export interface StackOutputs {
  readonly environment: "production" | "staging";
  readonly mailHost: {
    readonly hostname: string;
    readonly publicIpv4: string;
    readonly publicIpv6: string;
    readonly lanIpv4: string;
    readonly lanIpv6?: string;
  };
  readonly endpoints: Endpoints;
  /** The lowest TLS version the mail services accept (mailstack:tlsMinVersion). */
  readonly tlsMinVersion: "1.2" | "1.3";
  readonly urls: { readonly webmail: string; readonly admin: string; readonly api: string };
  /** Ports the firewall opens to the internet for the mail host. */
  readonly publicPorts: readonly number[];
  readonly domains: Readonly<Record<string, HostedDomainOutputs>>;
  readonly zones: Readonly<Record<string, ZoneDelegationOutputs>>;
  /** DANE: TLSA 3 1 1 values for `name` (active key first, then the next key during a rollover). */
  readonly tlsa?: { readonly name: string; readonly values: readonly string[] };
  /** The mailcow VM: Proxmox id, its SSH host key (as verified through the guest agent), API and admin UI. */
  readonly vm: {
    readonly id: number;
    readonly sshHostKey: string;
    readonly apiEndpoint: string;
    readonly adminUrl: string;
  };
  /** Initial mailbox passwords (secret); users replace them and enrol 2FA at first login. */
  readonly mailboxInitialPasswords: Readonly<Record<string, string>>;
  /**
   * mailcow's admin account as the stack set it up (secret): the initial password replaces mailcow's
   * default `moohoo`; the admin must choose a new one and enrol a second factor at first login.
   */
  readonly mailcowAdmin: { readonly username: string; readonly initialPassword: string };
  /**
   * The mail host's admin account: its sudo password (secret; SSH takes keys only), read with
   * `pulumi stack output --show-secrets admin`.
   */
  readonly admin: { readonly username: string; readonly sudoPassword: string };
  readonly backup: BackupOutputs;
}

/** T with a pulumi.Input allowed at every level: what the program returns (the SDK resolves nested Outputs). */
export type DeepInput<T> =
  | pulumi.Input<T>
  | (T extends readonly (infer E)[]
      ? readonly DeepInput<E>[]
      : T extends object
        ? { readonly [K in keyof T]: DeepInput<T[K]> }
        : never);
