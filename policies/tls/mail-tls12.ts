// Postfix and Dovecot in mailcow accept TLS 1.2 or 1.3 only.
import { RULES } from "../levels";
import { TYPES, isKnown, peek, propsOf, resourceRule, text } from "../lib";

const ALLOWED = ["1.2", "1.3"];

export const mailTls12 = resourceRule(RULES.mailTls, {
  description: "mailcow's Postfix and Dovecot must refuse TLS below 1.2 (BSI TR-02102-2, internet.nl).",
  remediationSteps: 'Set mailstack:tlsMinVersion to "1.2" or "1.3".',
  validateResource: (args, report) => {
    if (args.type !== TYPES.mailcowVm) return;
    const version = peek(() => propsOf(args).tlsMinVersion);
    if (!isKnown(version)) return;
    if (version === undefined) {
      report('the mail host declares no TLS minimum: set mailstack:tlsMinVersion to "1.2" or "1.3"');
    } else if (typeof version !== "string" || !ALLOWED.includes(version)) {
      report(`Postfix and Dovecot would accept TLS ${text(version)}: set mailstack:tlsMinVersion to "1.2" or "1.3"`);
    }
  },
});
