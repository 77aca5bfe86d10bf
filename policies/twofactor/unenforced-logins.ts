// What the stack cannot enforce: reported on every run (advisory), so a reviewer sees the
// login surfaces that need 2FA by other means.
import { RULES } from "../../common/policy-catalog";
import { stackRule, TYPES } from "../lib";
import { realmsWithTfa } from "./proxmox-realm-tfa";

export const unenforcedLogins = stackRule(RULES.unenforcedLogins, {
  description: "Reports the login surfaces whose second factor the stack cannot enforce.",
  remediationSteps: "Enable 2FA for each reported surface by hand and record it in the runbook.",
  validateStack: (args, report) => {
    const has = (type: string) => args.resources.some((r) => r.type === type);
    if (has(TYPES.pfsenseRule) || has(TYPES.pfsenseForward))
      report(
        "pfSense web UI: its REST API cannot require 2FA; give GUI users TOTP (System > User Manager) or an authentication server with 2FA",
      );
    if (has(TYPES.vm) && !realmsWithTfa(args.resources).includes("pam"))
      report(
        "Proxmox root@pam: realm TFA covers the admin realm only; add TOTP or WebAuthn for root@pam (Datacenter > Permissions > Two Factor)",
      );
    if (has(TYPES.mailbox))
      report(
        "mailcow IMAP, SMTP submission, POP3 and ActiveSync: force_tfa protects the web login only; mail clients should use app passwords",
      );
    if (!has(TYPES.cloudflareAccount) && (has(TYPES.dnsRecord) || has(TYPES.zoneDnssec)))
      report(
        'Cloudflare account: not managed by this stack; turn on "Enforce two-factor authentication" for the account members',
      );
    if (has(TYPES.mailcowDomain))
      report(
        "mailcow domain admins: not declared by the stack; give any created in the UI force_tfa (Edit domain administrator)",
      );
  },
});
