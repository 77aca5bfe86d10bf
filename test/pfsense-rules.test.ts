// PfSenseRules under the mock engine, and the rule plan the prod stack gets.
import { describe, expect, it } from "vitest";
import { TYPES } from "../common/resource-types";
import { isSecret, plain, type RecordedResource } from "../plan/engine";
import { firewallPlan, NEVER_PUBLIC, type FirewallPlan } from "../render/firewall-plan";
import { planWithKeys } from "./plans";

const PREFIX = "pulumi-nodejs:dynamic/pfsense:";

function firewallOf(files: readonly { path: string; content: string }[]): FirewallPlan {
  return JSON.parse(files.find((f) => f.path === "firewall.json")?.content ?? "null") as FirewallPlan;
}

describe("the prod firewall plan", () => {
  it("forwards the mail ports and 80 to the VM over IPv4 and passes them to its public IPv6 (errata 8.1-8.3)", async () => {
    const plan = firewallOf((await planWithKeys()).result.files);
    const ports = plan.aliases.find((a) => a.key === "alias-mail-ports");
    expect(ports?.address).toEqual(["25", "80", "443", "465", "587", "993", "995"]);
    expect(plan.portForwards).toEqual([
      expect.objectContaining({
        interface: "wan",
        destination: "wan:ip",
        target: "10.3.0.4",
        // Pure NAT reflection: no proxy, internal clients keep their own source address.
        natreflection: "purenat",
        destination_port: ports?.name,
      }),
    ]);
    const wan = plan.rules.filter((r) => r.interface.includes("wan"));
    expect(wan.map((r) => [r.type, r.ipprotocol, r.destination])).toEqual([
      ["pass", "inet", "10.3.0.4"],
      ["pass", "inet6", "2a05:bec0:27:fd03::4"],
    ]);
    // Never the ULA from the WAN (the guide's "NAT for IPv6" to fd03::4).
    for (const rule of wan) expect(rule.destination).not.toMatch(/^f[cd]/i);
    for (const forward of plan.portForwards) expect(forward.target).not.toContain(":");
  });

  it("logs every rule, marks every object and exposes nothing else to the WAN", async () => {
    const plan = firewallOf((await planWithKeys()).result.files);
    for (const rule of plan.rules) {
      expect(rule.log).toBe(true);
      // The marker first: pf logs show only the first 52 characters of a description.
      expect(rule.descr).toMatch(/^\[mailstack:prod:[a-z0-9-]+\] /);
    }
    for (const alias of plan.aliases) expect(alias.name).toMatch(/^[A-Za-z0-9_]{1,31}$/);
    const exposed = plan.rules
      .filter((r) => r.interface.includes("wan") && r.type === "pass")
      .flatMap(
        (r) => plan.aliases.find((a) => a.name === r.destination_port)?.address ?? [r.destination_port ?? "any"],
      );
    for (const port of NEVER_PUBLIC) expect(exposed).not.toContain(String(port));
    expect(plan.rules.at(-1)).toMatchObject({
      type: "block",
      interface: ["lan"],
      source: expect.stringMatching(/mail_host/) as string,
    });
  });

  it("opens plain IMAP and POP3 only when the config enables them", async () => {
    const plan = firewallOf(
      // Plain IMAP/POP3 only where the policy catalog lets a stack relax it (staging; prod refuses them).
      (await planWithKeys({ "mailstack:services": JSON.stringify({ imap: true, pop3: true }) }, { stack: "staging" }))
        .result.files,
    );
    expect(plan.aliases.find((a) => a.key === "alias-mail-ports")?.address).toEqual([
      "25",
      "80",
      "110",
      "143",
      "443",
      "465",
      "587",
      "993",
      "995",
    ]);
  });
});

describe("alias names", () => {
  const names = (namespace: string) =>
    firewallPlan({
      namespace,
      wanInterface: "wan",
      lanInterface: "lan",
      hostIpv4: "10.3.0.4",
      hostPublicIpv6: "2a05:bec0:27:fd03::4",
      hostAddresses: ["10.3.0.4"],
      publicPorts: [25],
    }).aliases.map((alias) => alias.name);

  it("keep the readable form for short stack names", () => {
    expect(names("prod")).toEqual(["ms_prod_mail_ports", "ms_prod_mail_host", "ms_prod_smtp_out", "ms_prod_web_out"]);
  });

  it("stay valid and distinct for long stack names, also for two that share a long prefix", () => {
    const first = names("customer-eu-central-production");
    const second = names("customer-eu-central-production-2");
    for (const name of [...first, ...second]) expect(name).toMatch(/^[A-Za-z0-9_]{1,31}$/);
    expect(new Set([...first, ...second]).size).toBe(first.length + second.length);
  });
});

