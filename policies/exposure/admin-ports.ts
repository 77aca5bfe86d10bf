// Nothing the admins use is reachable from the internet: SSH, the Proxmox and PBS UIs, the
// pfSense UI, and mailcow's API (which shares 443 with webmail, so its allow-list decides).
import type { PolicyResource } from "@pulumi/policy";
import { RULES } from "../../common/policy-catalog";
import { LIMIT_TEXT, tooWide } from "../../common/cidr";
import {
  TYPES,
  asArray,
  asRecord,
  envValues,
  isKnown,
  isWorldCidr,
  propsOf,
  snapshot,
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

export type PortSet = "any" | Set<number>;

export function parsePorts(entry: string, aliases: ReadonlyMap<string, string[]>, depth = 0): PortSet | undefined {
  const value = entry.trim();
  if (value === "" || value.toLowerCase() === "any") return "any";
  const alias = aliases.get(value);
  if (alias) {
    if (depth > 4) return undefined;
    const ports = new Set<number>();
    for (const item of alias) {
      const inner = parsePorts(item, aliases, depth + 1);
      if (inner === undefined) return undefined;
      if (inner === "any") return "any";
      for (const port of inner) ports.add(port);
    }
    return ports;
  }
  const range = /^(\d+)(?:[:-](\d+))?$/.exec(value);
  if (!range) return undefined;
  const from = Number(range[1]);
  const to = Number(range[2] ?? range[1]);
  const ports = new Set<number>();
  for (let port = from; port <= Math.min(to, 65535); port++) ports.add(port);
  return ports;
}

function exposed(ports: PortSet, watched: ReadonlyMap<number, string>): string[] {
  return [...watched].filter(([port]) => ports === "any" || ports.has(port)).map(([port, what]) => `${what} (${port})`);
}

/** The pfSense object's spec, its unknown fields as UNKNOWN (they parse as no ports, and are skipped). */
function spec(resource: PolicyResource): Record<string, unknown> | undefined {
  const value = snapshot(() => propsOf(resource).spec);
  return isKnown(value) ? asRecord(value) : undefined;
}

export const adminPorts = stackRule(RULES.adminPorts, {
  description:
    "No pfSense rule, port forward or host firewall rule exposes SSH, the Proxmox/PBS/pfSense UIs to the WAN; mailcow's API allow-list (API_ALLOW_FROM) is bounded as a whole.",
  remediationSteps:
    "Reach admin interfaces over the LAN or a VPN; keep mailstack:mailcow.apiAllowFrom to the admin networks.",
  validateStack: (args, report) => {
    const aliases = new Map<string, string[]>();
    for (const alias of args.resources.filter((r) => r.type === `${TYPES.pfsensePrefix}FirewallAlias`)) {
      const value = spec(alias);
      if (value && typeof value.name === "string") aliases.set(value.name, asArray(value.address).map(String));
    }
    const forwards = args.resources.filter((r) => r.type === TYPES.pfsenseForward);
    const wan = new Set(["wan", ...forwards.map((f) => text(spec(f)?.interface ?? "wan"))]);

    for (const forward of forwards) {
      const value = spec(forward);
      if (!value || value.disabled === true) continue;
      // Both ends count: the public port, and the port it reaches on the target (local_port).
      const reached = new Set<string>();
      for (const field of ["destination_port", "local_port"]) {
        if (field === "local_port" && (value[field] === undefined || value[field] === "")) continue;
        const ports = parsePorts(text(value[field] ?? ""), aliases);
        if (ports) for (const what of exposed(ports, ADMIN_PORTS)) reached.add(what);
      }
      for (const what of reached)
        report(
          `port forward ${forward.name} exposes ${what} to the internet: remove it and reach ${what} over the LAN or a VPN`,
          forward.urn,
        );
    }
    for (const rule of args.resources.filter((r) => r.type === TYPES.pfsenseRule)) {
      const value = spec(rule);
      if (!value || value.type !== "pass" || value.disabled === true) continue;
      const interfaces = [value.interface].flat().map(text);
      if (!interfaces.some((i) => wan.has(i))) continue;
      const ports = parsePorts(text(value.destination_port ?? ""), aliases);
      if (!ports) continue;
      for (const what of exposed(ports, ADMIN_PORTS))
        report(
          `WAN rule ${rule.name} passes ${what} from the internet: remove the port, reach it over the LAN or a VPN`,
          rule.urn,
        );
      if (FIREWALL_ITSELF.test(text(value.destination ?? "")))
        for (const what of exposed(ports, FIREWALL_UI_PORTS))
          report(
            `WAN rule ${rule.name} opens ${what} on the firewall itself: give the rule the mail host as destination, not ${text(value.destination ?? "any")}`,
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
