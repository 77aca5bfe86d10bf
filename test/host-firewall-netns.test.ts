// The mail host's firewall script (render/scripts/firewall.sh) run for real with ufw in a network
// namespace, against its own copy of /etc/ufw: first boot, a change of ports and admin networks
// on the running firewall, an unchanged re-run. After every ufw or iptables-restore call the
// script makes on the running firewall, a client namespace probes a port no configuration ever
// opens: the firewall must never be open in between (ufw resets, reloads and policy changes stop
// the whole firewall, every policy ACCEPT, until it starts again).
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerUserRules, ufwRules, type FirewallInput } from "../render/host-files";
import { firewallScript } from "../render/host-scripts";
import { root } from "./plans";
import { run, runOk } from "./support/exec";
import { inNs, NetnsLab, probe, settle } from "./support/netns";
import { withSettings } from "./support/scripts";
import { requireTool } from "./tools";

const suffix = String(process.pid);
const NS = { client: `hfc-${suffix}`, vm: `hfv-${suffix}` };
const VM = "10.3.0.1";
/** The client's addresses: an admin, an address admitted by the second config only, a stranger. */
const ADMIN = "10.3.0.2";
const LATER_ADMIN = "10.3.0.66";
const STRANGER = "10.3.0.200";
/** A listening port no configuration opens. */
const CLOSED = 8080;

const first: FirewallInput = {
  interface: "hf-vm0",
  publicPorts: [25, 443],
  adminNetworks: ["10.3.0.0/28", "fd03::/124"],
  httpsEarlySources: ["10.3.0.0/28"],
};
// (With pfSense's syslog: ufw lists a UDP rule with a source as rendered, the exact-lines checks cover it.)
const second: FirewallInput = {
  ...first,
  publicPorts: [25],
  adminNetworks: ["10.3.0.0/28", "10.3.0.64/28"],
  pfsenseSyslog: { source: "10.3.0.1", port: 5514 },
};

const lab = new NetnsLab(Object.values(NS));
let dir = "";

/** The script as rendered, its marker in the test directory. */
const script = (input: FirewallInput) =>
  withSettings(firewallScript(input).content, { HTTPS_PUBLIC_MARKER: join(dir, "https-public") });

/** Runs `command` in the VM namespace with the test's /etc/ufw and /etc/default/ufw mounted over the real ones. */
function inVm(command: string, options: { input?: string; probe?: boolean } = {}) {
  const mounts = `mount --bind ${dir}/etc-ufw /etc/ufw && mount --bind ${dir}/default-ufw /etc/default/ufw`;
  return run("ip", ["netns", "exec", NS.vm, "unshare", "--mount", "bash", "-c", `${mounts} && ${command}`], {
    ...(options.input !== undefined ? { input: options.input } : {}),
    env: {
      ...process.env,
      PATH: `${dir}/bin:${process.env.PATH ?? ""}`,
      MAILSTACK_TEST_PROBE: options.probe ? "1" : "",
    },
  });
}

const runFirewall = (input: FirewallInput, probeBetween = false) =>
  inVm("bash -s", { input: script(input), probe: probeBetween });

const showAdded = async () =>
  (await inVm("ufw show added")).stdout
    .split("\n")
    .filter((line) => line.startsWith("ufw "))
    .join("\n");

const probeLog = () => (existsSync(join(dir, "probes")) ? readFileSync(join(dir, "probes"), "utf8") : "");

beforeAll(async () => {
  for (const tool of ["ip", "ufw", "iptables-restore", "ip6tables-restore", "unshare"]) requireTool(tool);
  dir = mkdtempSync(join(tmpdir(), "mailstack-host-firewall-"));
  // A fresh host's ufw: the package's rule files (/usr/share/ufw/iptables, which its postinst installs), disabled.
  const etc = join(dir, "etc-ufw");
  cpSync("/etc/ufw", etc, { recursive: true });
  for (const file of ["before", "before6", "after", "after6", "user", "user6"].map((name) => `${name}.rules`)) {
    copyFileSync(join("/usr/share/ufw/iptables", file), join(etc, file));
    chmodSync(join(etc, file), 0o640);
  }
  writeFileSync(join(etc, "ufw.conf"), "ENABLED=no\nLOGLEVEL=low\n");
  writeFileSync(
    join(dir, "default-ufw"),
    readFileSync("/etc/default/ufw", "utf8").replace(/^DEFAULT_INPUT_POLICY=.*$/m, 'DEFAULT_INPUT_POLICY="DROP"'),
  );
  const bin = join(dir, "bin");
  mkdirSync(bin);
  // The package is there already; apt-get has nothing to do.
  writeFileSync(join(bin, "apt-get"), "#!/bin/sh\nexit 0\n");
  // After every call that changes the running firewall: what a stranger and an admin reach.
  const targets = JSON.stringify([
    { host: VM, port: CLOSED, from: ADMIN },
    { host: VM, port: CLOSED, from: STRANGER },
    { host: VM, port: 22, from: STRANGER },
  ]);
  const probeCommand = `cd ${root} && ip netns exec ${NS.client} ${process.execPath} --require tsx/cjs test/support/probe.ts '${targets}' 700`;
  for (const [name, real] of [
    ["ufw", "/usr/sbin/ufw"],
    ["iptables-restore", "/usr/sbin/iptables-restore"],
    ["ip6tables-restore", "/usr/sbin/ip6tables-restore"],
  ] as const) {
    writeFileSync(
      join(bin, name),
      `#!/bin/bash\n${real} "$@"\nstatus=$?\nif [ -n "$MAILSTACK_TEST_PROBE" ]; then\n  echo "${name} $* => $( ${probeCommand} )" >>${dir}/probes\nfi\nexit $status\n`,
    );
    chmodSync(join(bin, name), 0o755);
  }
  chmodSync(join(bin, "apt-get"), 0o755);

  await lab.create();
  await runOk("ip", [
    "link",
    "add",
    "hf-cl0",
    "netns",
    NS.client,
    "type",
    "veth",
    "peer",
    "name",
    "hf-vm0",
    "netns",
    NS.vm,
  ]);
  for (const address of [ADMIN, LATER_ADMIN, STRANGER])
    await inNs(NS.client, "ip", "addr", "add", `${address}/24`, "dev", "hf-cl0");
  await inNs(NS.vm, "ip", "addr", "add", `${VM}/24`, "dev", "hf-vm0");
  for (const [ns, device] of [
    [NS.client, "hf-cl0"],
    [NS.vm, "hf-vm0"],
  ] as const) {
    await inNs(ns, "ip", "link", "set", device, "up");
    await inNs(ns, "ip", "link", "set", "lo", "up");
  }
  await lab.listen(NS.vm, [22, 25, 443, CLOSED]);
  await settle(NS.client, VM, CLOSED, STRANGER);
});

