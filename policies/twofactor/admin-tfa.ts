// The mailcow admin must use a second factor. The stack declares no domain admins (mailcow's
// domain admins are created in the UI); unenforced-logins reports them as a surface to cover.
import { RULES } from "../../common/policy-catalog";
import { TYPES, isKnown, peek, propsOf, stackRule, str } from "../lib";

export const adminTfa = stackRule(RULES.adminTfa, {
  description: "The mailcow admin has force_tfa on.",
  remediationSteps:
    "Let MailcowTenants take over mailstack:mailcow.adminUsername (its admin resource sets the stack's password and force_tfa).",
  validateStack: (args, report) => {
    const usernames = args.resources
      .filter((r) => r.type === TYPES.mailcowAdmin)
      .map((r) => peek(() => propsOf(r).username));
    // An admin resource whose user only the apply knows may be the admin's: nothing to report then.
    const enforced = usernames.every(isKnown) ? new Set(usernames) : undefined;
    for (const tenants of args.resources.filter((r) => r.type === TYPES.tenants)) {
      const admin = str(() => propsOf(tenants).adminUsername);
      if (enforced && admin !== undefined && !enforced.has(admin))
        report(
          `the mailcow admin ${admin} has no enforced 2FA (no mailcow admin resource for it): keep MailcowTenants' admin resource for mailstack:mailcow.adminUsername`,
          tenants.urn,
        );
    }
  },
});
