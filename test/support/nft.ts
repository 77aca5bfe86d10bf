// Translates a firewall plan into an nftables ruleset with pfSense's semantics (test support):
// port forwards become DNAT in prerouting; filter rules are evaluated per interface in order,
// first match wins, stateful; an interface's traffic that no rule passes is dropped, and after the
// plan's rules the LAN keeps pfSense's default "allow LAN to any" for other hosts.
import type { FirewallPlan, FilterRuleSpec } from "../../render/firewall-plan";

export interface RouterInterfaces {
  /** pfSense interface name → Linux interface in the router namespace. */
  readonly devices: Readonly<Record<string, string>>;
  /** The address "wan:ip" stands for. */
  readonly wanIpv4: string;
}

const isIpv6 = (address: string) => address.includes(":");

function ports(plan: FirewallPlan, value: string | null): string | undefined {
  if (value === null) return undefined;
  const alias = plan.aliases.find((a) => a.name === value && a.type === "port");
  return alias ? `{ ${alias.address.join(", ")} }` : value.replace(":", "-");
}

function addresses(plan: FirewallPlan, value: string): { v4: string[]; v6: string[] } | "any" {
  if (value === "any") return "any";
  const alias = plan.aliases.find((a) => a.name === value && a.type === "host");
  const list = alias ? alias.address : [value];
  return { v4: list.filter((a) => !isIpv6(a)), v6: list.filter(isIpv6) };
}

function ruleLines(plan: FirewallPlan, rule: FilterRuleSpec, devices: Readonly<Record<string, string>>): string[] {
  const device = devices[rule.interface[0] ?? ""];
  if (!device) throw new Error(`no device for interface ${rule.interface.join(",")}`);
  const verdict = rule.type === "pass" ? "accept" : "drop";
  const protocols = rule.protocol === null ? [null] : rule.protocol === "tcp/udp" ? ["tcp", "udp"] : [rule.protocol];
  const port = ports(plan, rule.destination_port);
  const source = addresses(plan, rule.source);
  const destination = addresses(plan, rule.destination);
  const families = rule.ipprotocol === "inet46" ? ["ip", "ip6"] : rule.ipprotocol === "inet" ? ["ip"] : ["ip6"];
  const lines: string[] = [];
  for (const family of families) {
    const pick = (set: typeof source) => (set === "any" ? "any" : family === "ip" ? set.v4 : set.v6);
    const src = pick(source);
    const dst = pick(destination);
    if ((src !== "any" && src.length === 0) || (dst !== "any" && dst.length === 0)) continue;
    for (const protocol of protocols) {
      const parts = [`iifname "${device}"`, `meta nfproto ${family === "ip" ? "ipv4" : "ipv6"}`];
      if (src !== "any") parts.push(`${family} saddr { ${src.join(", ")} }`);
      if (dst !== "any") parts.push(`${family} daddr { ${dst.join(", ")} }`);
      if (protocol) parts.push(`meta l4proto ${protocol}`);
      if (protocol && port) parts.push(`th dport ${port}`);
      parts.push(`log prefix "${rule.key} "`, verdict);
      lines.push(parts.join(" "));
    }
  }
  return lines;
}

export function nftRuleset(plan: FirewallPlan, router: RouterInterfaces): string {
  const nat = plan.portForwards.map((forward) => {
    const device = router.devices[forward.interface];
    const destination = forward.destination === "wan:ip" ? router.wanIpv4 : forward.destination;
    return `    iifname "${device}" ip daddr ${destination} tcp dport ${ports(plan, forward.destination_port)} dnat ip to ${forward.target}`;
  });
  const filter = plan.rules.flatMap((rule) => ruleLines(plan, rule, router.devices).map((line) => `    ${line}`));
  const lan = router.devices.lan;
  return [
    "table inet mailstack {",
    "  chain input {",
    "    # pfSense itself: nothing from the WAN (its own UI and SSH are not exposed).",
    "    type filter hook input priority filter; policy drop;",
    "    ct state established,related accept",
    '    iifname "lo" accept',
    "    meta l4proto { icmp, ipv6-icmp } accept",
    ...(lan ? [`    iifname "${lan}" accept`] : []),
    "  }",
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    ...nat,
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy drop;",
    "    ct state established,related accept",
    "    meta l4proto ipv6-icmp accept",
    ...filter,
    ...(lan ? [`    iifname "${lan}" accept`] : []),
    "  }",
    "}",
    "",
  ].join("\n");
}
