// Monitoring of the mail stack as files (pure): the Prometheus configuration (scrape jobs for the
// VM's exporters, blackbox probes of every public endpoint, the Proxmox node and the scheduled
// verify), the blackbox exporter's modules and a Grafana dashboard; the alert rules and
// Alertmanager's routing are in render/alerting.ts. The operator's Prometheus and Alertmanager load
// them from out/<stack>/files/monitoring/; nothing here needs a backend to be rendered.
//
// Metric names come from the exporters' own code: node_exporter (textfile collector), Debian's
// prometheus-postfix-exporter (kumina/postfix_exporter 0.3.0 postfix_exporter.go: postfix_up,
// postfix_showq_message_size_bytes{queue}, postfix_smtpd_*), blackbox_exporter (v0.23.0
// prober/tcp.go and http.go: probe_success, probe_ssl_earliest_cert_expiry), the stack's own
// collectors (render/scripts/mailstack-metrics.sh, pve-backup-metrics.sh) and verify's
// --prometheus report (verify/report.ts: mailstack_verify_*).
import { stringify } from "yaml";

/** The ports the mail host's exporters listen on (their upstream defaults). */
export const EXPORTER_PORTS = { node: 9100, postfix: 9154, blackbox: 9115 } as const;
/** Every port a Prometheus exporter of the stack answers on: never reachable from the WAN. */
export const EXPORTER_PORT_LIST: readonly number[] = Object.values(EXPORTER_PORTS);

/** Debian's default --collector.textfile.directory of prometheus-node-exporter. */
export const TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";

export type Severity = "critical" | "warning";

interface AlertDefault {
  /** Prometheus `for:` (how long the condition must hold before the alert fires). */
  readonly for: string;
  readonly severity: Severity;
}

/** Every alert the rules define, with its default `for:` and severity. */
export const ALERT_DEFAULTS = {
  MailHostDown: { for: "5m", severity: "critical" },
  MailExporterDown: { for: "10m", severity: "warning" },
  MailMetricsStale: { for: "10m", severity: "warning" },
  MailDiskFilling: { for: "15m", severity: "critical" },
  MailMemoryPressure: { for: "15m", severity: "warning" },
  MailQueueGrowing: { for: "15m", severity: "warning" },
  MailPostfixDown: { for: "5m", severity: "critical" },
  MailServiceDown: { for: "10m", severity: "critical" },
  MailContainerDown: { for: "5m", severity: "critical" },
  MailServiceUnhealthy: { for: "15m", severity: "warning" },
  MailCertificateExpiring: { for: "1h", severity: "critical" },
  MailBackupStale: { for: "15m", severity: "critical" },
  MailBackupFailed: { for: "1m", severity: "critical" },
  MailBackupCheckFailed: { for: "1m", severity: "critical" },
  MailVerifyFailing: { for: "2h", severity: "warning" },
  MailVerifyNotRunning: { for: "30m", severity: "warning" },
  MailDnssecPending: { for: "24h", severity: "warning" },
  MailBanSpike: { for: "5m", severity: "warning" },
} as const satisfies Record<string, AlertDefault>;

export type AlertName = keyof typeof ALERT_DEFAULTS;
export const ALERT_NAMES = Object.keys(ALERT_DEFAULTS) as [AlertName, ...AlertName[]];

/** A Prometheus duration such as 5m or 1h30m. */
export const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

export interface Thresholds {
  /** MailDiskFilling: a file system is fuller than this (percent). */
  readonly diskUsedPercent: number;
  /** MailDiskFilling: a file system will be full within this many hours at the last 6 h's rate. */
  readonly diskFullHours: number;
  /** MailMemoryPressure: less memory available than this (percent). */
  readonly memoryAvailablePercent: number;
  /** MailQueueGrowing: more queued messages than this, and more than 30 minutes ago. */
  readonly queueMessages: number;
  /** MailCertificateExpiring: a served certificate expires within this many days. */
  readonly certificateDays: number;
  /** MailBackupStale: no successful backup for this many hours. */
  readonly backupMaxAgeHours: number;
  /** MailBanSpike: CrowdSec's local decisions grew by more than this within an hour. */
  readonly banSpikePerHour: number;
  /** MailVerifyNotRunning: the scheduled verify has not reported for this many hours. */
  readonly verifyMaxAgeHours: number;
}

export const DEFAULT_THRESHOLDS: Omit<Thresholds, "backupMaxAgeHours"> = {
  diskUsedPercent: 85,
  diskFullHours: 24,
  memoryAvailablePercent: 10,
  queueMessages: 100,
  certificateDays: 14,
  banSpikePerHour: 50,
  verifyMaxAgeHours: 3,
};

