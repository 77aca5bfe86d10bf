// What monitoring is for one stack (pure), derived from the validated configuration: where the
// VM's exporters listen and who may scrape them, which endpoints the blackbox probes, the files
// for the operator's Prometheus, Alertmanager and Grafana, and what the Proxmox node gets.
import type { MailstackConfig } from "../config/load";
import { MAILCOW_SERVICES } from "../config/schema";
import type { Endpoint, Endpoints } from "./endpoints";
import { grafanaDashboard } from "./grafana-dashboard";
import { COMPOSE_PROJECT, MAILCOW_DIR } from "./mailcow";
import {
  EXPORTER_PORTS,
  EXPORTER_PORT_LIST,
  prometheusConfig,
  type IpFamily,
  type Probe,
  type ProbeModule,
} from "./monitoring";
import { alertDurations, alertmanagerConfig, alertRules, DEFAULT_ROUTE_TIMING } from "./alerting";
import { MTA_STS_PATH } from "./mta-sts-worker";
import type { VmMonitoringInput } from "./monitoring-host";

/** Where the plan puts the operator's files (below out/<stack>/). */
export const MONITORING_FILES = {
  prometheus: "files/monitoring/prometheus/prometheus.yml",
  rules: "files/monitoring/prometheus/mailstack-alerts.yml",
  alertmanager: "files/monitoring/alertmanager/alertmanager.yml",
  dashboard: "files/monitoring/grafana/mailstack-dashboard.json",
} as const;

/** The probe module of an endpoint (by its port and security). */
function probeModule(name: string, endpoint: Endpoint): ProbeModule {
  if (endpoint.security === "https") return "https";
  const implicit = endpoint.security === "implicit-tls";
  if (name.startsWith("imap")) return implicit ? "imaps" : "imap_starttls";
  if (name.startsWith("pop3")) return implicit ? "pop3s" : "pop3_starttls";
  if (name === "sieve") return "sieve_starttls";
  return implicit ? "smtps" : "smtp_starttls";
}

/** Every public endpoint, and each hosted domain's MTA-STS policy. */
export function probes(endpoints: Endpoints, domains: readonly string[]): Probe[] {
  return [
    ...Object.entries(endpoints).map(([name, endpoint]: [string, Endpoint]) => ({
      service: name,
      module: probeModule(name, endpoint),
      target: endpoint.security === "https" ? `https://${endpoint.host}/` : `${endpoint.host}:${endpoint.port}`,
    })),
    ...domains.map((domain) => ({
      service: "mta-sts",
      module: "mta_sts" as const,
      target: `https://mta-sts.${domain}${MTA_STS_PATH}`,
    })),
  ];
}

export interface MonitoringSetup {
  readonly vm: VmMonitoringInput & { readonly scrapeCidrs: readonly string[] };
  /** The pfSense rule's interface and sources (none when nothing scrapes the VM). */
  readonly pfsense?: {
    readonly interface: string;
    readonly sources: readonly string[];
    readonly ports: readonly number[];
  };
  /** The Proxmox node's exporter for the PBS backup metrics (with a PBS backup and scrape networks). */
  readonly pveNode?: { readonly listenAddress: string; readonly node: string };
  readonly files: readonly { readonly path: string; readonly content: string }[];
}

export function monitoringSetup(config: MailstackConfig, endpoints: Endpoints): MonitoringSetup {
  const monitoring = config.monitoring;
  const lanIpv4 = config.lan.ipv4.split("/")[0] ?? "";
  const scraped = monitoring.scrapeCidrs.length > 0;
  // Without scrape networks the exporters answer on loopback only (an SSH tunnel reaches them).
  const listenAddress = scraped ? lanIpv4 : "127.0.0.1";
  const families: IpFamily[] = ["ip4", "ip6"];
  const nodeAddress = config.proxmox.sshAddress ?? new URL(config.proxmox.endpoint).hostname;
  const pveNode = scraped && config.backup.pbs ? { listenAddress: nodeAddress, node: config.proxmox.node } : undefined;
  const at = (port: number) => `${listenAddress}:${port}`;
  const domains = config.domains.map((domain) => domain.name);
  const rulesFile = MONITORING_FILES.rules.split("/").pop() ?? "mailstack-alerts.yml";
  return {
    vm: {
      listenAddress,
      scrapeCidrs: monitoring.scrapeCidrs,
      mailcowDir: MAILCOW_DIR,
      composeProject: COMPOSE_PROJECT,
      services: MAILCOW_SERVICES,
      families,
    },
    ...(scraped
      ? {
          pfsense: {
            interface: monitoring.pfsenseInterface,
            sources: monitoring.scrapeCidrs,
            ports: EXPORTER_PORT_LIST,
          },
        }
      : {}),
    ...(pveNode ? { pveNode } : {}),
    files: [
      {
        path: MONITORING_FILES.prometheus,
        content: prometheusConfig({
          stack: config.stack,
          mailHost: config.hostname,
          exporters: {
            node: at(EXPORTER_PORTS.node),
            postfix: at(EXPORTER_PORTS.postfix),
            blackbox: at(EXPORTER_PORTS.blackbox),
          },
          probes: probes(endpoints, domains),
          families,
          ...(pveNode
            ? { pveNode: { target: `${pveNode.listenAddress}:${EXPORTER_PORTS.node}`, node: pveNode.node } }
            : {}),
          ...(monitoring.verifyExporter ? { verifyExporter: monitoring.verifyExporter } : {}),
          alertmanagers: monitoring.alertmanagers,
          remoteWrite: monitoring.remoteWrite,
          scrapeInterval: "30s",
          evaluationInterval: "30s",
          rulesFile,
        }),
      },
      {
        path: MONITORING_FILES.rules,
        content: alertRules({
          stack: config.stack,
          for: alertDurations(monitoring.alertFor),
          thresholds: { ...monitoring.thresholds, backupMaxAgeHours: config.backup.offsite?.maxAgeHours ?? 26 },
        }),
      },
      {
        path: MONITORING_FILES.alertmanager,
        content: alertmanagerConfig({
          stack: config.stack,
          notifyEmail: monitoring.notifyEmail,
          from: monitoring.smtp.from,
          smarthost: monitoring.smtp.smarthost,
          requireTls: monitoring.smtp.requireTls,
          ...(monitoring.smtp.username ? { username: monitoring.smtp.username } : {}),
          ...(monitoring.smtp.passwordFile ? { passwordFile: monitoring.smtp.passwordFile } : {}),
          timing: DEFAULT_ROUTE_TIMING,
        }),
      },
      { path: MONITORING_FILES.dashboard, content: grafanaDashboard(config.stack, config.hostname) },
    ],
  };
}
