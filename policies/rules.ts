// Every rule of the mailstack-security pack, in one array: the pack (index.ts), the offline
// plan and the tests use this list. Nothing here starts the policy server.
import type { Policies } from "@pulumi/policy";
import { dnssec } from "./dns/dnssec";
import { dnssecForTlsa } from "./dns/dnssec-for-tlsa";
import { dsOutput } from "./dns/ds-output";
import { tlsaForMx } from "./dns/tlsa-for-mx";
import { adminPorts } from "./exposure/admin-ports";
import { exporterSources } from "./exposure/exporter-sources";
import { ruleLogging } from "./exposure/rule-logging";
import { sshPasswords } from "./exposure/ssh-passwords";
import { sshSources } from "./exposure/ssh-sources";
import { dkimKeySize } from "./mail/dkim-key-size";
import { dmarc } from "./mail/dmarc";
import { spf } from "./mail/spf";
import { tlsRpt } from "./mail/tls-rpt";
import { rateLimits } from "./abuse/rate-limits";
import { logRetention } from "./ops/log-retention";
import { logShipping } from "./ops/log-shipping";
import { deletionProtection } from "./resilience/deletion-protection";
import { offsiteBackup } from "./resilience/offsite-backup";
import { pfSenseConfigBackup } from "./resilience/pfsense-config-backup";
import { replicatedHa, singleNode } from "./resilience/replicated-ha";
import { vmBackup } from "./resilience/vm-backup";
import { mailTls12 } from "./tls/mail-tls12";
import { mtaSts } from "./tls/mta-sts";
import { verifiedConnections } from "./tls/verified-connections";
import { zoneTls12 } from "./tls/zone-tls12";
import { adminTfa } from "./twofactor/admin-tfa";
import { cloudflareAccountTfa } from "./twofactor/cloudflare-account-tfa";
import { mailboxTfa } from "./twofactor/mailbox-tfa";
import { proxmoxRealmTfa } from "./twofactor/proxmox-realm-tfa";
import { unenforcedLogins } from "./twofactor/unenforced-logins";

export const policies: Policies = [
  mailTls12,
  zoneTls12,
  verifiedConnections,
  mtaSts,
  dnssec,
  tlsaForMx,
  dnssecForTlsa,
  dsOutput,
  mailboxTfa,
  adminTfa,
  cloudflareAccountTfa,
  proxmoxRealmTfa,
  unenforcedLogins,
  spf,
  dmarc,
  dkimKeySize,
  tlsRpt,
  adminPorts,
  ruleLogging,
  sshPasswords,
  sshSources,
  exporterSources,
  vmBackup,
  offsiteBackup,
  pfSenseConfigBackup,
  deletionProtection,
  replicatedHa,
  singleNode,
  logShipping,
  logRetention,
  rateLimits,
];
