// The hosts' side of monitoring (pure): what the mail VM's `monitoring` bring-up step and the
// Proxmox node's command install — the exporters with their listen address, the collectors that
// feed node_exporter's textfile directory, their systemd units. Shell lives in render/scripts/
// (monitoring-install.sh, mailstack-metrics.sh, mailstack-postfix-log.sh, pve-backup-metrics.sh);
// this file only supplies values and file contents.
import { BACKUP_CONFIG_FILE, BACKUP_PATHS } from "./backup";
import { CROWDSEC_SETS } from "./host-files";
import type { HostScript, InstalledFile } from "./host-scripts";
import { blackboxConfig, EXPORTER_PORTS, TEXTFILE_DIR, type IpFamily } from "./monitoring";
import { b64, renderScript } from "./shell";

/** Where the monitoring pieces live on the hosts (tests point them elsewhere). */
export interface MonitoringPaths {
  readonly textfileDir: string;
  readonly stateDir: string;
  readonly metricsTool: string;
  readonly postfixLogTool: string;
  readonly postfixLog: string;
  readonly postfixExporter: string;
  /** Where the Postfix exporter sees the queue's public/ directory (a bind mount of its unit). */
  readonly postfixQueue: string;
  readonly blackboxConfig: string;
  readonly backupConfigFile: string;
  readonly backupStatusFile: string;
}

export const MONITORING_PATHS: MonitoringPaths = {
  textfileDir: TEXTFILE_DIR,
  stateDir: "/var/lib/mailstack",
  metricsTool: "/usr/local/sbin/mailstack-metrics",
  postfixLogTool: "/usr/local/sbin/mailstack-postfix-log",
  postfixLog: "/var/log/mailstack/postfix.log",
  postfixExporter: "/usr/local/lib/mailstack/prometheus-postfix-exporter",
  postfixQueue: "/run/mailstack-postfix-public",
  blackboxConfig: "/etc/prometheus/mailstack-blackbox.yml",
  backupConfigFile: BACKUP_CONFIG_FILE,
  backupStatusFile: BACKUP_PATHS.statusFile,
};

export interface VmMonitoringInput {
  /** The VM's LAN IPv4 when networks scrape it (mailstack:monitoring.scrapeCidrs), else 127.0.0.1. */
  readonly listenAddress: string;
  readonly mailcowDir: string;
  readonly composeProject: string;
  /** mailcow's services whose containers must run. */
  readonly services: readonly string[];
  readonly families: readonly IpFamily[];
  readonly paths?: MonitoringPaths;
}

/** The exporters' command lines (the units run exactly these). */
export function exporterCommands(input: Pick<VmMonitoringInput, "listenAddress" | "paths">) {
  const paths = input.paths ?? MONITORING_PATHS;
  const at = (port: number) => `--web.listen-address=${input.listenAddress}:${port}`;
  return {
    node: [
      "/usr/bin/prometheus-node-exporter",
      at(EXPORTER_PORTS.node),
      `--collector.textfile.directory=${paths.textfileDir}`,
    ],
    postfix: [
      paths.postfixExporter,
      at(EXPORTER_PORTS.postfix),
      `--postfix.showq_path=${paths.postfixQueue}/showq`,
      `--postfix.logfile_path=${paths.postfixLog}`,
    ],
    blackbox: [
      "/usr/bin/prometheus-blackbox-exporter",
      `--config.file=${paths.blackboxConfig}`,
      at(EXPORTER_PORTS.blackbox),
    ],
  };
}

/** A drop-in that makes a Debian exporter unit run `command` (and start again when it stops). */
function exporterDropIn(command: readonly string[]): string {
  return `# mailstack: listen only where the monitoring networks reach (rendered by the stack).
[Unit]
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=
ExecStart=${command.join(" ")}
Restart=always
RestartSec=10
`;
}

/** mailstack-metrics with its settings. */
export function metricsCollector(
  input: Pick<VmMonitoringInput, "mailcowDir" | "composeProject" | "services" | "paths">,
) {
  const paths = input.paths ?? MONITORING_PATHS;
  return renderScript("mailstack-metrics", {
    TEXTFILE_DIR: paths.textfileDir,
    STATE_DIR: paths.stateDir,
    MAILCOW_DIR: input.mailcowDir,
    COMPOSE_PROJECT: input.composeProject,
    EXPECTED_SERVICES: input.services,
    BACKUP_CONFIG_FILE: paths.backupConfigFile,
    BACKUP_STATUS_FILE: paths.backupStatusFile,
    NFT_SETS: (["ipv4", "ipv6"] as const).map(
      (family) => `${family === "ipv4" ? "ip" : "ip6"} ${CROWDSEC_SETS[family].table} ${CROWDSEC_SETS[family].set}`,
    ),
  });
}

