// The human summary `npm run plan` prints (pure, from a plan result).
import { countByType } from "./document";
import { redact } from "./engine";
import type { PlanResult } from "./run";

export function summaryLines(stack: string, result: PlanResult): string[] {
  const lines = [`mailstack plan for stack "${stack}" (offline preview, no cloud credentials used)`, ""];
  const counts = countByType(result.run);
  lines.push(`Resources: ${counts.reduce((sum, [, n]) => sum + n, 0)}`);
  for (const [type, n] of counts) lines.push(`  ${String(n).padStart(4)}  ${type}`);
  lines.push("", "Outputs:");
  for (const [key, value] of Object.entries(redact(result.run.outputs) as Record<string, unknown>)) {
    const text = JSON.stringify(value);
    lines.push(`  ${key}: ${text.length > 110 ? `${text.slice(0, 107)}...` : text}`);
  }
  lines.push("", ...policyLines(result));
  lines.push("", ...result.document.notes.map((note) => `Note: ${note}`));
  return lines;
}

/** The policy pack's verdict: every mandatory violation, then the advisory ones by rule. */
export function policyLines(result: PlanResult): string[] {
  const { policy } = result;
  const advisory = policy.findings.filter((f) => f.enforcementLevel === "advisory");
  const lowered = Object.entries(policy.levels).filter(([, level]) => level === "advisory");
  const lines = [
    `Policy pack ${policy.pack}: ${policy.mandatory.length} mandatory violation(s), ${advisory.length} advisory finding(s) (out/<stack>/policy.json)`,
  ];
  for (const finding of policy.mandatory) {
    lines.push(`  MANDATORY ${finding.policy} [${finding.severity}] ${finding.message}`);
    lines.push(`            at ${finding.urn}`);
    const fix = policy.remediation[finding.policy];
    if (fix) lines.push(`            fix: ${fix}`);
  }
  for (const finding of advisory) lines.push(`  advisory  ${finding.policy}: ${finding.message}`);
  if (lowered.length > 0) lines.push(`  Advisory by rule or stack config: ${lowered.map(([name]) => name).join(", ")}`);
  return lines;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The policy verdict as Markdown (out/<stack>/policy.md), for pull request comments. */
export function policyMarkdown(stack: string, policy: PlanResult["policy"]): string {
  const advisory = policy.findings.filter((f) => f.enforcementLevel === "advisory");
  const verdict =
    policy.mandatory.length === 0
      ? `✅ no mandatory violation (${advisory.length} advisory)`
      : `❌ ${policy.mandatory.length} mandatory violation(s), ${advisory.length} advisory`;
  const lines = [`### Policy pack \`${policy.pack}\` on stack \`${stack}\`: ${verdict}`, ""];
  if (policy.findings.length > 0) {
    lines.push("| Level | Rule | Severity | Finding | Resource |", "| --- | --- | --- | --- | --- |");
    for (const f of [...policy.mandatory, ...advisory]) {
      const resource = f.urn.split("::").at(-1) ?? "";
      lines.push(
        `| ${f.enforcementLevel} | \`${f.policy}\` | ${f.severity} | ${cell(f.message)} | ${cell(resource)} |`,
      );
    }
  }
  const fixes = Object.entries(policy.remediation);
  if (fixes.length > 0) {
    lines.push("", "How to fix:", "");
    for (const [name, steps] of fixes) lines.push(`- \`${name}\`: ${steps}`);
  }
  const lowered = Object.entries(policy.levels)
    .filter(([, level]) => level === "advisory")
    .map(([name]) => `\`${name}\``);
  if (lowered.length > 0) lines.push("", `Advisory in this stack: ${lowered.join(", ")}.`);
  return `${lines.join("\n")}\n`;
}
