// SSH accepts keys only: no password or keyboard-interactive login anywhere the stack configures sshd.
import { RULES } from "../../common/policy-catalog";
import { hostConfigTexts, resourceRule } from "../lib";

/**
 * What a resource's texts (a script and the payloads it carries, or a snippet) do to sshd. They
 * are judged together: a script names sshd_config, the drop-in it installs says PasswordAuthentication no.
 */
export function sshPasswordProblems(texts: readonly string[]): string[] {
  const text = texts.join("\n");
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
    "Keep PasswordAuthentication no and KbdInteractiveAuthentication no (render/host-files.ts sshdConfig).",
  validateResource: (args, report) => {
    for (const problem of sshPasswordProblems(hostConfigTexts(args))) report(`${args.name}: ${problem}`);
  },
});
