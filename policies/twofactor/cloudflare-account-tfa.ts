// When the stack manages the Cloudflare account, the account enforces two-factor login.
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, isKnown, readUnlessUnknown, unknownProps, resourceRule } from "../lib";

export const cloudflareAccountTfa = resourceRule(RULES.cloudflareTfa, {
  description: "A Cloudflare account managed by the stack enforces two-factor authentication for its members.",
  remediationSteps: "Set settings.enforceTwofactor: true on the cloudflare.Account resource.",
  validateResource: (args, report) => {
    if (args.type !== TYPES.cloudflareAccount) return;
    const settings = readUnlessUnknown(() => asRecord(unknownProps(args).settings));
    if (!isKnown(settings)) return;
    const enforced = readUnlessUnknown(() => asRecord(unknownProps(args).settings).enforceTwofactor);
    if (!isKnown(enforced)) return;
    if (enforced !== true)
      report(`Cloudflare account ${args.name} does not enforce two-factor login: set settings.enforceTwofactor true`);
  },
});
