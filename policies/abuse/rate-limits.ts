// One compromised account (app passwords bypass the web 2FA) or one abusive client cannot send
// unbounded: MailcowTenants gives every hosted domain and declared mailbox a sending limit of at
// least 1 (its own or the default), each RateLimit it declares is one, and Postfix limits each
// client's connections and messages (MailcowVm). Reads the components' inputs.
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asArray,
  asRecord,
  isKnown,
  readUnlessUnknown,
  unknownProps,
  resourceRule,
  text,
  hasInputs,
} from "../lib";

const positive = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value > 0;
const POSTFIX_LIMITS = ["connectionCount", "connectionRatePerMinute", "messageRatePerMinute"] as const;

export const rateLimits = resourceRule(RULES.rateLimits, {
  description:
    "Every mailcow domain and mailbox the stack declares has a sending limit, and Postfix limits connections and messages per client.",
  remediationSteps:
    "Keep mailstack:limits (limits.mailcow.domain/mailbox, limits.postfix) and any rateLimit in mailstack:domains at 1 or more.",
  validateResource: (args, report) => {
    if (args.type === TYPES.mailcowVm) {
      if (!hasInputs(args)) return;
      const postfix = readUnlessUnknown(() => asRecord(unknownProps(args).postfixLimits));
      if (!isKnown(postfix)) return;
      for (const key of POSTFIX_LIMITS)
        if (!positive(postfix[key]))
          report(`${args.name} has no Postfix ${key} limit: keep mailstack:limits.postfix.${key}`);
      return;
    }
    if (args.type === TYPES.rateLimit) {
      const props = readUnlessUnknown(() => unknownProps(args));
      if (isKnown(props) && !positive(props.value))
        report(`${text(props.scope)} ${text(props.object)} has the sending limit ${text(props.value)}: use 1 or more`);
      return;
    }
    if (args.type !== TYPES.tenants || !hasInputs(args)) return;
    const props = readUnlessUnknown(() => unknownProps(args));
    if (!isKnown(props)) return;
    const defaults = asRecord(props.limits);
    const check = (what: string, own: unknown, fallback: unknown, key: string) => {
      const value = asRecord(own ?? fallback).value;
      if (!positive(value))
        report(
          value === undefined
            ? `${what} has no sending limit: keep mailstack:limits.mailcow.${key}`
            : `${what} has the sending limit ${text(value)}: use 1 or more`,
        );
    };
    for (const domain of asArray(props.domains).map(asRecord)) {
      check(`domain ${text(domain.name)}`, domain.rateLimit, defaults.domain, "domain");
      for (const box of asArray(domain.mailboxes).map(asRecord))
        check(`mailbox ${text(box.localPart)}@${text(domain.name)}`, box.rateLimit, defaults.mailbox, "mailbox");
    }
  },
});
