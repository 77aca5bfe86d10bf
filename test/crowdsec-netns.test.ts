// CrowdSec bans, for real: the Debian crowdsec-firewall-bouncer runs with the settings the host
// script renders, fills the tables of CROWDSEC_NFT from a stand-in of CrowdSec's decision stream,
// and a banned source loses both the host's own ports (input) and the mail ports that Docker
// DNATs to a container (forward). Namespaces: "wan" (a banned and a clean client), "vm" (the host
// with Docker-like NAT, the bouncer and the LAPI stand-in) and "ctr" (the container).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CROWDSEC_BOUNCER_SETTINGS, CROWDSEC_NFT, CROWDSEC_SETS } from "../render/host-files";
import { runOk } from "./support/exec";
import { inNs, inNsWithInput, NetnsLab, probe as probeIn, settle } from "./support/netns";
import { requireTool } from "./tools";

const BOUNCER = "/usr/bin/crowdsec-firewall-bouncer";
const suffix = String(process.pid);
const NS = { wan: `csw-${suffix}`, vm: `csv-${suffix}`, ctr: `csc-${suffix}` };
const HOST = { v4: "198.51.100.1", v6: "2001:db8:51::1" };
const BANNED = { v4: "198.51.100.66", v6: "2001:db8:51::66" };
const CLEAN = { v4: "198.51.100.10", v6: "2001:db8:51::10" };
const CONTAINER = { v4: "172.22.1.2", v6: "fd00:22::2" };
const LAPI_KEY = "lapi-test-key-0123456789";

const lab = new NetnsLab(Object.values(NS));
let workdir = "";

/** Connections from the WAN namespace, from one of its two addresses. */
const probe = (from: string, host: string, ports: readonly number[]) => probeIn(NS.wan, host, ports, { from });

const setElements = (family: "ipv4" | "ipv6") => {
  const { table, set } = CROWDSEC_SETS[family];
  return inNs(NS.vm, "nft", "list", "set", family === "ipv4" ? "ip" : "ip6", table, set);
};

