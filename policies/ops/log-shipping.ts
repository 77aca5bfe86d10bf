// The mail host's logs leave it for a collector (syslog over TLS, the CA pinned), or the stack
// declares in writing why they stay local (mailstack:logging.localOnly.reason). Reads MailcowVm's
// inputs (a component's outputs do not carry them).
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, isKnown, peek, propsOf, resourceRule, hasInputs } from "../lib";

const stringOf = (value: unknown) => (typeof value === "string" ? value : "");

export const logShipping = resourceRule(RULES.logShipping, {
  description:
    "The mail host forwards its journal (host and mailcow containers) to a collector, or declares local-only logs with a reason.",
  remediationSteps:
    "Configure mailstack:logging.forward (host, caCertificate), or mailstack:logging.localOnly.reason saying why logs stay on the host.",
  validateResource: (args, report) => {
    if (args.type !== TYPES.mailcowVm || !hasInputs(args)) return;
    const logging = peek(() => asRecord(propsOf(args).logging));
    if (!isKnown(logging)) return;
    const forward = asRecord(logging.forward);
    const forwarded = stringOf(forward.host) !== "" && stringOf(forward.caCertificate).includes("BEGIN CERTIFICATE");
    if (!forwarded && stringOf(logging.localOnlyReason).trim() === "")
      report(
        `${args.name} neither ships its logs nor says why not: configure mailstack:logging.forward or mailstack:logging.localOnly.reason`,
      );
  },
});
