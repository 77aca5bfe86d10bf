// SPF ends in -all (hard fail) and stays within the 10 DNS lookups of RFC 7208 §4.6.4.
import { RULES } from "../../common/policy-catalog";
import { TYPES, unknownProps, resourceRule, knownString, txtText } from "../lib";

const LOOKUP_TERMS = /^[+\-~?]?(include:|a\b|a:|a\/|mx\b|mx:|mx\/|ptr\b|ptr:|exists:)|^redirect=/i;

/** Problems of an SPF record (its text), empty when it is sound. */
export function spfProblems(text: string): string[] {
  const terms = text.trim().split(/\s+/).slice(1);
  const problems: string[] = [];
  const last = terms
    .filter((t) => !/^[a-z][a-z0-9_.-]*=/i.test(t))
    .at(-1)
    ?.toLowerCase();
  const redirect = terms.some((t) => /^redirect=/i.test(t));
  if (last !== "-all" && !(redirect && last === undefined))
    problems.push(`ends in "${last ?? "nothing"}" instead of "-all": mail from other hosts must hard-fail`);
  const lookups = terms.filter((t) => LOOKUP_TERMS.test(t)).length;
  if (lookups > 10) problems.push(`needs ${lookups} DNS lookups; RFC 7208 allows 10 (flatten includes)`);
  return problems;
}

export const spf = resourceRule(RULES.spf, {
  description: "SPF records end in -all and need at most 10 DNS lookups (counted at the top level).",
  remediationSteps: 'Publish "v=spf1 mx -all" (MailDnsZone does) and avoid include chains.',
  validateResource: (args, report) => {
    if (args.type !== TYPES.dnsRecord || knownString(() => unknownProps(args).type)?.toUpperCase() !== "TXT") return;
    const content = knownString(() => unknownProps(args).content);
    if (content === undefined) return;
    const text = txtText(content);
    if (!/^v=spf1(\s|$)/i.test(text)) return;
    for (const problem of spfProblems(text))
      report(`SPF of ${knownString(() => unknownProps(args).name) ?? args.name} ${problem}`);
  },
});
