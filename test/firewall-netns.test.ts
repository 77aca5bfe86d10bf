// What pfSense lets through after `pulumi up`, for real. The prod plan is deployed the way
// `pulumi up` deploys it (test/support/pfsense-deploy.ts: the serialized provider, the SDK's
// concurrency) against the fake pfrest, which keeps config.xml and, apart from it, the ruleset its
// last successful filter reload built (test/fakes/pfrest.ts). Only that applied ruleset is
// translated to nftables (test/support/nft.ts) on a router namespace between a "wan" and a "lan"
// namespace (IPv4 DNAT, routed IPv6), with listeners on many ports in the VM namespace: a change
// that was written but never applied does not reach the packet filter here either. The fake
// starts as pfSense does (its two LAN default allow rules) plus an admin's WAN block rule.
// pfSense itself cannot run here; this proves the rules' semantics with a real packet filter. A
// "mon" namespace on pfSense's opt1 is the monitoring network (mailstack:monitoring.scrapeCidrs
// 10.3.5.0/24 in prod), with a second address outside it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { require as tsxRequire } from "tsx/cjs/api";
import { marker, NEVER_PUBLIC, type FirewallPlan } from "../render/firewall-plan";
import { EXPORTER_PORT_LIST } from "../render/monitoring";
import { loopbackCertificate } from "./fakes/https";
import { FakePfRest } from "./fakes/pfrest";
import { runOk } from "./support/exec";
import { inNs, inNsWithInput, NetnsLab, probe, settle } from "./support/netns";
import { nftRuleset, type Router } from "./support/nft";
import type * as Deploy from "./support/pfsense-deploy";
import { planWithKeys } from "./plans";
import { requireTool } from "./tools";

const { deploy } = tsxRequire("./support/pfsense-deploy", __filename) as typeof Deploy;

const suffix = String(process.pid);
const NS = { wan: `msw-${suffix}`, fw: `msf-${suffix}`, vm: `msv-${suffix}`, mon: `msm-${suffix}` };
/** Prometheus in the scrape network, and a host on the same pfSense interface outside it. */
const SCRAPER_IPV4 = "10.3.5.10";
const OUTSIDER_IPV4 = "10.3.6.10";
const WAN_IPV4 = "134.255.229.52";
const CLIENT_IPV4 = "134.255.229.10";
/** A source the admin blocks on the WAN (a blocklist entry): it must not reach the mail ports either. */
const BLOCKED_IPV4 = "134.255.229.66";
const CLIENT_IPV6 = "2001:db8:ffff::10";
const VM_PUBLIC_IPV6 = "2a05:bec0:27:fd03::4";
const PROBE_EXTRA = [22, 110, 143, 4190, 8080, ...NEVER_PUBLIC, ...EXPORTER_PORT_LIST];
const API_KEY = "pfrest-lab-key";

const ROUTER: Router = {
  wan: { device: "ms-fwwan", networks: ["134.255.229.0/24", "2001:db8:ffff::/64"], addresses: [WAN_IPV4], wan: true },
  lan: {
    device: "ms-fwlan",
    networks: ["10.3.0.0/24", "fd03::/64", "2a05:bec0:27:fd03::/64"],
    addresses: ["10.3.0.1", "fd03::1", "2a05:bec0:27:fd03::1"],
  },
  opt1: { device: "ms-fwmon", networks: ["10.3.5.0/24", "10.3.6.0/24"], addresses: ["10.3.5.1", "10.3.6.1"] },
};

let plan: FirewallPlan;
let fake: FakePfRest;
let state: Deploy.StackState = new Map();
const lab = new NetnsLab(Object.values(NS));

async function ip(...args: string[]): Promise<void> {
  await runOk("ip", args);
}

async function planOf(overrides: Record<string, string> = {}): Promise<FirewallPlan> {
  const files = (await planWithKeys(overrides)).result.files;
  return JSON.parse(files.find((f) => f.path === "firewall.json")?.content ?? "null") as FirewallPlan;
}

/** `pulumi up` (with --refresh), then the router enforces what pfSense runs afterwards. */
async function up(planned: FirewallPlan, refresh = false): Promise<void> {
  const result = await deploy(planned, fake.api.connection(API_KEY), state, { refresh });
  expect(result.errors).toEqual([]);
  state = result.state;
  await enforce();
}

/** The router loads the ruleset pfSense runs now. */
async function enforce(): Promise<void> {
  await inNsWithInput(NS.fw, nftRuleset(fake.applied, ROUTER), "nft", "-f", "-");
}

const open = (results: Record<number, string>) =>
  Object.entries(results)
    .filter(([, result]) => result === "open")
    .map(([port]) => Number(port))
    .sort((a, b) => a - b);

