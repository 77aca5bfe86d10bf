// SSH accepts keys only: no password or keyboard-interactive login anywhere the stack configures sshd.
import { RULES } from "../levels";
import { hostConfigTexts, resourceRule } from "../lib";

export function sshPasswordProblems(text: string): string[] {
  const problems: string[] = [];
  if (/^\s*ssh_pwauth:\s*(true|yes|1)\s*$/im.test(text))
    problems.push("cloud-init turns SSH password login on (ssh_pwauth)");
  if (/^\s*(PasswordAuthentication|KbdInteractiveAuthentication|ChallengeResponseAuthentication)\s+yes\b/im.test(text))
    problems.push("sshd allows password login");
  if (/sshd_config/.test(text) && !/^\s*PasswordAuthentication\s+no\b/im.test(text))
    problems.push("it configures sshd without PasswordAuthentication no");
  return problems;
}

export const sshPasswords = resourceRule(RULES.sshPasswords, {
  description: "SSH password login is off wherever the stack configures sshd (cloud-init, host scripts).",
  remediationSteps:
    "Keep PasswordAuthentication no and KbdInteractiveAuthentication no (render/host-scripts.ts sshdConfig).",
  validateResource: (args, report) => {
    const texts = hostConfigTexts(args);
    for (const problem of new Set(texts.flatMap(sshPasswordProblems))) report(`${args.name}: ${problem}`);
  },
});