/** The scrape jobs of one stack (unique per stack, so that one Prometheus can load several). */
export function jobNames(stack: string) {
  const job = (role: string) => `mailstack-${stack}-${role}`;
  return {
    node: job("node"),
    postfix: job("postfix"),
    blackbox: job("blackbox"),
    /** Probe jobs are `<probe>-<module>`. */
    probe: job("probe"),
    pve: job("pve"),
    verify: job("verify"),
  };
}

// ---- blackbox probes --------------------------------------------------------------------------

/** What a probe speaks: STARTTLS dialogues, implicit TLS greetings, HTTPS, the MTA-STS policy. */
export type ProbeModule =
  | "smtp_starttls"
  | "imap_starttls"
  | "pop3_starttls"
  | "sieve_starttls"
  | "smtps"
  | "imaps"
  | "pop3s"
  | "https"
  | "mta_sts";

export const PROBE_MODULES: readonly ProbeModule[] = [
  "smtp_starttls",
  "imap_starttls",
  "pop3_starttls",
  "sieve_starttls",
  "smtps",
  "imaps",
  "pop3s",
  "https",
  "mta_sts",
];

export type IpFamily = "ip4" | "ip6";

export interface Probe {
  /** The service (a label on every series of the probe), e.g. smtp, submission, imaps. */
  readonly service: string;
  readonly module: ProbeModule;
  /** host:port for TCP modules, a URL for HTTP ones. */
  readonly target: string;
}

/** The blackbox module name for a protocol and address family. */
export const moduleName = (module: ProbeModule, family: IpFamily) => `mailstack_${module}_${family}`;

/**
 * The blackbox exporter's modules. TCP dialogues follow blackbox v0.23.0 prober/tcp.go: each
 * `send` gets "\n" appended (so lines end in "\r" here, for CRLF), `expect` reads lines until one
 * matches, `starttls` upgrades the connection and records the certificate. Our own endpoints skip
 * certificate verification so that an expired certificate still reports its expiry
 * (probe_ssl_earliest_cert_expiry, MailCertificateExpiring) instead of only failing the probe;
 * whether the chain and name are valid is what verify checks. The MTA-STS policy is Cloudflare's
 * and must verify (RFC 8461 §3.3: senders ignore a policy served with an invalid certificate).
 */
export function blackboxConfig(families: readonly IpFamily[] = ["ip4", "ip6"]): string {
  const tls = { insecure_skip_verify: true };
  const dialogue = (steps: readonly Record<string, unknown>[]) => steps;
  const smtpStarttls = dialogue([
    { expect: "^220 " },
    { send: "EHLO mailstack-probe\r" },
    { expect: "^250[- ]STARTTLS" },
    { send: "STARTTLS\r" },
    { expect: "^220 " },
    { starttls: true },
    { send: "EHLO mailstack-probe\r" },
    { expect: "^250 " },
    { send: "QUIT\r" },
  ]);
  const tcp = (family: IpFamily, steps: readonly Record<string, unknown>[], implicitTls: boolean) => ({
    prober: "tcp",
    timeout: "10s",
    tcp: {
      preferred_ip_protocol: family,
      ip_protocol_fallback: false,
      ...(implicitTls ? { tls: true } : {}),
      tls_config: tls,
      query_response: steps,
    },
  });
  const http = (family: IpFamily, extra: Record<string, unknown>, verify: boolean) => ({
    prober: "http",
    timeout: "10s",
    http: {
      preferred_ip_protocol: family,
      ip_protocol_fallback: false,
      method: "GET",
      valid_status_codes: [200],
      fail_if_not_ssl: true,
      follow_redirects: false,
      ...(verify ? {} : { tls_config: tls }),
      ...extra,
    },
  });
  const modules: Record<string, unknown> = {};
  for (const family of families) {
    const add = (module: ProbeModule, value: unknown) => (modules[moduleName(module, family)] = value);
    add("smtp_starttls", tcp(family, smtpStarttls, false));
    add(
      "imap_starttls",
      tcp(
        family,
        [
          { expect: "^\\* OK" },
          { send: "a1 STARTTLS\r" },
          { expect: "^a1 OK" },
          { starttls: true },
          { send: "a2 LOGOUT\r" },
          { expect: "^\\* BYE" },
        ],
        false,
      ),
    );
    add(
      "pop3_starttls",
      tcp(
        family,
        [{ expect: "^\\+OK" }, { send: "STLS\r" }, { expect: "^\\+OK" }, { starttls: true }, { send: "QUIT\r" }],
        false,
      ),
    );
    // ManageSieve (RFC 5804 §1.7): the greeting is capability lines ending in OK.
    add(
      "sieve_starttls",
      tcp(family, [{ expect: "^OK" }, { send: "STARTTLS\r" }, { expect: "^OK" }, { starttls: true }], false),
    );
    add("smtps", tcp(family, [{ expect: "^220 " }, { send: "QUIT\r" }], true));
    add("imaps", tcp(family, [{ expect: "^\\* OK" }, { send: "a1 LOGOUT\r" }], true));
    add("pop3s", tcp(family, [{ expect: "^\\+OK" }, { send: "QUIT\r" }], true));
    add("https", http(family, {}, false));
    add(
      "mta_sts",
      http(
        family,
        {
          fail_if_body_not_matches_regexp: ["(?m)^version: STSv1\\r?$"],
          fail_if_header_not_matches: [{ header: "Content-Type", regexp: "^text/plain" }],
        },
        true,
      ),
    );
  }
  return `# mailstack: blackbox_exporter modules (rendered by the stack).\n${stringify({ modules }, { lineWidth: 0 })}`;
}

