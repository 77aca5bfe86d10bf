// A Grafana dashboard for one stack (pure): the mail host, mail flow, endpoints and certificates,
// mailcow's containers, backups, verify and CrowdSec, over the series of render/monitoring.ts.
// Imported through Grafana's "Import dashboard" (it asks for the Prometheus data source).
import { jobNames } from "./monitoring";

export interface DashboardPanel {
  readonly title: string;
  readonly type: "timeseries" | "stat" | "table";
  readonly unit?: string;
  readonly description: string;
  /** PromQL, one query per series group; legends use Grafana's {{label}} syntax. */
  readonly targets: readonly { readonly expr: string; readonly legend: string }[];
}

/** The panels, by row. Every expression is plain PromQL (no Grafana variables), so it can be checked. */
export function dashboardPanels(stack: string): { row: string; panels: DashboardPanel[] }[] {
  const j = jobNames(stack);
  const node = `job="${j.node}"`;
  const postfix = `job="${j.postfix}"`;
  const probes = `job=~"${j.probe}-.+"`;
  const hosts = `job=~"${j.node}|${j.pve}",stack="${stack}"`;
  return [
    {
      row: "Mail host",
      panels: [
        {
          title: "Up",
          type: "stat",
          description: "1 when Prometheus reaches the exporter",
          targets: [{ expr: `up{job=~"mailstack-${stack}-(node|postfix|blackbox|pve|verify)"}`, legend: "{{job}}" }],
        },
        {
          title: "CPU busy",
          type: "timeseries",
          unit: "percentunit",
          description: "Share of CPU time not idle",
          targets: [
            { expr: `1 - avg by (instance) (rate(node_cpu_seconds_total{${node},mode="idle"}[5m]))`, legend: "cpu" },
          ],
        },
        {
          title: "Memory available",
          type: "timeseries",
          unit: "percent",
          description: "MailMemoryPressure fires below its threshold",
          targets: [
            {
              expr: `100 * node_memory_MemAvailable_bytes{${node}} / node_memory_MemTotal_bytes{${node}}`,
              legend: "available",
            },
          ],
        },
        {
          title: "Disk used",
          type: "timeseries",
          unit: "percent",
          description: "MailDiskFilling fires above its threshold",
          targets: [
            {
              expr: `100 * (1 - node_filesystem_avail_bytes{${node},fstype!~"tmpfs|overlay|squashfs"} / node_filesystem_size_bytes{${node},fstype!~"tmpfs|overlay|squashfs"})`,
              legend: "{{mountpoint}}",
            },
          ],
        },
      ],
    },
    {
      row: "Mail flow",
      panels: [
        {
          title: "Queue",
          type: "timeseries",
          description: "Messages in Postfix's queues (MailQueueGrowing)",
          targets: [
            { expr: `sum by (queue) (postfix_showq_message_size_bytes_count{${postfix}})`, legend: "{{queue}}" },
          ],
        },
        {
          title: "SMTP connections and rejects",
          type: "timeseries",
          unit: "ops",
          description: "Inbound connections, and RCPT rejects by SMTP code",
          targets: [
            { expr: `rate(postfix_smtpd_connects_total{${postfix}}[5m])`, legend: "connects" },
            {
              expr: `sum by (code) (rate(postfix_smtpd_messages_rejected_total{${postfix}}[5m]))`,
              legend: "reject {{code}}",
            },
          ],
        },
        {
          title: "Deliveries",
          type: "timeseries",
          unit: "ops",
          description: "Messages removed from the queue (delivered or bounced) and deferrals",
          targets: [
            { expr: `rate(postfix_qmgr_messages_removed_total{${postfix}}[5m])`, legend: "removed" },
            { expr: `rate(postfix_smtp_deferred_messages_total{${postfix}}[5m])`, legend: "deferred" },
          ],
        },
        {
          title: "TLS connections",
          type: "timeseries",
          unit: "ops",
          description: "Inbound and outbound TLS by protocol",
          targets: [
            {
              expr: `sum by (tls_protocol) (rate(postfix_smtpd_tls_connections_total{${postfix}}[5m]))`,
              legend: "in {{tls_protocol}}",
            },
            {
              expr: `sum by (tls_protocol) (rate(postfix_smtp_tls_connections_total{${postfix}}[5m]))`,
              legend: "out {{tls_protocol}}",
            },
          ],
        },
        {
          title: "SASL authentication failures",
          type: "timeseries",
          unit: "ops",
          description: "Failed SMTP AUTH attempts",
          targets: [
            { expr: `rate(postfix_smtpd_sasl_authentication_failures_total{${postfix}}[5m])`, legend: "failures" },
          ],
        },
      ],
    },
    {
      row: "Endpoints and certificates",
      panels: [
        {
          title: "Probes",
          type: "table",
          description: "1 when the endpoint answers its protocol (MailServiceDown)",
          targets: [{ expr: `probe_success{${probes}}`, legend: "{{service}} {{ip_family}}" }],
        },
        {
          title: "Certificate days left",
          type: "table",
          unit: "d",
          description: "Per served port and for data/assets/ssl/cert.pem (MailCertificateExpiring)",
          targets: [
            {
              expr: `(probe_ssl_earliest_cert_expiry{${probes}} - time()) / 86400`,
              legend: "{{service}} {{ip_family}}",
            },
            {
              expr: `(mailstack_mailcow_certificate_expiry_timestamp_seconds{${node}} - time()) / 86400`,
              legend: "{{file}}",
            },
          ],
        },
      ],
    },
    {
      row: "mailcow",
      panels: [
        {
          title: "Containers",
          type: "table",
          description: "1 when the service's container runs (MailContainerDown)",
          targets: [{ expr: `mailstack_mailcow_container_up{${node}}`, legend: "{{service}}" }],
        },
        {
          title: "Watchdog health",
          type: "timeseries",
          unit: "percent",
          description: "watchdog-mailcow's health level per service (MailServiceUnhealthy)",
          targets: [{ expr: `mailstack_mailcow_watchdog_health_percent{${node}}`, legend: "{{service}}" }],
        },
      ],
    },
    {
      row: "Backups",
      panels: [
        {
          title: "Hours since the last good backup",
          type: "stat",
          unit: "h",
          description: "Off-site (restic) and PBS (MailBackupStale)",
          targets: [
            { expr: `(time() - mailstack_backup_last_success_timestamp_seconds{${hosts}}) / 3600`, legend: "{{kind}}" },
          ],
        },
        {
          title: "Last run and check",
          type: "table",
          description: "1 when it succeeded (MailBackupFailed, MailBackupCheckFailed)",
          targets: [
            { expr: `mailstack_backup_last_run_success{${hosts}}`, legend: "{{kind}} backup" },
            { expr: `mailstack_backup_check_last_run_success{${hosts}}`, legend: "{{kind}} check" },
          ],
        },
        {
          title: "Repository size",
          type: "timeseries",
          unit: "bytes",
          description: "The off-site repository after each backup",
          targets: [{ expr: `mailstack_backup_repository_size_bytes{${node}}`, legend: "{{kind}}" }],
        },
      ],
    },
    {
      row: "verify and CrowdSec",
      panels: [
        {
          title: "verify results",
          type: "table",
          description: "The scheduled verify's results by category (MailVerifyFailing, MailDnssecPending)",
          targets: [{ expr: `mailstack_verify_results{job="${j.verify}"}`, legend: "{{category}} {{status}}" }],
        },
        {
          title: "CrowdSec decisions",
          type: "timeseries",
          description: "Active local decisions and addresses the bouncer drops (MailBanSpike)",
          targets: [
            { expr: `mailstack_crowdsec_active_decisions{${node}}`, legend: "decisions {{origin}}" },
            { expr: `mailstack_crowdsec_blocked_addresses{${node}}`, legend: "blocked {{family}}" },
          ],
        },
      ],
    },
  ];
}