beforeAll(async () => {
  for (const tool of ["ip", "nft", BOUNCER]) requireTool(tool);
  workdir = mkdtempSync(join(tmpdir(), "mailstack-crowdsec-"));
  await lab.create();
  await runOk("ip", [
    "link",
    "add",
    "cs-wan0",
    "netns",
    NS.wan,
    "type",
    "veth",
    "peer",
    "name",
    "cs-vmwan",
    "netns",
    NS.vm,
  ]);
  await runOk("ip", [
    "link",
    "add",
    "cs-ctr0",
    "netns",
    NS.ctr,
    "type",
    "veth",
    "peer",
    "name",
    "cs-vmctr",
    "netns",
    NS.vm,
  ]);
  const setup: [string, string[]][] = [
    [NS.wan, ["ip", "addr", "add", `${CLEAN.v4}/24`, "dev", "cs-wan0"]],
    [NS.wan, ["ip", "addr", "add", `${BANNED.v4}/24`, "dev", "cs-wan0"]],
    [NS.wan, ["ip", "-6", "addr", "add", `${CLEAN.v6}/64`, "dev", "cs-wan0", "nodad"]],
    [NS.wan, ["ip", "-6", "addr", "add", `${BANNED.v6}/64`, "dev", "cs-wan0", "nodad"]],
    [NS.vm, ["ip", "addr", "add", `${HOST.v4}/24`, "dev", "cs-vmwan"]],
    [NS.vm, ["ip", "-6", "addr", "add", `${HOST.v6}/64`, "dev", "cs-vmwan", "nodad"]],
    [NS.vm, ["ip", "addr", "add", "172.22.1.1/24", "dev", "cs-vmctr"]],
    [NS.vm, ["ip", "-6", "addr", "add", "fd00:22::1/64", "dev", "cs-vmctr", "nodad"]],
    [NS.ctr, ["ip", "addr", "add", `${CONTAINER.v4}/24`, "dev", "cs-ctr0"]],
    [NS.ctr, ["ip", "-6", "addr", "add", `${CONTAINER.v6}/64`, "dev", "cs-ctr0", "nodad"]],
  ];
  for (const [ns, command] of setup) await inNs(ns, ...command);
  for (const [ns, device] of [
    [NS.wan, "cs-wan0"],
    [NS.vm, "cs-vmwan"],
    [NS.vm, "cs-vmctr"],
    [NS.ctr, "cs-ctr0"],
  ] as const)
    await inNs(ns, "ip", "link", "set", device, "up");
  for (const ns of Object.values(NS)) await inNs(ns, "ip", "link", "set", "lo", "up");
  await inNs(NS.ctr, "ip", "route", "add", "default", "via", "172.22.1.1");
  await inNs(NS.ctr, "ip", "-6", "route", "add", "default", "via", "fd00:22::1");
  await inNs(NS.vm, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
  // What Docker does for a published port: DNAT to the container, accept in its forward chain.
  const docker = (family: string, container: string) => `table ${family} dockerlike {
  chain prerouting { type nat hook prerouting priority -100; tcp dport 25 dnat to ${family === "ip" ? container : `[${container}]`}:25; }
  chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; tcp dport 25 accept; }
}
`;
  await inNsWithInput(NS.vm, docker("ip", CONTAINER.v4) + docker("ip6", CONTAINER.v6), "nft", "-f", "-");
  // The host script loads CROWDSEC_NFT before the bouncer starts (twice here: it must be idempotent).
  for (let i = 0; i < 2; i++) await inNsWithInput(NS.vm, CROWDSEC_NFT, "nft", "-f", "-");

  await lab.listen(NS.ctr, [25]);
  await lab.listen(NS.vm, [22]);
  await lab.startScript(NS.vm, "lapi.ts", "8080", LAPI_KEY, JSON.stringify([BANNED.v4, BANNED.v6]));

  const config = join(workdir, "crowdsec-firewall-bouncer.yaml");
  writeFileSync(
    config,
    `${CROWDSEC_BOUNCER_SETTINGS}api_url: http://127.0.0.1:8080/\napi_key: ${LAPI_KEY}\nlog_mode: stdout\nlog_level: info\n`,
    { mode: 0o600 },
  );
  await inNs(NS.vm, BOUNCER, "-c", config, "-t");
  void lab.start(NS.vm, BOUNCER, ["-c", config], () => false).catch(() => undefined);
  const deadline = Date.now() + 20_000;
  while (!((await setElements("ipv4")).includes(BANNED.v4) && (await setElements("ipv6")).includes(BANNED.v6))) {
    if (Date.now() > deadline) throw new Error(`the bouncer did not fill the sets:\n${await setElements("ipv4")}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // Both families reach the host before any verdict is taken from a probe.
  await settle(NS.wan, HOST.v4, 22, CLEAN.v4);
  await settle(NS.wan, HOST.v6, 22, CLEAN.v6);
});

afterAll(async () => {
  await lab.destroy();
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

describe("CrowdSec's firewall bouncer with the rendered settings", () => {
  it("fills the sets with exactly the banned addresses", async () => {
    expect(await setElements("ipv4")).toContain(BANNED.v4);
    expect(await setElements("ipv4")).not.toContain(CLEAN.v4);
    expect(await setElements("ipv6")).toContain(BANNED.v6);
  });

  it("cuts a banned source off the containers' mail ports (forwarded) and the host's own (input)", async () => {
    for (const [family, host] of [
      ["v4", HOST.v4],
      ["v6", HOST.v6],
    ] as const) {
      expect(await probe(BANNED[family], host, [25, 22]), `banned ${family}`).toEqual({
        25: "filtered",
        22: "filtered",
      });
      expect(await probe(CLEAN[family], host, [25, 22]), `clean ${family}`).toEqual({ 25: "open", 22: "open" });
    }
    const dropped = await inNs(NS.vm, "nft", "list", "chain", "ip", CROWDSEC_SETS.ipv4.table, "forward");
    expect(dropped).toMatch(/counter packets [1-9]/);
  });

  it("needs the forward hook: with input alone a banned source still reaches the container", async () => {
    await inNs(NS.vm, "nft", "delete", "chain", "ip", CROWDSEC_SETS.ipv4.table, "forward");
    try {
      expect(await probe(BANNED.v4, HOST.v4, [25, 22])).toEqual({ 25: "open", 22: "filtered" });
    } finally {
      await inNsWithInput(NS.vm, CROWDSEC_NFT, "nft", "-f", "-");
    }
  });
});
