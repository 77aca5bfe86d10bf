// The mail host's Prometheus exporters answer only the monitoring networks: no pfSense WAN rule or
// port forward reaches them, no pass rule opens them to any source, no UFW rule allows them from
// anywhere, and no exporter listens on every address (the VM also holds its public IPv6). Judges
// the custom resources: the pfSense objects and the scripts the remote commands run.
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  hostConfigTexts,
  isWorldCidr,
  pfsenseIngress,
  reachedServices,
  stackRule,
  text,
  type PortSet,
} from "../lib";

/** Port → the exporter listening there (render/monitoring.ts EXPORTER_PORTS). */
export const WATCHED_EXPORTERS: ReadonlyMap<number, string> = new Map([
  [9100, "node_exporter"],
  [9154, "the Postfix exporter"],
  [9115, "the blackbox exporter"],
]);

function exporters(ports: PortSet): string[] {
  return reachedServices(ports, WATCHED_EXPORTERS);
}

/** The ports a UFW allow/limit command opens (undefined: not such a command). */
function ufwPorts(words: readonly string[]): PortSet | undefined {
  const ports = new Set<number>();
  const add = (value: string) => {
    for (const part of value.replace(/\/(tcp|udp)$/, "").split(",")) {
      const range = /^(\d+)(?::(\d+))?$/.exec(part);
      if (!range) return false;
      for (let port = Number(range[1]); port <= Number(range[2] ?? range[1]) && port <= 65535; port++) ports.add(port);
    }
    return true;
  };
  const portIndex = words.indexOf("port");
  if (portIndex >= 0) return add(words[portIndex + 1] ?? "") ? ports : undefined;
  // The simple form: `ufw allow [in] [log] 9100/tcp`.
  const simple = words.slice(2).find((word) => /^\d[\d,:]*(\/(tcp|udp))?$/.test(word));
  if (simple) return add(simple) ? ports : undefined;
  // No port at all (e.g. `ufw allow from 10.0.0.0/8`): every port.
  return words.includes("from") ? "any" : undefined;
}

/** Host firewall commands and listen addresses that expose an exporter beyond the monitoring networks. */
export function exporterExposures(script: string): string[] {
  const problems: string[] = [];
  for (const line of script.split("\n")) {
    const command = line.trim().replace(/\s+comment\s+'[^']*'$/, "");
    const words = command.split(/\s+/);
    if (words[0] === "ufw" && (words[1] === "allow" || words[1] === "limit")) {
      const ports = ufwPorts(words);
      const reached = ports ? exporters(ports) : [];
      if (reached.length === 0) continue;
      const from = words[words.indexOf("from") + 1];
      if (!words.includes("from") || from === undefined || isWorldCidr(from))
        problems.push(`"${command}" opens ${reached.join(", ")} to everyone`);
      continue;
    }
    for (const match of line.matchAll(/--web\.listen-address[= ]\s*'?(\S*?):(\d+)'?(?=\s|$)/g)) {
      const host = (match[1] ?? "").replace(/^\[|\]$/g, "");
      const reached = exporters(new Set([Number(match[2])]));
      if (reached.length > 0 && ["", "0.0.0.0", "::"].includes(host))
        problems.push(`${reached.join(", ")} listens on every address (${match[1] ?? ""}:${match[2] ?? ""})`);
    }
    const setting = /^readonly LISTEN_ADDRESS='([^']*)'$/.exec(line.trim());
    if (setting && ["", "0.0.0.0", "::", "[::]"].includes(setting[1] ?? ""))
      problems.push(`the exporters are set to listen on every address (LISTEN_ADDRESS='${setting[1] ?? ""}')`);
  }
  return problems;
}

export const exporterSources = stackRule(RULES.exporterSources, {
  description:
    "The Prometheus exporters of the mail host (9100, 9154, 9115) answer only the monitoring networks: no WAN rule, port forward, open pass rule, UFW allow from anywhere or listener on every address.",
  remediationSteps:
    "List the networks Prometheus scrapes from in mailstack:monitoring.scrapeCidrs (private IPv4) and keep mailstack:monitoring.pfsenseInterface off the WAN; a hosted backend gets the samples by remote_write, never by scraping the host over the internet.",
  validateStack: (args, report) => {
    const { aliases, forwards, passRules } = pfsenseIngress(args.resources);
    for (const { resource: forward, ports } of forwards) {
      const reached = new Set(ports.flatMap(exporters));
      for (const what of reached)
        report(
          `port forward ${forward.name} exposes ${what} to the internet: remove the exporter port from it`,
          forward.urn,
        );
    }
    for (const { resource: rule, spec, ports, onWan } of passRules) {
      const reached = exporters(ports);
      if (reached.length === 0) continue;
      if (onWan) {
        report(
          `WAN rule ${rule.name} passes ${reached.join(", ")} from the internet: scrape from the monitoring networks (mailstack:monitoring.scrapeCidrs) on a LAN interface`,
          rule.urn,
        );
        continue;
      }
      const source = text(spec.source ?? "any");
      const sources = aliases.get(source) ?? [source];
      if (sources.some(isWorldCidr))
        report(
          `rule ${rule.name} passes ${reached.join(", ")} from any source: limit its source to the monitoring networks (mailstack:monitoring.scrapeCidrs)`,
          rule.urn,
        );
    }
    // What the hosts run: the bring-up's commands and the first boot's cloud-init snippet.
    for (const resource of args.resources.filter((r) => r.type === TYPES.command || r.type === TYPES.snippet)) {
      for (const problem of new Set(hostConfigTexts(resource).flatMap(exporterExposures)))
        report(
          `${resource.name}: ${problem}: allow only the monitoring networks (mailstack:monitoring.scrapeCidrs) and listen on the LAN address`,
          resource.urn,
        );
    }
  },
});
