// The engine test stack's resources: the project's dynamic providers (providers/pfsense/,
// providers/mailcow/ and providers/proxmox/, through their public resource classes) as the
// components use them — marker-owned pfSense objects applied once, a mailcow domain with its DKIM
// key, a mailbox and the admin account (the stack's password, forced 2FA), the PBS storage with
// the stack's key and its backup job (components/backup-job.ts) — against the endpoints in the
// stack config (the fakes the test runs on loopback).
// Used by index.ts on the real engine and by the test on the mock engine (plan/engine.ts).
import * as pulumi from "@pulumi/pulumi";
import { MailcowAdmin, MailcowDkimKey, MailcowDomain, MailcowMailbox } from "../../providers/mailcow/resources";
import { applyRevision, PfSenseApply, PfSenseObject } from "../../providers/pfsense/resources";
import { PveBackupJob, PvePbsStorage } from "../../providers/proxmox/resources";

/** Markers of the pfSense objects this stack owns (they are in each object's descr). */
export const MARKERS = {
  alias: "[mailstack:engine-test:alias:mail-host]",
  rule: "[mailstack:engine-test:rule:smtp-in]",
  forward: "[mailstack:engine-test:nat:smtp]",
} as const;

export const ALIAS_NAME = "mailstack_engine_mail";
/** The mail host's address unless the stack sets CONFIG.mailHost (a network edit). */
export const MAIL_HOST = "10.3.0.4";
export const PBS_STORAGE = "pbs-mailstack-engine";
export const BACKUP_JOB = "mailstack-engine-mail";

/** The config keys the stack reads (namespace: the project name). */
export const CONFIG = {
  pfsenseEndpoint: "pfsenseEndpoint",
  pfsenseCa: "pfsenseCa",
  pfsenseApiKey: "pfsenseApiKey",
  mailcowEndpoint: "mailcowEndpoint",
  mailcowCa: "mailcowCa",
  mailcowApiKey: "mailcowApiKey",
  domain: "domain",
  mailboxPassword: "mailboxPassword",
  /** The password the stack gives mailcow's admin (it takes over the default `admin`). */
  adminPassword: "adminPassword",
  dkimPrivateKey: "dkimPrivateKey",
  /** The mail host's address (default MAIL_HOST). */
  mailHost: "mailHost",
  pveEndpoint: "pveEndpoint",
  pveCa: "pveCa",
  /** PVE API token `user@realm!name=secret` (secret). */
  pveToken: "pveToken",
  pbsUser: "pbsUser",
  /** The PBS user's password (secret; rotating it is a day-2 change). */
  pbsPassword: "pbsPassword",
  /** SHA-256 fingerprint of the PBS certificate. */
  pbsFingerprint: "pbsFingerprint",
  /** The stack's PBS key file (secret; render/pbs-key.ts format). */
  pbsKey: "pbsKey",
  /** false declares the mailbox without 2FA (the policy pack must refuse it). */
  mailboxForceTfa: "mailboxForceTfa",
} as const;