export function postfixLogFollower(input: Pick<VmMonitoringInput, "composeProject" | "paths">): string {
  const paths = input.paths ?? MONITORING_PATHS;
  return renderScript("mailstack-postfix-log", { LOG_FILE: paths.postfixLog, COMPOSE_PROJECT: input.composeProject });
}

const unit = (name: string, content: string): InstalledFile => ({
  path: `/etc/systemd/system/${name}`,
  mode: "0644",
  content,
});

/** Every file the mail VM's monitoring step installs. */
export function vmMonitoringFiles(input: VmMonitoringInput): InstalledFile[] {
  const paths = input.paths ?? MONITORING_PATHS;
  const commands = exporterCommands(input);
  return [
    unit("prometheus-node-exporter.service.d/mailstack.conf", exporterDropIn(commands.node)),
    unit("prometheus-blackbox-exporter.service.d/mailstack.conf", exporterDropIn(commands.blackbox)),
    { path: paths.blackboxConfig, mode: "0644", content: blackboxConfig(input.families) },
    { path: paths.metricsTool, mode: "0755", content: metricsCollector(input) },
    { path: paths.postfixLogTool, mode: "0755", content: postfixLogFollower(input) },
    unit(
      "mailstack-metrics.service",
      `[Unit]
Description=mailstack: mailcow, backup and CrowdSec metrics for node_exporter
Documentation=file://${paths.metricsTool}
After=docker.service

[Service]
Type=oneshot
ExecStart=${paths.metricsTool}
Nice=10
TimeoutStartSec=2min
`,
    ),
    unit(
      "mailstack-metrics.timer",
      `[Unit]
Description=mailstack: collect the mail host's metrics every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=10s

[Install]
WantedBy=timers.target
`,
    ),
    unit(
      "mailstack-postfix-log.service",
      `[Unit]
Description=mailstack: mailcow's Postfix log for the Postfix exporter
Documentation=file://${paths.postfixLogTool}
Wants=docker.service
After=docker.service

[Service]
ExecStart=${paths.postfixLogTool}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`,
    ),
    unit(
      "mailstack-postfix-exporter.service",
      `[Unit]
Description=mailstack: Prometheus exporter for mailcow's Postfix (queue and log)
Documentation=https://github.com/kumina/postfix_exporter
Wants=network-online.target mailstack-postfix-log.service
After=network-online.target mailstack-postfix-log.service docker.service

[Service]
User=prometheus
Group=prometheus
# adm reads the log; the queue's group and its bind mount come from queue.conf (written on the host).
SupplementaryGroups=adm
ExecStart=${commands.postfix.join(" ")}
Restart=always
RestartSec=10
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`,
    ),
    {
      path: "/etc/logrotate.d/mailstack-postfix-log",
      mode: "0644",
      // copytruncate: the follower keeps its file open; the exporter's tail reopens a truncated file.
      content: `${paths.postfixLog} {
  daily
  rotate 7
  compress
  delaycompress
  missingok
  notifempty
  copytruncate
}
`,
    },
  ];
}

/** Settings of monitoring-install.sh for a set of files. */
function installSettings(files: readonly InstalledFile[]) {
  return {
    FILE_PATHS: files.map((file) => file.path),
    FILE_MODES: files.map((file) => file.mode),
    FILE_CONTENTS_B64: files.map((file) => b64(file.content)),
  };
}

