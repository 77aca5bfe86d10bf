// mailstack-exposure-restrict-exporter-sources: the stack's own monitoring (pfSense plan with the
// monitoring rule, UFW rules, the exporters' bring-up step) passes; every way of putting an
// exporter port in front of the internet fails the plan.
import { describe, expect, it } from "vitest";
import type { ResourceView } from "../policies/args";
import { exporterSources } from "../policies/exposure/exporter-sources";
import { TYPES } from "../policies/lib";
import { firewallPlan, type FirewallPlan } from "../render/firewall-plan";
import { firewallScript } from "../render/host-scripts";
import { EXPORTER_PORT_LIST } from "../render/monitoring";
import { vmMonitoringScript } from "../render/monitoring-host";
import { resource, stackMessages, UNKNOWN_VALUE } from "./support/policy";

const FIREWALL_RULE = TYPES.pfsenseRule;
const SCRAPE = ["10.3.5.0/24"];

const plan = (monitoring: { interface: string; sources: readonly string[] }): FirewallPlan =>
  firewallPlan({
    namespace: "prod",
    wanInterface: "wan",
    lanInterface: "lan",
    hostIpv4: "10.3.0.4",
    hostPublicIpv6: "2a05:bec0:27:fd03::4",
    hostAddresses: ["10.3.0.4", "fd03::4", "2a05:bec0:27:fd03::4"],
    publicPorts: [25, 80, 443, 465, 587, 993, 995],
    monitoring: { ...monitoring, ports: EXPORTER_PORT_LIST },
  });

function pfsenseResources(value: FirewallPlan): ResourceView[] {
  const object = (type: string, kind: string, key: string, spec: object) =>
    resource(type, `pfsense-${key}`, { connection: UNKNOWN_VALUE, kind, spec: { ...spec } });
  return [
    ...value.aliases.map(({ key, ...spec }) => object(`${TYPES.pfsensePrefix}FirewallAlias`, "alias", key, spec)),
    ...value.portForwards.map(({ key, ...spec }) => object(TYPES.pfsenseForward, "port_forward", key, spec)),
    ...value.rules.map(({ key, ...spec }) => object(FIREWALL_RULE, "rule", key, spec)),
  ];
}

const command = (name: string, stdin: string) =>
  resource(TYPES.command, name, { connection: UNKNOWN_VALUE, create: "sudo bash -s", stdin });

const hostFirewall = (sources: readonly string[]) =>
  firewallScript({
    interface: "eth0",
    publicPorts: [25, 80, 443, 465, 587, 993, 995],
    adminNetworks: ["10.3.0.0/24"],
    httpsEarlySources: ["10.3.0.0/24"],
    monitoring: { sources, ports: EXPORTER_PORT_LIST },
  });

const monitoringStep = (listenAddress: string) =>
  vmMonitoringScript({
    listenAddress,
    mailcowDir: "/opt/mailcow-dockerized",
    composeProject: "mailcowdockerized",
    services: ["postfix-mailcow"],
    families: ["ip4", "ip6"],
  });

describe("exporter sources (mailstack-exposure-restrict-exporter-sources)", () => {
  it("accepts the stack's own pfSense plan, host firewall and exporters on the LAN address", async () => {
    expect(
      await stackMessages(exporterSources, [
        ...pfsenseResources(plan({ interface: "opt1", sources: SCRAPE })),
        command("mailcow-firewall", hostFirewall(SCRAPE).content),
        command("mailcow-monitoring", monitoringStep("10.3.0.4").content),
      ]),
    ).toEqual([]);
  });

  it("fails a plan whose monitoring rule sits on the WAN", async () => {
    expect(await stackMessages(exporterSources, pfsenseResources(plan({ interface: "wan", sources: SCRAPE })))).toEqual(
      [expect.stringMatching(/^WAN rule pfsense-monitoring-in passes node_exporter \(9100\), .* from the internet/)],
    );
  });

  it("fails a plan whose monitoring sources are the whole internet", async () => {
    expect(
      await stackMessages(exporterSources, pfsenseResources(plan({ interface: "opt1", sources: ["0.0.0.0/0"] }))),
    ).toEqual([expect.stringMatching(/^rule pfsense-monitoring-in passes .* from any source/)]);
  });

  it("fails a port forward that carries an exporter port", async () => {
    const forward = resource(TYPES.pfsenseForward, "pfsense-nat-node", {
      connection: UNKNOWN_VALUE,
      kind: "port_forward",
      spec: { interface: "wan", destination: "wan:ip", destination_port: "9100", target: "10.3.0.4", protocol: "tcp" },
    });
    expect(await stackMessages(exporterSources, [forward])).toEqual([
      "port forward pfsense-nat-node exposes node_exporter (9100) to the internet: remove the exporter port from it",
    ]);
  });

  it("fails a port forward without a destination port (pfSense forwards every port then)", async () => {
    const forward = resource(TYPES.pfsenseForward, "pfsense-nat-all", {
      connection: UNKNOWN_VALUE,
      kind: "port_forward",
      spec: { interface: "wan", destination: "wan:ip", target: "10.3.0.4", protocol: "any" },
    });
    expect(await stackMessages(exporterSources, [forward])).toEqual([
      "port forward pfsense-nat-all exposes node_exporter (9100) to the internet: remove the exporter port from it",
      "port forward pfsense-nat-all exposes the Postfix exporter (9154) to the internet: remove the exporter port from it",
      "port forward pfsense-nat-all exposes the blackbox exporter (9115) to the internet: remove the exporter port from it",
    ]);
  });

  it.each([
    "ufw allow 9100",
    "ufw allow proto tcp to any port 9154",
    "ufw allow proto tcp from 0.0.0.0/0 to any port 9115",
  ])("fails the host firewall command %j", async (line) => {
    const stdin = ["#!/bin/bash", "# mailstack firewall: test", "ufw default deny incoming", line, ""].join("\n");
    expect(await stackMessages(exporterSources, [command("mailcow-firewall", stdin)])).toEqual([
      expect.stringMatching(/^mailcow-firewall: ".*" opens .* to everyone: allow only the monitoring networks/),
    ]);
  });

  it("reads the rules the stack's firewall step carries in its settings", async () => {
    expect(
      await stackMessages(exporterSources, [command("mailcow-firewall", hostFirewall(["0.0.0.0/0"]).content)]),
    ).toEqual([
      expect.stringMatching(
        /^mailcow-firewall: "ufw allow log from 0\.0\.0\.0\/0 to any port 9100 proto tcp" opens node_exporter \(9100\) to everyone/,
      ),
      expect.anything(),
      expect.anything(),
    ]);
  });

  it("fails exporters set to listen on every address (the VM also holds its public IPv6)", async () => {
    const messages = await stackMessages(exporterSources, [
      command("mailcow-monitoring", monitoringStep("0.0.0.0").content),
    ]);
    expect(messages).toContainEqual(
      expect.stringContaining("the exporters are set to listen on every address (LISTEN_ADDRESS='0.0.0.0')"),
    );
    expect(messages).toContainEqual(
      expect.stringContaining("node_exporter (9100) listens on every address (0.0.0.0:9100)"),
    );
  });
});