export function engineStack() {
  const config = new pulumi.Config();
  const pfsense = {
    endpoint: config.require(CONFIG.pfsenseEndpoint),
    apiKey: config.requireSecret(CONFIG.pfsenseApiKey),
    caCertificate: config.require(CONFIG.pfsenseCa),
  };
  const mailcow = {
    endpoint: config.require(CONFIG.mailcowEndpoint),
    apiKey: config.requireSecret(CONFIG.mailcowApiKey),
    caCertificate: config.require(CONFIG.mailcowCa),
  };
  const pve = {
    endpoint: config.require(CONFIG.pveEndpoint),
    apiKey: config.requireSecret(CONFIG.pveToken),
    caCertificate: config.require(CONFIG.pveCa),
  };
  const domain = config.require(CONFIG.domain);
  const mailHost = config.get(CONFIG.mailHost) ?? MAIL_HOST;

  const alias = new PfSenseObject("mail-host", {
    connection: pfsense,
    kind: "alias",
    marker: MARKERS.alias,
    spec: { name: ALIAS_NAME, type: "host", address: [mailHost], descr: `${MARKERS.alias} mail host` },
  });
  const rule = new PfSenseObject(
    "smtp-in",
    {
      connection: pfsense,
      kind: "rule",
      marker: MARKERS.rule,
      spec: {
        type: "pass",
        interface: ["wan"],
        ipprotocol: "inet",
        protocol: "tcp",
        source: "any",
        destination: ALIAS_NAME,
        destination_port: "25",
        log: true,
        descr: `${MARKERS.rule} SMTP to the mail host`,
      },
      // The stack's only WAN rule, after the admin's WAN rules (components/pfsense-rules.ts gets
      // this from render/firewall-plan.ts rulePlacement).
      placement: { group: [MARKERS.rule], anchor: "last" },
    },
    { dependsOn: [alias] },
  );
  const forward = new PfSenseObject(
    "smtp-forward",
    {
      connection: pfsense,
      kind: "port_forward",
      marker: MARKERS.forward,
      spec: {
        interface: "wan",
        ipprotocol: "inet",
        protocol: "tcp",
        source: "any",
        destination: "wan:ip",
        destination_port: "25",
        target: mailHost,
        local_port: "25",
        natreflection: "purenat",
        associated_rule_id: "",
        descr: `${MARKERS.forward} SMTP forward`,
      },
    },
    { dependsOn: [alias] },
  );
  const objects = [alias, rule, forward];
  const apply = new PfSenseApply(
    "pfsense-apply",
    { connection: pfsense, revision: pulumi.all(objects.map((object) => object.writeId)).apply(applyRevision) },
    { dependsOn: objects },
  );

  const mailDomain = new MailcowDomain(domain, {
    connection: mailcow,
    spec: {
      domain,
      description: "engine test domain",
      maxAliases: 40,
      maxMailboxes: 5,
      defaultMailboxQuotaMiB: 1024,
      maxMailboxQuotaMiB: 2048,
      quotaMiB: 4096,
      active: true,
    },
    adopt: false,
  });
  const dkim = new MailcowDkimKey(
    `${domain}-dkim`,
    { connection: mailcow, domain, selector: "dkim", privateKeyPem: config.requireSecret(CONFIG.dkimPrivateKey) },
    { dependsOn: [mailDomain] },
  );
  const mailbox = new MailcowMailbox(
    `postmaster@${domain}`,
    {
      connection: mailcow,
      spec: {
        localPart: "postmaster",
        domain,
        name: "Postmaster",
        quotaMiB: 1024,
        active: true,
        forceTfa: config.getBoolean(CONFIG.mailboxForceTfa) ?? true,
      },
      password: config.requireSecret(CONFIG.mailboxPassword),
      forcePasswordUpdate: true,
      adopt: false,
    },
    { dependsOn: [mailDomain] },
  );
  const admin = new MailcowAdmin("admin", {
    connection: mailcow,
    username: "admin",
    password: config.requireSecret(CONFIG.adminPassword),
  });

  // As components/backup-job.ts declares them (there the key comes from random.RandomBytes, whose
  // provider the Go module proxy refuses; here from the stack config).
  const storage = new PvePbsStorage("pbs", {
    connection: pve,
    storage: PBS_STORAGE,
    server: "pbs.engine.example",
    datastore: "store1",
    username: config.require(CONFIG.pbsUser),
    password: config.requireSecret(CONFIG.pbsPassword),
    fingerprint: config.require(CONFIG.pbsFingerprint),
    nodes: ["pve"],
    encryptionKey: config.requireSecret(CONFIG.pbsKey),
  });
  new PveBackupJob("backup-vm", {
    connection: pve,
    jobId: BACKUP_JOB,
    comment: "mailstack engine test: managed by Pulumi",
    storage: storage.storage,
    vmids: [100],
    schedule: "*-*-* 02:00",
    mode: "snapshot",
    compress: "zstd",
    pruneBackups: { "keep-daily": 7, "keep-weekly": 4 },
    mailNotification: "failure",
    mailTo: [`postmaster@${domain}`],
    enabled: true,
    repeatMissed: true,
    notesTemplate: "{{guestname}} (mailstack)",
  });

  return {
    mailbox: mailbox.id,
    dkimPublicKey: dkim.publicKey,
    adminForcesTfa: admin.forceTfa,
    firewallApplied: apply.applied,
    aliasPosition: alias.position,
    pbsKeyFingerprint: storage.keyFingerprint,
  };
}
