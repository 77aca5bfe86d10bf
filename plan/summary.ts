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
  lines.push("", ...result.document.notes.map((note) => `Note: ${note}`));
  return lines;
}
