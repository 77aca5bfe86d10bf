// Every firewall rule the stack owns logs, so blocked probes and passed sessions are visible.
import { RULES } from "../levels";
import { TYPES, asRecord, isKnown, peek, propsOf, resourceRule } from "../lib";

export const ruleLogging = resourceRule(RULES.ruleLogging, {
  description: "Every pfSense filter rule logs; no port forward bypasses the (logging) filter rules.",
  remediationSteps:
    'Set log: true on the rule; give port forwards a separate logged pass rule (associated_rule_id "").',
  validateResource: (args, report) => {
    if (args.type !== TYPES.pfsenseRule && args.type !== TYPES.pfsenseForward) return;
    const spec = peek(() => asRecord(propsOf(args).spec));
    if (!isKnown(spec)) return;
    if (args.type === TYPES.pfsenseRule && spec.log !== true)
      report(`firewall rule ${args.name} does not log: set log true`);
    if (args.type === TYPES.pfsenseForward && spec.associated_rule_id === "pass")
      report(
        `port forward ${args.name} passes traffic without a filter rule, so nothing logs it: use a logged pass rule`,
      );
  },
});