// ---- Prometheus configuration -----------------------------------------------------------------

export interface PrometheusInput {
  readonly stack: string;
  readonly mailHost: string;
  /** host:port of each exporter on the mail VM. */
  readonly exporters: { readonly node: string; readonly postfix: string; readonly blackbox: string };
  readonly probes: readonly Probe[];
  readonly families: readonly IpFamily[];
  /** The Proxmox node's node_exporter (host:port) with the PBS backup metrics, when monitored. */
  readonly pveNode?: { readonly target: string; readonly node: string };
  /** The node_exporter of the host that runs the scheduled verify (host:port). */
  readonly verifyExporter?: string;
  /** Alertmanagers (host:port) the alerts go to. */
  readonly alertmanagers: readonly string[];
  readonly remoteWrite: readonly { readonly url: string; readonly bearerTokenFile?: string }[];
  readonly scrapeInterval: string;
  readonly evaluationInterval: string;
  /** The rules file, relative to the configuration file. */
  readonly rulesFile: string;
}

export function prometheusConfig(input: PrometheusInput): string {
  const jobs = jobNames(input.stack);
  const labels = { stack: input.stack, mail_host: input.mailHost };
  const staticJob = (job: string, targets: readonly string[], extra: Record<string, string> = {}) => ({
    job_name: job,
    static_configs: [{ targets: [...targets], labels: { ...labels, ...extra } }],
  });
  const probeJobs = PROBE_MODULES.flatMap((module) => {
    const probes = input.probes.filter((probe) => probe.module === module);
    if (probes.length === 0) return [];
    return input.families.map((family) => ({
      job_name: `${jobs.probe}-${module.replace(/_/g, "-")}-${family}`,
      metrics_path: "/probe",
      params: { module: [moduleName(module, family)] },
      static_configs: probes.map((probe) => ({
        targets: [probe.target],
        labels: { ...labels, service: probe.service, ip_family: family },
      })),
      // The blackbox pattern: the target becomes a parameter, the exporter is what is scraped.
      relabel_configs: [
        { source_labels: ["__address__"], target_label: "__param_target" },
        { source_labels: ["__param_target"], target_label: "instance" },
        { target_label: "__address__", replacement: input.exporters.blackbox },
      ],
    }));
  });
  const config = {
    global: {
      scrape_interval: input.scrapeInterval,
      evaluation_interval: input.evaluationInterval,
      external_labels: { mailstack_stack: input.stack },
    },
    rule_files: [input.rulesFile],
    ...(input.alertmanagers.length > 0
      ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [...input.alertmanagers] }] }] } }
      : {}),
    ...(input.remoteWrite.length > 0
      ? {
          remote_write: input.remoteWrite.map((target) => ({
            url: target.url,
            ...(target.bearerTokenFile ? { authorization: { credentials_file: target.bearerTokenFile } } : {}),
          })),
        }
      : {}),
    scrape_configs: [
      staticJob(jobs.node, [input.exporters.node]),
      staticJob(jobs.postfix, [input.exporters.postfix]),
      staticJob(jobs.blackbox, [input.exporters.blackbox]),
      ...probeJobs,
      // The node's series carry stack and mail_host themselves (render/scripts/pve-backup-metrics.sh),
      // so that stacks sharing a node tell theirs apart; the target gets only the node's name.
      ...(input.pveNode
        ? [
            {
              job_name: jobs.pve,
              static_configs: [{ targets: [input.pveNode.target], labels: { pve_node: input.pveNode.node } }],
            },
          ]
        : []),
      // verify labels its own series with mail_host (verify/report.ts), so only the stack here.
      ...(input.verifyExporter
        ? [
            {
              job_name: jobs.verify,
              static_configs: [{ targets: [input.verifyExporter], labels: { stack: input.stack } }],
            },
          ]
        : []),
    ],
  };
  return `# mailstack: Prometheus configuration for the ${input.stack} stack (rendered by the stack).\n${stringify(config, { lineWidth: 0 })}`;
}
