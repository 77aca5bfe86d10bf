// The mail host's pfSense rules as a plan (pure): aliases, IPv4 port forwards, IPv4/IPv6 pass
// rules from the WAN and the host's egress rules, every rule logged and marked with a stable
// marker the provider uses to find its own objects. Nothing else is opened. The marker comes
// first in each description: pfSense puts the description into the pf label, and the firewall
// log shows only its first 52 characters (pfSense filter.inc: PFLABEL_MAXLEN 63 minus
// "USER_RULE: ", fix_rule_label cuts the end).
import { sha256Hex } from "./hash";

export interface FirewallPlanInput {
  /** Marker namespace, e.g. the stack name: objects are tagged "[mailstack:<namespace>:<key>]". */
  readonly namespace: string;
  readonly wanInterface: string;
  readonly lanInterface: string;
  /** The VM's LAN IPv4 (NAT target). */
  readonly hostIpv4: string;
  /** The VM's public IPv6 (routed, no NAT). */
  readonly hostPublicIpv6: string;
  /** All addresses the VM sends from (LAN IPv4, LAN IPv6, public IPv6). */
  readonly hostAddresses: readonly string[];
  /** TCP ports open to the internet. */
  readonly publicPorts: readonly number[];
  /** The networks Prometheus scrapes the host's exporters from, the interface they arrive on, the ports. */
  readonly monitoring?: {
    readonly interface: string;
    readonly sources: readonly string[];
    readonly ports: readonly number[];
  };
}

export interface AliasSpec {
  readonly key: string;
  readonly name: string;
  readonly type: "host" | "network" | "port";
  readonly address: readonly string[];
  readonly descr: string;
}

export interface PortForwardSpec {
  readonly key: string;
  readonly interface: string;
  readonly ipprotocol: "inet";
  readonly protocol: "tcp";
  readonly source: string;
  readonly destination: string;
  readonly destination_port: string;
  readonly target: string;
  readonly local_port: string;
  /**
   * Pure NAT reflection: hosts on the internal networks that use the public IPv4 are redirected
   * to the mail host by pf itself ("enable" would be pfSense's NAT + proxy: TCP only, every
   * reflected connection coming from the firewall's address; filter.inc
   * filter_nat_rules_generate, reflection_type "purenat" vs "proxy").
   */
  readonly natreflection: "purenat";
  readonly associated_rule_id: "";
  readonly descr: string;
}

export interface FilterRuleSpec {
  readonly key: string;
  readonly type: "pass" | "block";
  readonly interface: readonly string[];
  readonly ipprotocol: "inet" | "inet6" | "inet46";
  readonly protocol: "tcp" | "udp" | "tcp/udp" | null;
  readonly source: string;
  readonly destination: string;
  readonly destination_port: string | null;
  readonly log: true;
  readonly descr: string;
}

/**
 * Where the stack's rules of an interface go among that interface's other rules:
 * - "last": after all of them, so the admin's block rules (blocklists, GeoIP) still apply to the
 *   traffic the stack's pass rules let in, but above a final block-everything rule;
 * - "before-first-pass": directly above the first pass rule that is not the stack's (on the LAN,
 *   "Default allow LAN to any rule"), so the stack's block rule stops the mail host before a
 *   broader allow, and the admin's block rules above still apply.
 */
export type RuleAnchor = "last" | "before-first-pass";

export interface FirewallPlan {
  readonly aliases: readonly AliasSpec[];
  readonly portForwards: readonly PortForwardSpec[];
  /** Filter rules in evaluation order per interface (first match wins). */
  readonly rules: readonly FilterRuleSpec[];
  /** Per interface: where its rules go (see RuleAnchor). */
  readonly anchors: Readonly<Record<string, RuleAnchor>>;
}

/** "[mailstack:<namespace>:<key>]": how the provider recognises its own objects. */
export function marker(namespace: string, key: string): string {
  return `[mailstack:${namespace}:${key}]`;
}

/** The marker a description starts with. */
export function markerOf(descr: string): string {
  return /^\[mailstack:[^\]]+\]/.exec(descr)?.[0] ?? descr;
}

