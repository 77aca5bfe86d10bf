// DMARC asks receivers to quarantine or reject failing mail (p=, sp=, for all of it).
import { RULES } from "../../common/policy-catalog";
import { TYPES, unknownProps, resourceRule, knownString, txtText } from "../lib";

const ENFORCING = ["quarantine", "reject"];

export function dmarcProblems(text: string): string[] {
  const tags = new Map(
    text
      .split(";")
      .map((part) => part.trim().split("="))
      .filter((pair): pair is [string, string] => pair.length === 2)
      .map(([key, value]) => [key.trim().toLowerCase(), value.trim().toLowerCase()]),
  );
  const problems: string[] = [];
  const p = tags.get("p");
  if (!p || !ENFORCING.includes(p))
    problems.push(`has p=${p ?? "(missing)"}: use quarantine or reject (mailstack:dmarc.policy)`);
  const sp = tags.get("sp");
  if (sp !== undefined && !ENFORCING.includes(sp))
    problems.push(`has sp=${sp} for subdomains: use quarantine or reject (mailstack:dmarc.subdomainPolicy)`);
  const pct = tags.get("pct");
  if (pct !== undefined && Number(pct) < 100)
    problems.push(`applies to pct=${pct} only: use pct=100 (mailstack:dmarc.pct)`);
  return problems;
}

export const dmarc = resourceRule(RULES.dmarc, {
  description: "The DMARC records quarantine or reject (p and sp) for all mail (mandatory in production).",
  remediationSteps: "Set mailstack:dmarc.policy to quarantine or reject once the aggregate reports are clean.",
  validateResource: (args, report) => {
    if (args.type === TYPES.dnsRecord && knownString(() => unknownProps(args).type)?.toUpperCase() === "TXT") {
      const content = knownString(() => unknownProps(args).content);
      if (content === undefined) return;
      const text = txtText(content);
      if (!/^v=DMARC1\s*(;|$)/i.test(text)) return;
      // "<domain>._report._dmarc.<zone>" authorises external report addresses (RFC 7489 §7.1).
      if (/\._report\._dmarc\./i.test(knownString(() => unknownProps(args).name) ?? "")) return;
      for (const problem of dmarcProblems(text))
        report(`DMARC of ${knownString(() => unknownProps(args).name) ?? args.name} ${problem}`);
    }
  },
});