/** The dashboard JSON (Grafana's import format, a data source input named DS_PROMETHEUS). */
export function grafanaDashboard(stack: string, mailHost: string): string {
  const datasource = { type: "prometheus", uid: "${DS_PROMETHEUS}" };
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const { row, panels: rowPanels } of dashboardPanels(stack)) {
    panels.push({ id: id++, type: "row", title: row, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    const width = Math.max(6, Math.floor(24 / rowPanels.length));
    rowPanels.forEach((panel, index) => {
      panels.push({
        id: id++,
        type: panel.type,
        title: panel.title,
        description: panel.description,
        datasource,
        gridPos: { h: 8, w: width, x: (index * width) % 24, y: y + Math.floor((index * width) / 24) * 8 },
        fieldConfig: { defaults: panel.unit ? { unit: panel.unit } : {}, overrides: [] },
        options: {},
        targets: panel.targets.map((target, index_) => ({
          refId: String.fromCharCode(65 + index_),
          datasource,
          expr: target.expr,
          legendFormat: target.legend,
          ...(panel.type === "table" ? { instant: true, format: "table" } : {}),
        })),
      });
    });
    y += 8 * Math.ceil((rowPanels.length * width) / 24);
  }
  const dashboard = {
    __inputs: [
      {
        name: "DS_PROMETHEUS",
        label: "Prometheus",
        description: "The Prometheus that loads out/<stack>/files/monitoring/prometheus/",
        type: "datasource",
        pluginId: "prometheus",
        pluginName: "Prometheus",
      },
    ],
    __requires: [{ type: "datasource", id: "prometheus", name: "Prometheus", version: "1.0.0" }],
    uid: `mailstack-${stack}`.slice(0, 40),
    title: `mailstack ${stack}: ${mailHost}`,
    tags: ["mailstack", stack],
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: "1m",
    time: { from: "now-24h", to: "now" },
    templating: { list: [] },
    annotations: { list: [] },
    panels,
  };
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
