// SSH only from the admin networks: the host firewall, pfSense pass rules and the config that
// feeds them.
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asArray,
  asRecord,
  hostConfigTexts,
  isKnown,
  isWorldCidr,
  peek,
  propsOf,
  resourceRule,
  text,
} from "../lib";

/** True when a pfSense port field (number, range or "any") includes 22; aliases are left to admin-ports. */
function includesSsh(field: string): boolean {
  const value = field.trim().toLowerCase();
  if (value === "" || value === "any") return true;
  const range = /^(\d+)(?:[:-](\d+))?$/.exec(value);
  return range !== null && Number(range[1]) <= 22 && 22 <= Number(range[2] ?? range[1]);
}

/** Host firewall commands that open SSH to anyone. */
export function openSshProblems(text: string): string[] {
  const problems: string[] = [];
  for (const line of text.split("\n")) {
    const command = line.trim();
    if (!/^ufw\s+(allow|limit)\b/.test(command)) continue;
    const opensSsh =
      /\bport\s+22\b/.test(command) || /^ufw\s+(allow|limit)\s+(in\s+)?(22(\/tcp)?|ssh|OpenSSH)\b/i.test(command);
    if (!opensSsh) continue;
    const from = /\bfrom\s+(\S+)/.exec(command)?.[1];
    if (from === undefined || isWorldCidr(from)) problems.push(`"${command}" opens SSH to everyone`);
  }
  return problems;
}

export const sshSources = resourceRule(RULES.sshSources, {
  description: "SSH is reachable only from the admin networks (mailstack:admin.sshCidrs).",
  remediationSteps: "List the admin networks in mailstack:admin.sshCidrs; never 0.0.0.0/0 or ::/0.",
  validateResource: (args, report) => {
    if (args.type === TYPES.mailcowVm) {
      const networks = peek(() => asArray(asRecord(propsOf(args).admin).networks).map(String));
      if (!isKnown(networks)) return;
      for (const cidr of networks.filter(isWorldCidr))
        report(`SSH to the mail host is allowed from ${cidr}: limit mailstack:admin.sshCidrs to the admin networks`);
      return;
    }
    if (args.type === TYPES.pfsenseRule) {
      const spec = peek(() => asRecord(propsOf(args).spec));
      if (!isKnown(spec) || spec.type !== "pass" || spec.disabled === true) return;
      if (!["tcp", "tcp/udp", "any", ""].includes(text(spec.protocol ?? "any"))) return;
      const source = text(spec.source ?? "any");
      if (includesSsh(text(spec.destination_port ?? "")) && isWorldCidr(source))
        report(
          `pfSense rule ${args.name} passes SSH (22) from ${source}: limit its source to the admin networks (mailstack:admin.sshCidrs)`,
        );
      return;
    }
    const texts = hostConfigTexts(args);
    for (const problem of new Set(texts.flatMap(openSshProblems))) report(`${args.name}: ${problem}`);
  },
});
