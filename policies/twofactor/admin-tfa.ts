// The mailcow admin must use a second factor: where the stack manages mailcow tenants, a mailcow
// Admin resource takes the admin over (its provider always sends force_tfa=1, providers/mailcow/policies.ts
// editAdmin), it is the admin the stack reports (output mailcowAdmin.username), and force_tfa as
// read back is on. The stack declares no domain admins; unenforced-logins reports them.
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, isKnown, readUnlessUnknown, unknownProps, stackRule } from "../lib";

export const adminTfa = stackRule(RULES.adminTfa, {
  description:
    "The mailcow admin has force_tfa on: a mailcow Admin resource for the admin the stack reports, with force_tfa read back on.",
  remediationSteps:
    "Let MailcowTenants take over mailstack:mailcow.adminUsername (its admin resource sets the stack's password and force_tfa).",
  validateStack: (args, report) => {
    const admins = args.resources.filter((r) => r.type === TYPES.mailcowAdmin);
    const tenants = args.resources.filter((r) => r.type === TYPES.mailcowDomain || r.type === TYPES.mailbox);
    if (tenants.length > 0 && admins.length === 0)
      report(
        "the stack manages mailcow domains and mailboxes but no mailcow admin resource enforces the admin's 2FA: keep MailcowTenants' admin resource for mailstack:mailcow.adminUsername",
        tenants[0]?.urn,
      );
    for (const admin of admins) {
      // Read back by the provider (refresh, `up`); a preview of a create does not know it yet.
      const forceTfa = readUnlessUnknown(() => unknownProps(admin).forceTfa);
      if (isKnown(forceTfa) && forceTfa === false)
        report(
          `the mailcow admin ${String(readUnlessUnknown(() => unknownProps(admin).username))} has force_tfa off in mailcow: run \`pulumi up\` to turn it on again (the admin resource sends force_tfa=1)`,
          admin.urn,
        );
    }
    const stack = args.resources.find((r) => r.type === TYPES.stack);
    const reported = stack ? readUnlessUnknown(() => asRecord(unknownProps(stack).mailcowAdmin).username) : undefined;
    const usernames = admins.map((r) => readUnlessUnknown(() => unknownProps(r).username));
    // An admin resource whose user only the apply knows may be the admin's: nothing to report then.
    if (typeof reported === "string" && usernames.every(isKnown) && !usernames.includes(reported))
      report(
        `the mailcow admin ${reported} (stack output mailcowAdmin) has no enforced 2FA (no mailcow admin resource for it): keep MailcowTenants' admin resource for mailstack:mailcow.adminUsername`,
        admins[0]?.urn ?? stack?.urn,
      );
  },
});