/** Where a rule goes: the markers of the stack's rules on its interface, in order, and their anchor. */
export function rulePlacement(plan: FirewallPlan, rule: FilterRuleSpec): { group: string[]; anchor: RuleAnchor } {
  const name = rule.interface[0] ?? "";
  return {
    group: plan.rules.filter((other) => other.interface[0] === name).map((other) => markerOf(other.descr)),
    anchor: plan.anchors[name] ?? "last",
  };
}

const ALIAS_NAME_MAX = 31;

function aliasName(namespace: string, role: string): string {
  // pfSense: ≤ 31 characters, letters, digits and underscores. A long stack name is shortened
  // and tagged with a hash of the whole name, so that the roles stay whole (distinct) and two
  // long stack names with one prefix still differ.
  const clean = (text: string) => text.replace(/[^A-Za-z0-9_]/g, "_");
  const name = clean(`ms_${namespace}_${role}`);
  if (name.length <= ALIAS_NAME_MAX) return name;
  const tag = sha256Hex(namespace).slice(0, 6);
  const room = ALIAS_NAME_MAX - `ms__${tag}_${role}`.length;
  return clean(`ms_${namespace.slice(0, Math.max(room, 0))}_${tag}_${role}`);
}

/** Ports the host reaches on the internet: SMTP out, DNS, HTTP(S) for ACME, images and updates, NTP. */
export const EGRESS = {
  smtp: [25, 465, 587],
  web: [80, 443],
  dns: [53],
  ntp: [123],
} as const;

export function firewallPlan(input: FirewallPlanInput): FirewallPlan {
  const ns = input.namespace;
  const describe = (key: string, text: string) => `${marker(ns, key)} ${text}`;
  const alias = (
    key: string,
    type: AliasSpec["type"],
    address: readonly (string | number)[],
    text: string,
  ): AliasSpec => ({
    key: `alias-${key}`,
    name: aliasName(ns, key.replace(/-/g, "_")),
    type,
    address: address.map(String),
    descr: describe(`alias-${key}`, text),
  });
  const mailPorts = alias("mail-ports", "port", input.publicPorts, "mail host: ports open to the internet");
  const host = alias("mail-host", "host", input.hostAddresses, "mail host: its addresses");
  const smtpOut = alias("smtp-out", "port", EGRESS.smtp, "mail host: SMTP to other servers");
  const webOut = alias("web-out", "port", EGRESS.web, "mail host: HTTP/HTTPS (ACME, images, updates)");

  const rule = (
    key: string,
    fields: Omit<FilterRuleSpec, "key" | "log" | "descr" | "interface"> & { interface: string },
    text: string,
  ): FilterRuleSpec => ({ key, ...fields, interface: [fields.interface], log: true, descr: describe(key, text) });

  const wan = input.wanInterface;
  const lan = input.lanInterface;
  /** A pass rule from the mail host to the internet, for one service. */
  const egress = (key: string, protocol: FilterRuleSpec["protocol"], port: string, text: string): FilterRuleSpec =>
    rule(
      key,
      {
        type: "pass",
        interface: lan,
        ipprotocol: "inet46",
        protocol,
        source: host.name,
        destination: "any",
        destination_port: port,
      },
      text,
    );
  const monitoring = input.monitoring && {
    ...input.monitoring,
    sources: alias(
      "monitoring-sources",
      "network",
      input.monitoring.sources,
      "monitoring: networks Prometheus scrapes from",
    ),
    ports: alias("monitoring-ports", "port", input.monitoring.ports, "mail host: exporter ports"),
  };
  return {
    // The WAN group only passes: last on the WAN. The LAN group ends in a block for the host: above
    // the LAN's first other pass rule.
    anchors: { [wan]: "last", [lan]: "before-first-pass" },
    aliases: [mailPorts, host, smtpOut, webOut, ...(monitoring ? [monitoring.sources, monitoring.ports] : [])],
    portForwards: [
      {
        key: "nat-mail-ipv4",
        interface: wan,
        ipprotocol: "inet",
        protocol: "tcp",
        source: "any",
        destination: "wan:ip",
        destination_port: mailPorts.name,
        target: input.hostIpv4,
        local_port: mailPorts.name,
        natreflection: "purenat",
        associated_rule_id: "",
        descr: describe("nat-mail-ipv4", "mail ports to the mail host (IPv4 NAT)"),
      },
    ],
    rules: [
      // From the internet: the NATed IPv4 traffic (filter rules see the translated destination),
      // and IPv6 routed to the host's public address.
      rule(
        "wan-mail-ipv4",
        {
          type: "pass",
          interface: wan,
          ipprotocol: "inet",
          protocol: "tcp",
          source: "any",
          destination: input.hostIpv4,
          destination_port: mailPorts.name,
        },
        "mail ports to the mail host (IPv4, after NAT)",
      ),
      rule(
        "wan-mail-ipv6",
        {
          type: "pass",
          interface: wan,
          ipprotocol: "inet6",
          protocol: "tcp",
          source: "any",
          destination: input.hostPublicIpv6,
          destination_port: mailPorts.name,
        },
        "mail ports to the mail host (IPv6)",
      ),
      // Prometheus scrapes the exporters on the host's LAN IPv4, from the monitoring networks only.
      ...(monitoring
        ? [
            rule(
              "monitoring-in",
              {
                type: "pass",
                interface: monitoring.interface,
                ipprotocol: "inet",
                protocol: "tcp",
                source: monitoring.sources.name,
                destination: input.hostIpv4,
                destination_port: monitoring.ports.name,
              },
              "mail host: monitoring (Prometheus scrapes the exporters)",
            ),
          ]
        : []),
      // From the host: only what it needs, everything else blocked and logged.
      egress("lan-smtp-out", "tcp", smtpOut.name, "mail host: SMTP out"),
      egress(
        "lan-dns-out",
        "tcp/udp",
        "53",
        "mail host: DNS (the resolver; mailcow's validating unbound recurses itself for DANE)",
      ),
      egress("lan-web-out", "tcp", webOut.name, "mail host: HTTP/HTTPS out"),
      egress("lan-ntp-out", "udp", "123", "mail host: NTP"),
      rule(
        "lan-block-rest",
        {
          type: "block",
          interface: lan,
          ipprotocol: "inet46",
          protocol: null,
          source: host.name,
          destination: "any",
          destination_port: null,
        },
        "mail host: everything else",
      ),
    ],
  };
}

