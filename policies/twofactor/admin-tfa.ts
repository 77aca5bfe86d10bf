// The mailcow admin and every domain admin the stack declares must use a second factor.
import { RULES } from "../levels";
import { TYPES, asRecord, isKnown, peek, propsOf, stackRule, str } from "../lib";

export const adminTfa = stackRule(RULES.adminTfa, {
  description: "The mailcow admin and every domain admin the stack declares have force_tfa on.",
  remediationSteps:
    "Let MailcowTenants enforce 2FA for mailstack:mailcow.adminUsername; declare domain admins with forceTfa true.",
  validateStack: (args, report) => {
    const usernames = args.resources
      .filter((r) => r.type === TYPES.adminTfa)
      .map((r) => peek(() => propsOf(r).username));
    // An AdminTfa whose user only the apply knows may be the admin's: nothing to report then.
    const enforced = usernames.every(isKnown) ? new Set(usernames) : undefined;
    for (const tenants of args.resources.filter((r) => r.type === TYPES.tenants)) {
      const admin = str(() => propsOf(tenants).adminUsername);
      if (enforced && admin !== undefined && !enforced.has(admin))
        report(`the mailcow admin ${admin} has no enforced 2FA (no AdminTfa resource for it)`, tenants.urn);
    }
    for (const domainAdmin of args.resources.filter((r) => r.type === TYPES.domainAdmin)) {
      const forceTfa = peek(() => asRecord(propsOf(domainAdmin).spec).forceTfa);
      if (!isKnown(forceTfa) || forceTfa === true) continue;
      const username = str(() => asRecord(propsOf(domainAdmin).spec).username) ?? domainAdmin.name;
      report(`domain admin ${username} does not have to enrol 2FA: set forceTfa true`, domainAdmin.urn);
    }
  },
});
