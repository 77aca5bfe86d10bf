// The rules of the mailstack-security pack: names, severity and whether a stack may lower them.
// A neutral module: the stack config (config/) and the pack (policies/) both read it, neither
// imports the other.
// Pure data (no @pulumi/policy import), so the stack config can validate `mailstack:policy`
// against it. A rule is relaxable only where a monitoring mode is a legitimate stage (staging):
// DMARC and MTA-STS rollouts, off-site backups and deletion protection of a throwaway VM.
import type { EnforcementLevel, Severity } from "@pulumi/policy";

export interface RuleInfo {
  readonly name: string;
  readonly severity: Severity;
  readonly enforcementLevel: EnforcementLevel;
  /** A staging stack may lower it to advisory (`mailstack:policy.advisory`). */
  readonly relaxable: boolean;
}

const rule = (name: string, severity: Severity, relaxable = false, enforcementLevel: EnforcementLevel = "mandatory") =>
  ({ name, severity, relaxable, enforcementLevel }) as const satisfies RuleInfo;

export const RULES = {
  mailTls: rule("mailstack-tls-require-mail-tls12", "critical"),
  zoneTls: rule("mailstack-tls-require-zone-tls12", "high"),
  verifiedConnections: rule("mailstack-tls-require-verified-connections", "critical"),
  mtaSts: rule("mailstack-tls-enforce-mta-sts", "high", true),
  dnssec: rule("mailstack-dns-require-dnssec", "critical"),
  tlsaForMx: rule("mailstack-dns-require-tlsa-for-mx", "high"),
  tlsaNeedsDnssec: rule("mailstack-dns-require-dnssec-for-tlsa", "high"),
  dsOutput: rule("mailstack-dns-require-ds-output", "medium"),
  mailboxTfa: rule("mailstack-2fa-require-mailbox-tfa", "high"),
  adminTfa: rule("mailstack-2fa-require-admin-tfa", "high"),
  cloudflareTfa: rule("mailstack-2fa-require-cloudflare-account-tfa", "high"),
  proxmoxTfa: rule("mailstack-2fa-require-proxmox-realm-tfa", "high"),
  unenforcedLogins: rule("mailstack-2fa-report-unenforced-logins", "low", false, "advisory"),
  spf: rule("mailstack-mail-require-spf-hardfail", "high"),
  dmarc: rule("mailstack-mail-require-dmarc-enforcement", "high", true),
  dkimKeySize: rule("mailstack-mail-require-dkim-key-size", "high"),
  tlsRpt: rule("mailstack-mail-require-tls-rpt", "medium"),
  adminPorts: rule("mailstack-exposure-disallow-admin-ports", "critical"),
  ruleLogging: rule("mailstack-exposure-require-rule-logging", "medium"),
  sshPasswords: rule("mailstack-exposure-disallow-ssh-passwords", "critical"),
  sshSources: rule("mailstack-exposure-restrict-ssh-sources", "critical"),
  exporterSources: rule("mailstack-exposure-restrict-exporter-sources", "critical"),
  vmBackup: rule("mailstack-resilience-require-vm-backup", "high"),
  offsiteBackup: rule("mailstack-resilience-require-offsite-backup", "high", true),
  deletionProtection: rule("mailstack-resilience-require-deletion-protection", "medium", true),
  pfSenseConfigBackup: rule("mailstack-resilience-report-pfsense-config-backup", "medium", false, "advisory"),
  replicatedHa: rule("mailstack-resilience-require-replicated-ha", "high"),
  singleNode: rule("mailstack-resilience-report-single-node", "low", false, "advisory"),
  logShipping: rule("mailstack-ops-require-log-shipping", "high"),
  logRetention: rule("mailstack-ops-require-bounded-log-retention", "high"),
  rateLimits: rule("mailstack-abuse-require-rate-limits", "high"),
} as const;

export const RULE_NAMES: readonly string[] = Object.values(RULES).map((r) => r.name);
export const RELAXABLE_RULES: readonly string[] = Object.values(RULES)
  .filter((r) => r.relaxable)
  .map((r) => r.name);

/**
 * What each stack may relax, by stack name: kept in the pack, never in the stack file under review
 * (a change could otherwise relabel prod as staging and lower everything). Only stacks listed here
 * may be `environment: staging` or lower a rule; every other stack is production and enforces every
 * rule. The pull request review judges with the base branch's copy of this file (CODEOWNERS).
 */
export const STACK_RELAXATIONS: Readonly<Record<string, readonly string[]>> = {
  staging: [RULES.mtaSts.name, RULES.dmarc.name, RULES.offsiteBackup.name, RULES.deletionProtection.name],
};

// The pack is compiled by the Pulumi CLI's own ts-node settings (lib below ES2022 there: no
// Object.hasOwn; the real engine's policy preview found it, test/engine-stack.test.ts).
const known = (stack: string): boolean => Object.prototype.hasOwnProperty.call(STACK_RELAXATIONS, stack);

/** The rules `stack` may lower (empty for a production stack). */
export function relaxableFor(stack: string): readonly string[] {
  return known(stack) ? (STACK_RELAXATIONS[stack] ?? []) : [];
}

/** Whether the pack knows `stack` as a staging stack (one that may relax rules). */
export function isStagingStack(stack: string): boolean {
  return known(stack);
}

/**
 * The enforcement level of every rule for `stack` asking to lower `advisory`: a rule becomes
 * advisory only when the pack allows that stack to lower it (STACK_RELAXATIONS), whatever is asked.
 */
export function enforcementLevels(advisory: readonly string[], stack: string): Record<string, EnforcementLevel> {
  const allowed = relaxableFor(stack);
  return Object.fromEntries(
    Object.values(RULES).map((r) => [
      r.name,
      advisory.includes(r.name) && allowed.includes(r.name) ? "advisory" : r.enforcementLevel,
    ]),
  );
}
