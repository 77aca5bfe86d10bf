// Every mailbox the stack declares must enrol a second factor (mailcow force_tfa).
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, isKnown, readUnlessUnknown, unknownProps, resourceRule, text } from "../lib";

export const mailboxTfa = resourceRule(RULES.mailboxTfa, {
  description: "Every mailcow mailbox the stack declares has force_tfa on.",
  remediationSteps: "Remove forceTfa: false from the mailbox in mailstack:domains (the default is true).",
  validateResource: (args, report) => {
    if (args.type === TYPES.mailbox) {
      const spec = readUnlessUnknown(() => asRecord(unknownProps(args).spec));
      if (!isKnown(spec)) return;
      const address = `${text(spec.localPart)}@${text(spec.domain)}`;
      if (spec.forceTfa !== true)
        report(`mailbox ${address} does not have to enrol 2FA: set forceTfa true in mailstack:domains`);
    }
  },
});