beforeAll(async () => {
  for (const tool of ["ip", "nft"]) requireTool(tool);
  plan = await planOf();
  fake = new FakePfRest(await loopbackCertificate(), API_KEY);
  fake.reset();
  // prod's pfSense has a third interface for the monitoring VLAN (mailstack:monitoring.pfsenseInterface).
  fake.interfaces = [...fake.interfaces, { id: "opt1", descr: "MONITORING", if: "vtnet2" }];
  fake.seed(
    "rule",
    {
      type: "block",
      interface: ["wan"],
      ipprotocol: "inet46",
      source: BLOCKED_IPV4,
      destination: "any",
      log: true,
      descr: "admin: blocklist",
    },
    0,
  );
  await fake.api.start();

  await lab.create();
  await ip("link", "add", "ms-wan0", "netns", NS.wan, "type", "veth", "peer", "name", "ms-fwwan", "netns", NS.fw);
  await ip("link", "add", "ms-lan0", "netns", NS.vm, "type", "veth", "peer", "name", "ms-fwlan", "netns", NS.fw);
  await ip("link", "add", "ms-mon0", "netns", NS.mon, "type", "veth", "peer", "name", "ms-fwmon", "netns", NS.fw);
  const setup: [string, string[]][] = [
    [NS.wan, ["ip", "addr", "add", `${CLIENT_IPV4}/24`, "dev", "ms-wan0"]],
    [NS.wan, ["ip", "addr", "add", `${BLOCKED_IPV4}/24`, "dev", "ms-wan0"]],
    [NS.wan, ["ip", "-6", "addr", "add", `${CLIENT_IPV6}/64`, "dev", "ms-wan0", "nodad"]],
    [NS.fw, ["ip", "addr", "add", `${WAN_IPV4}/24`, "dev", "ms-fwwan"]],
    [NS.fw, ["ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "ms-fwwan", "nodad"]],
    [NS.fw, ["ip", "addr", "add", "10.3.0.1/24", "dev", "ms-fwlan"]],
    [NS.fw, ["ip", "-6", "addr", "add", "fd03::1/64", "dev", "ms-fwlan", "nodad"]],
    [NS.fw, ["ip", "-6", "addr", "add", "2a05:bec0:27:fd03::1/64", "dev", "ms-fwlan", "nodad"]],
    [NS.fw, ["ip", "addr", "add", "10.3.5.1/24", "dev", "ms-fwmon"]],
    [NS.fw, ["ip", "addr", "add", "10.3.6.1/24", "dev", "ms-fwmon"]],
    [NS.mon, ["ip", "addr", "add", `${SCRAPER_IPV4}/24`, "dev", "ms-mon0"]],
    [NS.mon, ["ip", "addr", "add", `${OUTSIDER_IPV4}/24`, "dev", "ms-mon0"]],
    [NS.vm, ["ip", "addr", "add", "10.3.0.4/24", "dev", "ms-lan0"]],
    [NS.vm, ["ip", "-6", "addr", "add", "fd03::4/64", "dev", "ms-lan0", "nodad"]],
    [NS.vm, ["ip", "-6", "addr", "add", `${VM_PUBLIC_IPV6}/64`, "dev", "ms-lan0", "nodad"]],
  ];
  for (const [ns, command] of setup) await inNs(ns, ...command);
  for (const ns of Object.values(NS)) {
    await inNs(ns, "ip", "link", "set", "lo", "up");
    for (const device of ["ms-wan0", "ms-fwwan", "ms-fwlan", "ms-lan0", "ms-mon0", "ms-fwmon"]) {
      try {
        await inNs(ns, "ip", "link", "set", device, "up");
      } catch {
        // not in this namespace
      }
    }
  }
  await inNs(NS.wan, "ip", "route", "add", "default", "via", WAN_IPV4);
  await inNs(NS.wan, "ip", "-6", "route", "add", "default", "via", "2001:db8:ffff::1");
  await inNs(NS.vm, "ip", "route", "add", "default", "via", "10.3.0.1");
  await inNs(NS.mon, "ip", "route", "add", "default", "via", "10.3.5.1");
  await inNs(NS.vm, "ip", "-6", "route", "add", "default", "via", "fd03::1");
  await inNs(NS.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");

  const planned = plan.aliases.find((a) => a.key === "alias-mail-ports")?.address.map(Number) ?? [];
  await lab.listen(NS.vm, [...planned, ...PROBE_EXTRA]);
  await lab.listen(NS.wan, [25, 465, 587, 80, 443, 53, 22, 3389, 8080]);
  await up(plan);
  // The links answer (IPv6 neighbour discovery done) before any verdict is taken from a probe.
  await settle(NS.wan, WAN_IPV4, 25);
  await settle(NS.wan, VM_PUBLIC_IPV6, 25);
  await settle(NS.vm, CLIENT_IPV6, 25);
  await settle(NS.mon, "10.3.0.4", EXPORTER_PORT_LIST[0] ?? 9100, SCRAPER_IPV4);
});

afterAll(async () => {
  await lab.destroy();
  await fake.api.stop();
});

describe("the prod firewall after `pulumi up`, on a real packet filter", () => {
  const publicPorts = () => plan.aliases.find((a) => a.key === "alias-mail-ports")?.address.map(Number) ?? [];

  it("opens exactly the mail ports (and 80) over IPv4 through NAT", async () => {
    expect(publicPorts()).toEqual([25, 80, 443, 465, 587, 993, 995]);
    const results = await probe(NS.wan, WAN_IPV4, [...publicPorts(), ...PROBE_EXTRA]);
    expect(open(results)).toEqual(publicPorts());
    for (const port of PROBE_EXTRA) expect(results[port], `port ${port}`).toBe("filtered");
  });

  it("opens exactly the mail ports over IPv6, routed to the public address", async () => {
    const results = await probe(NS.wan, VM_PUBLIC_IPV6, [...publicPorts(), ...PROBE_EXTRA]);
    expect(open(results)).toEqual(publicPorts());
    expect(results[22]).toBe("filtered");
  });

  it("keeps the admin's WAN block rules in force for the mail ports (ours come after them)", async () => {
    const results = await probe(NS.wan, WAN_IPV4, publicPorts(), { from: BLOCKED_IPV4 });
    expect(open(results)).toEqual([]);
  });

  it("lets the mail host out only for SMTP, DNS and HTTP(S)", async () => {
    for (const host of [CLIENT_IPV4, CLIENT_IPV6]) {
      const results = await probe(NS.vm, host, [25, 465, 587, 80, 443, 53, 22, 3389, 8080]);
      expect(results, host).toEqual({
        25: "open",
        465: "open",
        587: "open",
        80: "open",
        443: "open",
        53: "open",
        22: "filtered",
        3389: "filtered",
        8080: "filtered",
      });
    }
  });

  it("closes a WAN rule someone opened to every port in the GUI: a rule-only change reaches pf after `up`", async () => {
    // In the GUI, the IPv6 pass rule loses its port alias and is applied: the host is wide open.
    const rule = fake.find("rule", marker("prod", "wan-mail-ipv6"));
    fake.guiEdit("rule", rule?.position ?? -1, { destination_port: null });
    fake.guiApply();
    await enforce();
    expect((await probe(NS.wan, VM_PUBLIC_IPV6, [22]))[22]).toBe("open");
    // `pulumi up --refresh` writes the rule back: pfrest marks nothing pending for a rule.
    await up(plan, true);
    const results = await probe(NS.wan, VM_PUBLIC_IPV6, [...publicPorts(), ...PROBE_EXTRA]);
    expect(open(results)).toEqual(publicPorts());
  });

  it("closes POP3S after `up` with services.pop3s off, over IPv4 and IPv6", async () => {
    const closed = await planOf({
      "mailstack:services": JSON.stringify({ submission: true, pop3s: false, imap: false, pop3: false }),
    });
    await up(closed);
    for (const host of [WAN_IPV4, VM_PUBLIC_IPV6]) {
      const results = await probe(NS.wan, host, [993, 995]);
      expect(results, host).toEqual({ 993: "open", 995: "filtered" });
    }
  });
});

describe("monitoring through the prod firewall after `pulumi up`", () => {
  it("lets the monitoring network, and only it, scrape the exporters on the mail host's LAN address", async () => {
    const rule = plan.rules.find((r) => r.key === "monitoring-in");
    expect(rule?.interface).toEqual(["opt1"]);
    expect(plan.aliases.find((a) => a.key === "alias-monitoring-sources")?.address).toEqual(["10.3.5.0/24"]);
    const all = (result: string) => Object.fromEntries(EXPORTER_PORT_LIST.map((port) => [port, result]));
    expect(await probe(NS.mon, "10.3.0.4", EXPORTER_PORT_LIST, { from: SCRAPER_IPV4 })).toEqual(all("open"));
    // The same pfSense interface, another network: refused like everything else there.
    expect(await probe(NS.mon, "10.3.0.4", [...EXPORTER_PORT_LIST, 25, 22], { from: OUTSIDER_IPV4 })).toEqual({
      ...all("filtered"),
      25: "filtered",
      22: "filtered",
    });
    // From the monitoring network only the exporters: not SSH or mail ports of the host.
    expect(await probe(NS.mon, "10.3.0.4", [22, 25, 8080], { from: SCRAPER_IPV4 })).toEqual({
      22: "filtered",
      25: "filtered",
      8080: "filtered",
    });
  });

  it("never lets the WAN reach an exporter, over IPv4 (NAT) or IPv6 (the public address)", async () => {
    for (const host of [WAN_IPV4, VM_PUBLIC_IPV6]) {
      const results = await probe(NS.wan, host, EXPORTER_PORT_LIST);
      for (const port of EXPORTER_PORT_LIST) expect(results[port], `${host}:${port}`).toBe("filtered");
    }
  });
});