describe("PfSenseRules", () => {
  it("declares marker-owned objects in order and applies once after all of them", async () => {
    const { result } = await planWithKeys();
    // PfSenseRules' own children: the pfSense backup's user (PfSenseConfigBackup) is not a firewall object.
    const component = result.run.resources.find((r) => r.type === TYPES.pfSenseRules);
    const objects = result.run.resources.filter(
      (r) => r.parent === component?.urn && r.type.startsWith(PREFIX) && !r.type.endsWith(":Apply"),
    );
    expect(objects.map((r) => r.type.slice(PREFIX.length)).sort()).toEqual([
      // Prod's monitoring network scrapes the exporters: its alias, the exporter ports and one LAN rule.
      ...Array<string>(6).fill("FirewallAlias"),
      ...Array<string>(8).fill("FirewallRule"),
      "PortForward",
    ]);
    for (const object of objects) {
      expect(isSecret(object.inputs.connection)).toBe(true);
      expect(String((plain(object.inputs.spec) as { descr: string }).descr)).toContain(String(object.inputs.marker));
    }
    const apply = result.run.resources.find((r) => r.type === `${PREFIX}Apply`) as RecordedResource;
    expect(new Set(apply.dependencies)).toEqual(new Set(objects.map((o) => o.urn)));
    // Each rule is placed among its own interface's rules: after the WAN's other rules, the LAN's
    // group directly above the LAN's first other pass rule; one after the other, in plan order.
    const rules = objects.filter((r) => r.type.endsWith("FirewallRule"));
    const placements = rules.map((r) => plain(r.inputs.placement) as { group: string[]; anchor: string });
    const wan = ["wan-mail-ipv4", "wan-mail-ipv6"].map((key) => `[mailstack:prod:${key}]`);
    const lan = ["lan-smtp-out", "lan-dns-out", "lan-web-out", "lan-ntp-out", "lan-block-rest"].map(
      (key) => `[mailstack:prod:${key}]`,
    );
    // The monitoring network's scrape rule is its interface's (opt1) own group, like the WAN's.
    const monitoring = ["[mailstack:prod:monitoring-in]"];
    for (const [index, rule] of rules.entries())
      expect(placements[index]).toEqual(
        rule.name.startsWith("pfsense-wan-")
          ? { group: wan, anchor: "last" }
          : rule.name === "pfsense-monitoring-in"
            ? { group: monitoring, anchor: "last" }
            : { group: lan, anchor: "before-first-pass" },
      );
    const byName = new Map(rules.map((r) => [r.name, r]));
    const chain = ["wan-mail-ipv4", "wan-mail-ipv6", "monitoring-in", ...lan.map((m) => m.slice(16, -1))];
    for (const [before, after] of chain.slice(0, -1).map((key, i) => [key, chain[i + 1]] as const))
      expect(byName.get(`pfsense-${after}`)?.dependencies).toContain(byName.get(`pfsense-${before}`)?.urn);
  });

  it("writes firewall.json and a readable firewall.md with the plan", async () => {
    const files = (await planWithKeys()).result.files;
    const table = files.find((f) => f.path === "firewall.md")?.content ?? "";
    expect(table).toMatch(
      /\| pass \| wan \| inet6 \| tcp \| any \| 2a05:bec0:27:fd03::4 \| ms_prod_mail_ports \(25, 80, 443, 465, 587, 993, 995\) \|/,
    );
    expect(table).toMatch(/\| block \| lan \| inet46 \| any \| ms_prod_mail_host/);
    expect(table).toContain(
      "- wan: after the interface's other rules (its block rules still apply), above a final block-everything rule",
    );
    expect(table).toContain("- lan: directly above the interface's first other pass rule");
    expect(firewallOf(files).rules).toHaveLength(8);
  });
});