afterAll(async () => {
  await lab.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the host firewall script with real ufw", () => {
  it("on first boot: starts ufw with exactly the rendered rules and the early DOCKER-USER chain", async () => {
    const result = await runFirewall(first);
    expect(result.status, result.stderr).toBe(0);
    expect(await showAdded()).toBe(ufwRules(first).trim());
    expect((await inVm("ufw status")).stdout).toMatch(/^Status: active$/m);
    expect(await probe(NS.client, VM, [25, 443, 22, CLOSED], { from: ADMIN })).toEqual({
      25: "open",
      443: "open",
      22: "open",
      [CLOSED]: "filtered",
    });
    expect(await probe(NS.client, VM, [25, 22, CLOSED], { from: STRANGER })).toEqual({
      25: "open",
      22: "filtered",
      [CLOSED]: "filtered",
    });
    const chain = await inNs(NS.vm, "iptables", "-S", "DOCKER-USER");
    expect(chain).toContain(
      "-A DOCKER-USER -s 10.3.0.0/28 -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
    );
    const afterRules = readFileSync(join(dir, "etc-ufw", "after.rules"), "utf8");
    expect(afterRules.split("# BEGIN mailstack DOCKER-USER").length).toBe(2);
    expect(afterRules).toContain(dockerUserRules(first, false, 4));
  });

  it("changes ports, admin networks and the DOCKER-USER chain on the running firewall, never open in between", async () => {
    writeFileSync(join(dir, "https-public"), "");
    rmSync(join(dir, "probes"), { force: true });
    const result = await runFirewall(second, true);
    expect(result.status, result.stderr).toBe(0);
    const probes = probeLog();
    // The script changed the running firewall (and so was probed) several times, never opening it.
    expect(probes.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(3);
    expect(probes).not.toContain('"open"');
    expect(probes).not.toMatch(/^ufw (--force )?(reset|reload|disable|enable)/m);
    expect(await showAdded()).toBe(ufwRules(second).trim());
    expect(result.stdout).toContain("removed ufw allow log 443/tcp comment 'mailstack-public'");
    expect(await probe(NS.client, VM, [25, 443, 22], { from: LATER_ADMIN })).toEqual({
      25: "open",
      443: "filtered",
      22: "open",
    });
    // The marker exists: the public chain is live, and is what after.rules loads on the next boot.
    const chain = await inNs(NS.vm, "iptables", "-S", "DOCKER-USER");
    expect(chain).not.toContain("--ctorigdstport 443");
    expect(chain.trim().split("\n").pop()).toBe("-A DOCKER-USER -j DROP");
    const afterRules = readFileSync(join(dir, "etc-ufw", "after.rules"), "utf8");
    expect(afterRules.split("# BEGIN mailstack DOCKER-USER").length).toBe(2);
    expect(afterRules).toContain(dockerUserRules(second, true, 4));
    expect(readFileSync(join(dir, "etc-ufw", "after6.rules"), "utf8")).toContain(dockerUserRules(second, true, 6));
  });

  it("changes nothing when run again with the same configuration", async () => {
    rmSync(join(dir, "probes"), { force: true });
    const before = readFileSync(join(dir, "etc-ufw", "after.rules"), "utf8");
    const result = await runFirewall(second, true);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/^(changed|mailstack: removed) /m);
    expect(readFileSync(join(dir, "etc-ufw", "after.rules"), "utf8")).toBe(before);
    expect(await showAdded()).toBe(ufwRules(second).trim());
    expect(probeLog()).not.toContain('"open"');
  });

  it("removes nothing when ufw lists a rule differently from the rendering, and says so", async () => {
    const rewritten: FirewallInput = { ...second, adminNetworks: ["10.3.0.7/28"] };
    const result = await runFirewall(rewritten);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      "ufw lists no rule \"ufw allow log from 10.3.0.7/28 to any port 22 proto tcp comment 'mailstack-admin-ssh'\"",
    );
    expect(await showAdded()).toBe(ufwRules(second).trim());
    expect(await probe(NS.client, VM, [22], { from: LATER_ADMIN })).toEqual({ 22: "open" });
  });
});
