// SSH only from the admin networks: every host firewall rule for port 22 (the bring-up scripts and
// cloud-init), judged one by one and as a union, and pfSense pass rules.
import { LIMIT_TEXT, tooWide } from "../../common/cidr";
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asRecord,
  hostConfigTexts,
  isKnown,
  isWorldCidr,
  readUnlessUnknown,
  unknownProps,
  resourceRule,
  text,
  ufwAllows,
  ufwPortIncludes,
} from "../lib";

/** True when a pfSense port field (number, range or "any") includes 22; aliases are left to admin-ports. */
function includesSsh(field: string): boolean {
  const value = field.trim().toLowerCase();
  if (value === "" || value === "any") return true;
  const range = /^(\d+)(?:[:-](\d+))?$/.exec(value);
  return range !== null && Number(range[1]) <= 22 && 22 <= Number(range[2] ?? range[1]);
}

/** Host firewall commands of a script that open SSH too widely: to anyone, or together to too much. */
export function openSshProblems(text: string): string[] {
  const ssh = ufwAllows(text).filter((allow) => ufwPortIncludes(allow.port, 22, "ssh") || allow.port === "openssh");
  const problems = ssh
    .filter((allow) => allow.from === undefined || isWorldCidr(allow.from))
    .map((allow) => `"${allow.command}" opens SSH to everyone`);
  // The union of the rest: entries reported above are not counted twice.
  const sources = ssh.flatMap((allow) => (allow.from === undefined || isWorldCidr(allow.from) ? [] : [allow.from]));
  for (const { family, size } of tooWide(sources))
    problems.push(
      `its SSH rules together admit ${size} of public IPv${family} (${sources.join(", ")}); an admin allow-list is ${LIMIT_TEXT}: limit mailstack:admin.sshCidrs to the admin networks`,
    );
  return problems;
}

export const sshSources = resourceRule(RULES.sshSources, {
  description:
    "SSH is reachable only from the admin networks (mailstack:admin.sshCidrs): no host firewall rule from anywhere, their union bounded, no pfSense pass rule from the world.",
  remediationSteps:
    "List the admin networks in mailstack:admin.sshCidrs; never 0.0.0.0/0, ::/0 or lists that add up to it.",
  validateResource: (args, report) => {
    if (args.type === TYPES.pfsenseRule) {
      const spec = readUnlessUnknown(() => asRecord(unknownProps(args).spec));
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