/** The mail VM's `monitoring` bring-up step (runs after mailcow is up: it needs its Postfix volume). */
export function vmMonitoringScript(input: VmMonitoringInput): HostScript {
  const paths = input.paths ?? MONITORING_PATHS;
  return {
    name: "monitoring",
    files: vmMonitoringFiles(input),
    content: renderScript(
      "monitoring-install",
      {
        PACKAGES: ["prometheus-node-exporter", "prometheus-blackbox-exporter", "jq"],
        ...installSettings(vmMonitoringFiles(input)),
        UNITS: [
          "prometheus-node-exporter.service",
          "prometheus-blackbox-exporter.service",
          "mailstack-postfix-log.service",
          "mailstack-postfix-exporter.service",
          "mailstack-metrics.timer",
        ],
        RUN_AFTER: [paths.metricsTool],
        LISTEN_ADDRESS: input.listenAddress,
        PORTS: Object.values(EXPORTER_PORTS).map(String),
        POSTFIX_EXPORTER_BIN: paths.postfixExporter,
        COMPOSE_PROJECT: input.composeProject,
        POSTFIX_QUEUE_LINK: paths.postfixQueue,
      },
      "host",
    ),
  };
}

// ---- the Proxmox node -------------------------------------------------------------------------

export interface PveMonitoringInput {
  readonly stack: string;
  readonly mailHost: string;
  readonly vmid: number;
  /** The node's address Prometheus scrapes (node_exporter listens there only). */
  readonly listenAddress: string;
}

const pveNames = (stack: string) => {
  const slug = stack.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  const base = `mailstack-${slug}-pve-backup-metrics`;
  return {
    tool: `/usr/local/sbin/${base}`,
    remover: `/usr/local/sbin/mailstack-${slug}-pve-monitoring-remove`,
    service: `${base}.service`,
    timer: `${base}.timer`,
    prom: `${base}.prom`,
  };
};

export function pveBackupCollector(
  input: PveMonitoringInput,
  paths: Pick<MonitoringPaths, "textfileDir" | "stateDir"> = MONITORING_PATHS,
): string {
  return renderScript("pve-backup-metrics", {
    VMID: input.vmid,
    STACK: input.stack,
    MAIL_HOST: input.mailHost,
    TEXTFILE_DIR: paths.textfileDir,
    PROM_FILE: pveNames(input.stack).prom,
    STATE_DIR: `${paths.stateDir}/${input.stack}`,
  });
}

export function pveMonitoringFiles(input: PveMonitoringInput): InstalledFile[] {
  const names = pveNames(input.stack);
  return [
    unit(
      "prometheus-node-exporter.service.d/mailstack.conf",
      exporterDropIn(exporterCommands({ listenAddress: input.listenAddress }).node),
    ),
    { path: names.tool, mode: "0755", content: pveBackupCollector(input) },
    { path: names.remover, mode: "0755", content: pveMonitoringRemover(input.stack) },
    unit(
      names.service,
      `[Unit]
Description=mailstack ${input.stack}: the PBS backups of ${input.mailHost} (VM ${input.vmid}) as metrics
Documentation=file://${names.tool}

[Service]
Type=oneshot
ExecStart=${names.tool}
Nice=10
TimeoutStartSec=2min
`,
    ),
    unit(
      names.timer,
      `[Unit]
Description=mailstack ${input.stack}: collect the PBS backup metrics every 5 minutes

[Timer]
OnBootSec=2min
OnUnitActiveSec=5min
AccuracySec=30s

[Install]
WantedBy=timers.target
`,
    ),
  ];
}

/** What the stack's command on the Proxmox node runs (stdin of `bash -s`). */
export function pveMonitoringScript(input: PveMonitoringInput): string {
  const names = pveNames(input.stack);
  return renderScript(
    "monitoring-install",
    {
      PACKAGES: ["prometheus-node-exporter", "jq"],
      ...installSettings(pveMonitoringFiles(input)),
      UNITS: ["prometheus-node-exporter.service", names.timer],
      RUN_AFTER: [names.tool],
      LISTEN_ADDRESS: input.listenAddress,
      PORTS: [String(EXPORTER_PORTS.node)],
    },
    "host",
  );
}

/** The node's removal program for one stack (installed with the collector; the delete runs it). */
function pveMonitoringRemover(stack: string): string {
  const names = pveNames(stack);
  return renderScript("pve-monitoring-remove", {
    TIMER: names.timer,
    FILES: [
      `/etc/systemd/system/${names.service}`,
      `/etc/systemd/system/${names.timer}`,
      names.tool,
      `${MONITORING_PATHS.textfileDir}/${names.prom}`,
      names.remover,
    ],
  });
}

/** What the delete of the stack's command on the node runs: the installed removal program. */
export function pveMonitoringDelete(stack: string): string {
  return pveNames(stack).remover;
}