/** Ports that must never be reachable from the WAN (SSH, Proxmox UI, pfSense UI/API alternatives, databases). */
export const NEVER_PUBLIC = [22, 8006, 8443, 3306, 6379, 13306, 19991, 7654] as const;

/** A readable table of the plan, for review (firewall.md). */
export function firewallTable(plan: FirewallPlan): string {
  const aliases = new Map(plan.aliases.map((a) => [a.name, a]));
  const show = (value: string | null) => {
    if (value === null) return "any";
    const alias = aliases.get(value);
    return alias ? `${value} (${alias.address.join(", ")})` : value;
  };
  const lines = [
    "# pfSense rules for the mail host",
    "",
    "## Port forwards (IPv4 NAT)",
    "",
    "| Interface | Protocol | Destination | Ports | Target | NAT reflection | Description |",
    "|---|---|---|---|---|---|---|",
    ...plan.portForwards.map(
      (f) =>
        `| ${f.interface} | ${f.protocol} | ${f.destination} | ${show(f.destination_port)} | ${f.target} | ${f.natreflection} | ${f.descr} |`,
    ),
    "",
    "## Filter rules (in order; every rule logs)",
    "",
    ...Object.entries(plan.anchors).map(
      ([name, anchor]) =>
        `- ${name}: ${anchor === "last" ? "after the interface's other rules (its block rules still apply), above a final block-everything rule" : "directly above the interface's first other pass rule"}`,
    ),
    "",
    "| Action | Interface | IP | Protocol | Source | Destination | Ports | Description |",
    "|---|---|---|---|---|---|---|---|",
    ...plan.rules.map(
      (r) =>
        `| ${r.type} | ${r.interface.join(", ")} | ${r.ipprotocol} | ${r.protocol ?? "any"} | ${show(r.source)} | ${r.destination} | ${show(r.destination_port)} | ${r.descr} |`,
    ),
    "",
  ];
  return lines.join("\n");
}
