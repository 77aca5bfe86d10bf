// Nothing the admins use is reachable from the internet: SSH, the Proxmox and PBS UIs, the
// pfSense UI, and mailcow's API (which shares 443 with webmail, so its allow-list decides).
import { RULES } from "../../common/policy-catalog";
import { LIMIT_TEXT, tooWide } from "../../common/cidr";
import {
  envValues,
  isWorldCidr,
  pfsenseIngress,
  reachedServices,
  stackHostTexts,
  stackRule,
  text,
  ufwAllows,
  ufwPortIncludes,
} from "../lib";

/** Port → what an admin reaches there. */
export const ADMIN_PORTS: ReadonlyMap<number, string> = new Map([
  [22, "SSH"],
  [8006, "the Proxmox VE UI/API"],
  [8007, "the Proxmox Backup Server UI/API"],
]);
/** Ports of the pfSense UI when a rule targets the firewall itself. */
const FIREWALL_UI_PORTS: ReadonlyMap<number, string> = new Map([
  [22, "the pfSense SSH"],
  [80, "the pfSense web UI"],
  [443, "the pfSense web UI"],
]);
/** Destinations that include the firewall's own addresses ("any" does too). */
const FIREWALL_ITSELF = /^(any|\(self\)|this firewall|[a-z0-9_]+:ip|wanip)?$/i;

export const adminPorts = stackRule(RULES.adminPorts, {
  description:
    "No pfSense rule, port forward or host firewall rule exposes SSH, the Proxmox/PBS/pfSense UIs to the WAN; mailcow's API allow-list (API_ALLOW_FROM) is bounded as a whole.",
  remediationSteps:
    "Reach admin interfaces over the LAN or a VPN; keep mailstack:mailcow.apiAllowFrom to the admin networks.",
  validateStack: (args, report) => {
    const { forwards, passRules } = pfsenseIngress(args.resources);
    for (const { resource: forward, ports } of forwards) {
      // Both ends count: the public port, and the port it reaches on the target (local_port).
      const reached = new Set(ports.flatMap((set) => reachedServices(set, ADMIN_PORTS)));
      for (const what of reached)
        report(
          `port forward ${forward.name} exposes ${what} to the internet: remove it and reach ${what} over the LAN or a VPN`,
          forward.urn,
        );
    }
    for (const { resource: rule, spec, ports, onWan } of passRules) {
      if (!onWan) continue;
      for (const what of reachedServices(ports, ADMIN_PORTS))
        report(
          `WAN rule ${rule.name} passes ${what} from the internet: remove the port, reach it over the LAN or a VPN`,
          rule.urn,
        );
      if (FIREWALL_ITSELF.test(text(spec.destination ?? "")))
        for (const what of reachedServices(ports, FIREWALL_UI_PORTS))
          report(
            `WAN rule ${rule.name} opens ${what} on the firewall itself: give the rule the mail host as destination, not ${text(spec.destination ?? "any")}`,
            rule.urn,
          );
    }
    // The mail host's own firewall (bring-up scripts and cloud-init): admin ports open to anyone.
    // mailcow's API shares 443 with webmail, so the allow-list in mailcow.conf is what keeps it in.
    for (const { urn, texts } of stackHostTexts(args.resources)) {
      const reported = new Set<string>();
      for (const allow of texts.flatMap(ufwAllows)) {
        if (allow.from !== undefined && !isWorldCidr(allow.from)) continue;
        for (const [port, what] of ADMIN_PORTS)
          if (ufwPortIncludes(allow.port, port, port === 22 ? "ssh" : undefined) && !reported.has(what)) {
            reported.add(what);
            report(
              `the mail host's firewall opens ${what} (${port}) to the internet ("${allow.command}"): remove the port from the public ports, reach it over the LAN or a VPN`,
              urn,
            );
          }
      }
      for (const value of new Set(texts.flatMap((t) => envValues(t, "API_ALLOW_FROM")))) {
        const entries = value
          .split(",")
          .map((entry) => entry.trim())
          .filter((entry) => entry !== "");
        const world = entries.filter(isWorldCidr);
        if (entries.length === 0 || world.length > 0)
          report(
            `mailcow's API accepts keys from ${world.join(", ") || "anywhere (API_ALLOW_FROM is empty)"}: limit mailstack:mailcow.apiAllowFrom to the admin networks`,
            urn,
          );
        else
          for (const { family, size } of tooWide(entries))
            report(
              `mailcow's API accepts keys from ${size} of public IPv${family} (API_ALLOW_FROM=${value}); an allow-list is ${LIMIT_TEXT}: limit mailstack:mailcow.apiAllowFrom to the admin networks`,
              urn,
            );
      }
    }
  },
});
