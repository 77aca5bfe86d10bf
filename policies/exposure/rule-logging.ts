// Every firewall rule the stack owns logs, so blocked probes and passed sessions are visible:
// pfSense rules, port forwards (no unlogged linked rule) and the host firewall (UFW).
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, hostConfigTexts, isKnown, readUnlessUnknown, unknownProps, resourceRule } from "../lib";

/** UFW commands in a host script that pass traffic without logging it, or turn logging off. */
export function unloggedUfwRules(script: string): string[] {
  return script
    .split("\n")
    .map((line) => line.trim())
    .filter(
      (command) =>
        /^ufw\s+logging\s+off\b/.test(command) ||
        (/^ufw\s+(?:insert\s+\d+\s+)?(allow|limit)\b/.test(command) && !/\blog(-all)?\b/.test(command)),
    );
}

export const ruleLogging = resourceRule(RULES.ruleLogging, {
  description:
    "Every pfSense filter rule and every host firewall (UFW) rule logs; no port forward bypasses the logged filter rules.",
  remediationSteps:
    'Set log: true on the rule; give port forwards a separate logged pass rule (associated_rule_id "").',
  validateResource: (args, report) => {
    if (args.type === TYPES.command || args.type === TYPES.snippet) {
      for (const command of new Set(hostConfigTexts(args).flatMap(unloggedUfwRules)))
        report(
          `${args.name}: "${command}" does not log: add "log" after allow/limit, and keep "ufw logging low" or higher`,
        );
      return;
    }
    if (args.type !== TYPES.pfsenseRule && args.type !== TYPES.pfsenseForward) return;
    const spec = readUnlessUnknown(() => asRecord(unknownProps(args).spec));
    if (!isKnown(spec)) return;
    if (args.type === TYPES.pfsenseRule && spec.log !== true)
      report(`firewall rule ${args.name} does not log: set log true`);
    if (args.type === TYPES.pfsenseForward && spec.associated_rule_id === "pass")
      report(
        `port forward ${args.name} passes traffic without a filter rule, so nothing logs it: set associated_rule_id "" and declare a logged pass rule`,
      );
    if (args.type === TYPES.pfsenseForward && spec.associated_rule_id === "new")
      report(
        `port forward ${args.name} makes pfSense create a linked filter rule the stack does not control (or log): set associated_rule_id "" and declare a logged pass rule`,
      );
  },
});
