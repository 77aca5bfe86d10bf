// What the firewall plan lets through, for real: the prod plan translated to nftables on a router
// namespace between a "wan" and a "lan" namespace (IPv4 DNAT, routed IPv6), listeners on many
// ports in the VM namespace, connections from the WAN (and from the VM outwards). pfSense itself
// cannot run here; this proves the plan's semantics with a real packet filter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NEVER_PUBLIC, type FirewallPlan } from "../render/firewall-plan";
import { runOk } from "./support/exec";
import { inNs, inNsWithInput, NetnsLab, probe, settle } from "./support/netns";
import { nftRuleset } from "./support/nft";
import { planWithKeys } from "./plans";
import { requireTool } from "./tools";

const suffix = String(process.pid);
const NS = { wan: `msw-${suffix}`, fw: `msf-${suffix}`, vm: `msv-${suffix}` };
const WAN_IPV4 = "134.255.229.52";
const CLIENT_IPV4 = "134.255.229.10";
const CLIENT_IPV6 = "2001:db8:ffff::10";
const VM_PUBLIC_IPV6 = "2a05:bec0:27:fd03::4";
const PROBE_EXTRA = [22, 110, 143, 4190, 8080, ...NEVER_PUBLIC];

let plan: FirewallPlan;
const lab = new NetnsLab(Object.values(NS));

async function ip(...args: string[]): Promise<void> {
  await runOk("ip", args);
}

beforeAll(async () => {
  for (const tool of ["ip", "nft"]) requireTool(tool);
  plan = JSON.parse(
    (await planWithKeys()).result.files.find((f) => f.path === "firewall.json")?.content ?? "null",
  ) as FirewallPlan;

  await lab.create();
  await ip("link", "add", "ms-wan0", "netns", NS.wan, "type", "veth", "peer", "name", "ms-fwwan", "netns", NS.fw);
  await ip("link", "add", "ms-lan0", "netns", NS.vm, "type", "veth", "peer", "name", "ms-fwlan", "netns", NS.fw);
  const setup: [string, string[]][] = [
    [NS.wan, ["ip", "addr", "add", `${CLIENT_IPV4}/24`, "dev", "ms-wan0"]],
    [NS.wan, ["ip", "-6", "addr", "add", `${CLIENT_IPV6}/64`, "dev", "ms-wan0", "nodad"]],
    [NS.fw, ["ip", "addr", "add", `${WAN_IPV4}/24`, "dev", "ms-fwwan"]],
    [NS.fw, ["ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "ms-fwwan", "nodad"]],
    [NS.fw, ["ip", "addr", "add", "10.3.0.1/24", "dev", "ms-fwlan"]],
    [NS.fw, ["ip", "-6", "addr", "add", "fd03::1/64", "dev", "ms-fwlan", "nodad"]],
    [NS.fw, ["ip", "-6", "addr", "add", "2a05:bec0:27:fd03::1/64", "dev", "ms-fwlan", "nodad"]],
    [NS.vm, ["ip", "addr", "add", "10.3.0.4/24", "dev", "ms-lan0"]],
    [NS.vm, ["ip", "-6", "addr", "add", "fd03::4/64", "dev", "ms-lan0", "nodad"]],
    [NS.vm, ["ip", "-6", "addr", "add", `${VM_PUBLIC_IPV6}/64`, "dev", "ms-lan0", "nodad"]],
  ];
  for (const [ns, command] of setup) await inNs(ns, ...command);
  for (const ns of Object.values(NS)) {
    await inNs(ns, "ip", "link", "set", "lo", "up");
    for (const device of ["ms-wan0", "ms-fwwan", "ms-fwlan", "ms-lan0"]) {
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
  await inNs(NS.vm, "ip", "-6", "route", "add", "default", "via", "fd03::1");
  await inNs(NS.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
  await inNsWithInput(
    NS.fw,
    nftRuleset(plan, { devices: { wan: "ms-fwwan", lan: "ms-fwlan" }, wanIpv4: WAN_IPV4 }),
    "nft",
    "-f",
    "-",
  );

  const planned = plan.aliases.find((a) => a.key === "alias-mail-ports")?.address.map(Number) ?? [];
  await lab.listen(NS.vm, [...planned, ...PROBE_EXTRA]);
  await lab.listen(NS.wan, [25, 465, 587, 80, 443, 53, 22, 3389, 8080]);
  // The links answer (IPv6 neighbour discovery done) before any verdict is taken from a probe.
  await settle(NS.wan, WAN_IPV4, 25);
  await settle(NS.wan, VM_PUBLIC_IPV6, 25);
  await settle(NS.vm, CLIENT_IPV6, 25);
});

afterAll(() => lab.destroy());

describe("the prod firewall plan on a real packet filter", () => {
  const publicPorts = () => plan.aliases.find((a) => a.key === "alias-mail-ports")?.address.map(Number) ?? [];

  it("opens exactly the mail ports (and 80) over IPv4 through NAT", async () => {
    expect(publicPorts()).toEqual([25, 80, 443, 465, 587, 993, 995]);
    const results = await probe(NS.wan, WAN_IPV4, [...publicPorts(), ...PROBE_EXTRA]);
    const open = Object.entries(results)
      .filter(([, result]) => result === "open")
      .map(([port]) => Number(port));
    expect(open.sort((a, b) => a - b)).toEqual(publicPorts());
    for (const port of PROBE_EXTRA) expect(results[port], `port ${port}`).toBe("filtered");
  });

  it("opens exactly the mail ports over IPv6, routed to the public address", async () => {
    const results = await probe(NS.wan, VM_PUBLIC_IPV6, [...publicPorts(), ...PROBE_EXTRA]);
    const open = Object.entries(results)
      .filter(([, result]) => result === "open")
      .map(([port]) => Number(port));
    expect(open.sort((a, b) => a - b)).toEqual(publicPorts());
    expect(results[22]).toBe("filtered");
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
});
