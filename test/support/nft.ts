// Translates the ruleset pfSense runs (the fake pfrest's `applied`: what its last successful
// filter reload built from the config, never what is merely written) into nftables with
// pfSense's semantics (test support): port forwards become DNAT in prerouting on their interface,
// and with pure NAT reflection also on the internal interfaces (filter.inc filter_nat_rules_generate,
// reflection "purenat": an rdr on each reflection interface); filter rules are evaluated per
// interface in list order, first match wins, stateful (filter.inc filter_rules_generate keeps
// config order per interface); disabled rules are skipped; an interface's traffic that no rule
// passes is dropped (pfSense's default deny).
import type { AppliedRuleset, PfObject } from "../fakes/pfrest";

export interface RouterInterface {
  /** The Linux interface in the router namespace. */
  readonly device: string;
  /** What the interface name stands for as an address ("lan" = its networks). */
  readonly networks: readonly string[];
  /** What "<name>:ip" stands for. */
  readonly addresses: readonly string[];
  /** The WAN (port forwards come in here; the others are reflection interfaces). */
  readonly wan?: boolean;
}

export type Router = Readonly<Record<string, RouterInterface>>;

const isIpv6 = (address: string) => address.includes(":");

function portSet(ruleset: AppliedRuleset, value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = value;
  const alias = ruleset.aliases.find((a) => a.name === text && a.type === "port");
  const entries = alias ? (alias.address as string[]) : [text];
  return `{ ${entries.map((entry) => entry.replace(":", "-")).join(", ")} }`;
}

function addresses(ruleset: AppliedRuleset, router: Router, value: unknown): { v4: string[]; v6: string[] } | "any" {
  const text = String(value);
  if (text === "any") return "any";
  if (text.startsWith("!")) throw new Error(`the lab does not translate inverted addresses (${text})`);
  const alias = ruleset.aliases.find((a) => a.name === text && a.type !== "port");
  const name = text.replace(/:ip$/, "");
  const list = alias
    ? (alias.address as string[])
    : router[name]
      ? text.endsWith(":ip")
        ? [...(router[name]?.addresses ?? [])]
        : [...(router[name]?.networks ?? [])]
      : [text];
  return { v4: list.filter((a) => !isIpv6(a)), v6: list.filter(isIpv6) };
}

function ruleLines(ruleset: AppliedRuleset, router: Router, rule: PfObject): string[] {
  const name = (rule.interface as string[])[0] ?? "";
  const device = router[name]?.device;
  if (!device) throw new Error(`no device for interface ${name}`);
  const verdict = rule.type === "pass" ? "accept" : rule.type === "reject" ? "reject" : "drop";
  const protocols =
    rule.protocol === null ? [null] : rule.protocol === "tcp/udp" ? ["tcp", "udp"] : [rule.protocol as string];
  const port = portSet(ruleset, rule.destination_port);
  const source = addresses(ruleset, router, rule.source);
  const destination = addresses(ruleset, router, rule.destination);
  const families = rule.ipprotocol === "inet46" ? ["ip", "ip6"] : rule.ipprotocol === "inet" ? ["ip"] : ["ip6"];
  const label = String(rule.descr)
    .slice(0, 24)
    .replace(/[^A-Za-z0-9:._ -]/g, "");
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
      if (rule.log === true) parts.push(`log prefix "${label} "`);
      parts.push(verdict);
      lines.push(parts.join(" "));
    }
  }
  return lines;
}

/** An nft script that replaces table inet mailstack with the translation of `ruleset`. */
export function nftRuleset(ruleset: AppliedRuleset, router: Router): string {
  const internal = Object.values(router).filter((i) => !i.wan);
  const nat = ruleset.portForwards
    .filter((forward) => forward.disabled !== true)
    .flatMap((forward) => {
      const on = router[String(forward.interface)];
      if (!on) throw new Error(`no device for interface ${String(forward.interface)}`);
      const destination = addresses(ruleset, router, forward.destination);
      const daddr = destination === "any" ? "" : `ip daddr { ${destination.v4.join(", ")} } `;
      const rdr = (device: string) =>
        `    iifname "${device}" ${daddr}tcp dport ${portSet(ruleset, forward.destination_port)} dnat ip to ${String(forward.target)}`;
      const reflect = forward.natreflection === "purenat" ? internal.map((i) => rdr(i.device)) : [];
      return [rdr(on.device), ...reflect];
    });
  const filter = ruleset.rules
    .filter((rule) => rule.disabled !== true)
    .flatMap((rule) => ruleLines(ruleset, router, rule).map((line) => `    ${line}`));
  return [
    // Created if missing, then replaced as a whole (nft -f applies the file atomically).
    "table inet mailstack {}",
    "delete table inet mailstack",
    "table inet mailstack {",
    "  chain input {",
    "    # pfSense itself: nothing from the WAN (its own UI and SSH are not exposed).",
    "    type filter hook input priority filter; policy drop;",
    "    ct state established,related accept",
    '    iifname "lo" accept',
    "    meta l4proto { icmp, ipv6-icmp } accept",
    ...internal.map((i) => `    iifname "${i.device}" accept`),
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
    "  }",
    "}",
    "",
  ].join("\n");
}
