// Alerting for the mail stack as files (pure): the Prometheus alert rules over the series listed
// in render/monitoring.ts (which cites the exporters' code they come from) and Alertmanager's
// routing to the notification e-mail. The operator's Prometheus and Alertmanager load them from
// out/<stack>/files/monitoring/.
import { stringify } from "yaml";
import { ALERT_DEFAULTS, ALERT_NAMES, type AlertName, jobNames, TEXTFILE_DIR, type Thresholds } from "./monitoring";

// ---- alert rules --------------------------------------------------------------------------------

export interface AlertRulesInput {
  readonly stack: string;
  readonly for: Readonly<Record<AlertName, string>>;
  readonly thresholds: Thresholds;
}

export interface AlertRule {
  readonly alert: AlertName;
  readonly expr: string;
  readonly for: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: { readonly summary: string; readonly description: string };
}

/** The durations of every alert: the defaults with the given overrides. */
export function alertDurations(overrides: Partial<Record<AlertName, string>> = {}): Record<AlertName, string> {
  return Object.fromEntries(ALERT_NAMES.map((name) => [name, overrides[name] ?? ALERT_DEFAULTS[name].for])) as Record<
    AlertName,
    string
  >;
}

/** The rules, one entry per rule (an alert may have several rules, one per way it can happen). */
export function alertRuleList(input: AlertRulesInput): AlertRule[] {
  const jobs = jobNames(input.stack);
  const t = input.thresholds;
  const sel = (job: string, extra = "") => `{job="${job}"${extra ? `,${extra}` : ""}}`;
  const node = (extra = "") => sel(jobs.node, extra);
  const probes = `{job=~"${jobs.probe}-.+"}`;
  // The Proxmox node's series carry stack and mail_host themselves (several stacks may share it).
  const hostJobs = `{job=~"${jobs.node}|${jobs.pve}",stack="${input.stack}"}`;
  const fsFilter = `fstype!~"tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|fuse.*|iso9660",mountpoint!~"/run.*|/var/lib/docker/.+"`;
  const rule = (
    alert: AlertName,
    expr: string,
    summary: string,
    description: string,
    labels: Record<string, string> = {},
  ): AlertRule => ({
    alert,
    expr,
    for: input.for[alert],
    labels: { severity: ALERT_DEFAULTS[alert].severity, component: componentOf(alert), ...labels },
    annotations: { summary, description },
  });
  const compose = "sudo docker compose -f /opt/mailcow-dockerized/docker-compose.yml";
  const hours = (value: number) => `${value} h`;
  return [
    rule(
      "MailHostDown",
      `up${node()} == 0`,
      "{{ $labels.mail_host }} does not answer: node_exporter on {{ $labels.instance }} cannot be scraped",
      `Prometheus has not reached the mail host's node_exporter for ${input.for.MailHostDown}. Check the VM in Proxmox (running? console: qm terminal <vmid>), then the path from Prometheus: the pfSense rule "mail host: monitoring" and UFW on the VM (sudo ufw status verbose), and on the host: systemctl status prometheus-node-exporter.`,
    ),
    rule(
      "MailExporterDown",
      `up{job=~"${jobs.postfix}|${jobs.blackbox}|${jobs.pve}|${jobs.verify}"} == 0`,
      "The exporter {{ $labels.job }} on {{ $labels.instance }} cannot be scraped",
      `Prometheus has not reached {{ $labels.instance }} for ${input.for.MailExporterDown}. On the host: systemctl status mailstack-postfix-exporter prometheus-blackbox-exporter (mail VM) or prometheus-node-exporter (Proxmox node, verify host); journalctl -u <unit> shows why it stopped.`,
    ),
    rule(
      "MailMetricsStale",
      `time() - mailstack_metrics_last_run_timestamp_seconds${hostJobs} > 600`,
      "The mailstack metrics of {{ $labels.instance }} are {{ $value | humanizeDuration }} old",
      "The collector behind the mailcow, backup and CrowdSec metrics has not run for more than 10 minutes, so those alerts cannot fire. On the host: systemctl status mailstack-metrics.timer mailstack-metrics.service (Proxmox node: mailstack-pve-backup-metrics), journalctl -u mailstack-metrics.service.",
      { reason: "collector" },
    ),
    rule(
      "MailMetricsStale",
      `node_textfile_scrape_error${hostJobs} == 1`,
      "node_exporter on {{ $labels.instance }} cannot read a textfile metrics file",
      `A file in ${TEXTFILE_DIR} is not in the Prometheus text format, so its metrics are missing. The node_exporter log names the file: journalctl -u prometheus-node-exporter.`,
      { reason: "textfile" },
    ),
    rule(
      "MailDiskFilling",
      `100 * (1 - node_filesystem_avail_bytes${node(fsFilter)} / node_filesystem_size_bytes${node(fsFilter)}) > ${t.diskUsedPercent} and on (instance, device, mountpoint) node_filesystem_readonly${node()} == 0`,
      `{{ $labels.mountpoint }} on {{ $labels.mail_host }} is {{ $value | printf "%.0f" }} % full (more than ${t.diskUsedPercent} %)`,
      `Free space before mail is refused: find what grew with sudo du -xh --max-depth=3 {{ $labels.mountpoint }} | sort -h | tail -20. Usual causes: old Docker images after an upgrade (sudo docker image prune -a), the backup staging directory /var/backups/mailstack, a mailbox without quota, the journal. Or grow the disk: raise mailstack:vm.diskGb, pulumi up, then sudo growpart /dev/sda 1 && sudo resize2fs /dev/sda1.`,
      { reason: "used" },
    ),
    rule(
      "MailDiskFilling",
      `predict_linear(node_filesystem_avail_bytes${node(fsFilter)}[6h], ${t.diskFullHours} * 3600) < 0 and on (instance, device, mountpoint) node_filesystem_readonly${node()} == 0`,
      `{{ $labels.mountpoint }} on {{ $labels.mail_host }} will be full within ${hours(t.diskFullHours)} at the rate of the last 6 hours`,
      `The free space of {{ $labels.mountpoint }} falls fast enough to reach zero within ${hours(t.diskFullHours)}. Find what is writing (sudo du -xh --max-depth=3 {{ $labels.mountpoint }} | sort -h | tail -20; a mail loop shows in the queue: MailQueueGrowing), stop it, then free space or grow the disk (mailstack:vm.diskGb).`,
      { reason: "rate" },
    ),
    rule(
      "MailMemoryPressure",
      `100 * node_memory_MemAvailable_bytes${node()} / node_memory_MemTotal_bytes${node()} < ${t.memoryAvailablePercent}`,
      `{{ $labels.mail_host }} has only {{ $value | printf "%.1f" }} % of its memory available (less than ${t.memoryAvailablePercent} %)`,
      `mailcow needs memory headroom (ClamAV alone holds about 1.5 GiB). See who holds it: sudo docker stats --no-stream. Raise mailstack:vm.memoryGiB and pulumi up (the VM restarts), lower the limits in mailstack:mailcow.limits, or turn ClamAV off (mailstack:mailcow.clamav: false).`,
      { reason: "available" },
    ),
    rule(
      "MailMemoryPressure",
      `increase(node_vmstat_oom_kill${node()}[30m]) > 0`,
      "The kernel of {{ $labels.mail_host }} killed processes for lack of memory",
      `The OOM killer ran within the last 30 minutes: a mailcow container may have restarted or lost work. sudo journalctl -k | grep -i 'out of memory' names the process. Raise mailstack:vm.memoryGiB or lower the container limits (mailstack:mailcow.limits).`,
      { reason: "oom" },
    ),
    rule(
      "MailQueueGrowing",
      `sum by (job, instance, stack, mail_host) (postfix_showq_message_size_bytes_count${sel(jobs.postfix)}) > ${t.queueMessages} and sum by (job, instance, stack, mail_host) (delta(postfix_showq_message_size_bytes_count${sel(jobs.postfix)}[30m])) > 0`,
      `{{ $value | printf "%.0f" }} messages are queued on {{ $labels.mail_host }} and the queue is still growing`,
      `More than ${t.queueMessages} messages wait in Postfix's queue and there are more than 30 minutes ago: mail is not leaving. See why: ${compose} exec postfix-mailcow postqueue -p | tail -50 (the deferral reasons), and for a mail loop or a spam run the senders (postqueue -j). Fix the cause (DNS, a blocklisting of the public IPv4/IPv6, a remote outage, a compromised mailbox: lock it), then flush: ${compose} exec postfix-mailcow postqueue -f.`,
    ),
    rule(
      "MailPostfixDown",
      `postfix_up${sel(jobs.postfix)} == 0`,
      "Postfix on {{ $labels.mail_host }} does not answer on its queue socket",
      `The Postfix exporter cannot read the queue through showq: Postfix is not running in postfix-mailcow. ${compose} ps postfix-mailcow; ${compose} logs --tail 200 postfix-mailcow; start it again with ${compose} up -d postfix-mailcow.`,
    ),
    rule(
      "MailServiceDown",
      `probe_success${probes} == 0`,
      "{{ $labels.service }} ({{ $labels.instance }}, {{ $labels.ip_family }}) of {{ $labels.mail_host }} fails its probe",
      `The blackbox probe of {{ $labels.instance }} has failed for ${input.for.MailServiceDown}: clients cannot use {{ $labels.service }}. The probe's log says at which step: curl 'http://<blackbox exporter>/probe?module=<module>&target={{ $labels.instance }}&debug=true'. Check the container (${compose} ps), the firewall (pfSense rules of the mail host, sudo ufw status) and DNS (the A/AAAA of the host).`,
    ),
    rule(
      "MailContainerDown",
      `mailstack_mailcow_container_up${node()} == 0`,
      "mailcow's {{ $labels.service }} is not running on {{ $labels.mail_host }}",
      `The container {{ $labels.service }} is missing, stopped or unhealthy. ${compose} ps {{ $labels.service }}; ${compose} logs --tail 200 {{ $labels.service }}; start it with ${compose} up -d {{ $labels.service }}.`,
    ),
    rule(
      "MailServiceUnhealthy",
      `mailstack_mailcow_watchdog_health_percent${node()} < 50`,
      `mailcow's watchdog rates {{ $labels.service }} on {{ $labels.mail_host }} at {{ $value | printf "%.0f" }} %`,
      `watchdog-mailcow's checks of {{ $labels.service }} keep failing (it restarts the container when the level reaches 0). ${compose} logs --tail 200 watchdog-mailcow shows the failing check; for ACME see acme-mailcow's log (HTTP-01 needs port 80 from the internet), for Rspamd rspamd-mailcow's.`,
    ),
    rule(
      "MailCertificateExpiring",
      `(probe_ssl_earliest_cert_expiry${probes} - time()) / 86400 < ${t.certificateDays}`,
      `The certificate of {{ $labels.service }} on {{ $labels.instance }} {{ if le $value 0.0 }}has expired{{ else }}expires in {{ $value | printf "%.1f" }} days{{ end }}`,
      `A certificate served on {{ $labels.instance }} ({{ $labels.ip_family }}) ends within ${t.certificateDays} days. mailcow's ACME renews 30 days ahead, so renewal has failed: ${compose} logs --tail 200 acme-mailcow (HTTP-01 needs port 80 from the internet and A/AAAA at the host), then ${compose} restart acme-mailcow; Postfix and Dovecot pick the new certificate up by themselves. mta-sts.<domain> is served by Cloudflare, which renews its certificate itself.`,
      { reason: "probe" },
    ),
    rule(
      "MailCertificateExpiring",
      `(mailstack_mailcow_certificate_expiry_timestamp_seconds${node()} - time()) / 86400 < ${t.certificateDays}`,
      `mailcow's certificate {{ $labels.file }} on {{ $labels.mail_host }} {{ if le $value 0.0 }}has expired{{ else }}expires in {{ $value | printf "%.1f" }} days{{ end }}`,
      `The certificate in /opt/mailcow-dockerized/data/assets/ssl/{{ $labels.file }} ends within ${t.certificateDays} days: mailcow's ACME has not renewed it. ${compose} logs --tail 200 acme-mailcow (HTTP-01 needs port 80 from the internet and A/AAAA at the host), then ${compose} restart acme-mailcow.`,
      { reason: "file" },
    ),
    ...(["never", "stale"] as const).map((reason) =>
      rule(
        "MailBackupStale",
        `${
          reason === "never"
            ? `mailstack_backup_last_success_timestamp_seconds${hostJobs} == 0`
            : `(time() - mailstack_backup_last_success_timestamp_seconds${hostJobs}) / 3600 > ${t.backupMaxAgeHours} and on (job, instance, kind) mailstack_backup_last_success_timestamp_seconds${hostJobs} > 0`
        } and on (job, instance, kind) (time() - mailstack_backup_configured_timestamp_seconds${hostJobs}) / 3600 > ${t.backupMaxAgeHours}`,
        reason === "never"
          ? "No {{ $labels.kind }} backup of {{ $labels.mail_host }} has succeeded yet"
          : 'The last good {{ $labels.kind }} backup of {{ $labels.mail_host }} is {{ $value | printf "%.0f" }} hours old',
        `No {{ $labels.kind }} backup has succeeded for more than ${hours(t.backupMaxAgeHours)}. {{ if eq $labels.kind "pbs" }}Proxmox: Datacenter → Backup → the job mailstack-${input.stack}-…, and the task log of its last run (Node → Task History, type vzdump); check that the PBS storage is online (pvesm status).{{ else }}On the mail host: systemctl status mailstack-backup.timer mailstack-backup.service, sudo mailstack-backup status, journalctl -u mailstack-backup.service; run one now with sudo systemctl start mailstack-backup.service.{{ end }}`,
        { reason },
      ),
    ),
    rule(
      "MailBackupFailed",
      `mailstack_backup_last_run_success${hostJobs} == 0`,
      "The last {{ $labels.kind }} backup of {{ $labels.mail_host }} failed",
      `{{ with $labels.error }}It failed with: {{ . }}. {{ end }}{{ if eq $labels.kind "pbs" }}Read the task log (Proxmox: Node → Task History, type vzdump; or pvesh get /nodes/<node>/tasks --typefilter vzdump --errors 1) and check the PBS storage (pvesm status, the PBS datastore's free space).{{ else }}On the mail host: journalctl -u mailstack-backup.service shows the step that failed; sudo mailstack-backup status; after the fix run sudo systemctl start mailstack-backup.service.{{ end }}`,
    ),
    rule(
      "MailBackupCheckFailed",
      `mailstack_backup_check_last_run_success${hostJobs} == 0`,
      "The last check of the {{ $labels.kind }} backup repository of {{ $labels.mail_host }} failed",
      `{{ with $labels.error }}It failed with: {{ . }}. {{ end }}restic check found the repository damaged or could not read it: the backups may not restore. journalctl -u mailstack-backup-check.service; run sudo mailstack-backup check again; for damaged packs follow restic's repair (restic repair index, restic repair packs) and take a fresh backup at once.`,
    ),
    rule(
      "MailVerifyFailing",
      `mailstack_verify_check_status${sel(jobs.verify, 'check!="dnssec-ds"')} == 2`,
      "verify: {{ $labels.category }} check {{ $labels.check }} fails for {{ $labels.domain }}{{ $labels.host }}{{ with $labels.port }}:{{ . }}{{ end }}",
      `The scheduled verify of {{ $labels.mail_host }} reports {{ $labels.check }} ({{ $labels.category }}) failed for ${input.for.MailVerifyFailing}: what the internet sees has drifted from the stack (DNSSEC, DANE, MTA-STS, SPF, DKIM, DMARC, TLS). Run it by hand for the message and the fix: npm run verify -- --stack ${input.stack} (or journalctl -u mailstack-verify.service on the verify host); usually pulumi up --refresh puts the records back.`,
    ),
    rule(
      "MailVerifyNotRunning",
      `mailstack_verify_up${sel(jobs.verify)} == 0`,
      "The scheduled verify of {{ $labels.mail_host }} cannot run its checks",
      "verify ran but could not check anything (bad usage or unreadable stack outputs). journalctl -u mailstack-verify.service on the verify host; re-deploy the verify schedule with pulumi up.",
      { reason: "failing" },
    ),
    rule(
      "MailVerifyNotRunning",
      `(time() - mailstack_verify_last_run_timestamp_seconds${sel(jobs.verify)}) / 3600 > ${t.verifyMaxAgeHours}`,
      `The scheduled verify of {{ $labels.mail_host }} last ran {{ $value | printf "%.0f" }} hours ago`,
      `verify has not reported for more than ${hours(t.verifyMaxAgeHours)}, so drift goes unnoticed. On the verify host: systemctl status mailstack-verify.timer mailstack-verify.service.`,
      { reason: "stale" },
    ),
    rule(
      "MailDnssecPending",
      `mailstack_verify_check_status${sel(jobs.verify, 'check="dnssec-ds"')} == 2`,
      "DNSSEC of {{ $labels.domain }} is still not delegated: the registrar has no matching DS",
      `The zone {{ $labels.domain }} is signed, but its parent has had no DS for it (or a wrong one) for ${input.for.MailDnssecPending}: validating resolvers treat it as unsigned, and DANE does not protect inbound mail. Give the registrar the DS record: pulumi stack output zones --json (zones.{{ $labels.domain }}.ds), then wait for the parent's TTL.`,
    ),
    rule(
      "MailBanSpike",
      `sum by (job, instance, stack, mail_host) (mailstack_crowdsec_active_decisions${node()}) - sum by (job, instance, stack, mail_host) (mailstack_crowdsec_active_decisions${node()} offset 1h) > ${t.banSpikePerHour}`,
      `CrowdSec on {{ $labels.mail_host }} banned {{ $value | printf "%.0f" }} more sources within an hour`,
      `More than ${t.banSpikePerHour} new local bans in an hour: an attack (password spraying on SMTP AUTH/IMAP, a scan) or false positives locking out users. sudo cscli alerts list --since 1h shows the scenarios and sources; lift a wrong ban with sudo cscli decisions delete --ip <address> and allowlist your own networks (a CrowdSec allowlist) so it does not recur.`,
    ),
  ];
}

/** The component label of an alert (for routing and dashboards). */
function componentOf(alert: AlertName): string {
  if (alert.startsWith("MailBackup")) return "backup";
  if (alert.startsWith("MailVerify") || alert === "MailDnssecPending") return "verify";
  if (["MailQueueGrowing", "MailPostfixDown", "MailServiceDown", "MailCertificateExpiring"].includes(alert))
    return "mail";
  if (["MailContainerDown", "MailServiceUnhealthy"].includes(alert)) return "mailcow";
  if (alert === "MailBanSpike") return "crowdsec";
  return "host";
}

/** The rules file (Prometheus rule groups). */
export function alertRules(input: AlertRulesInput): string {
  const rules = alertRuleList(input).map((rule) => ({
    alert: rule.alert,
    expr: rule.expr,
    for: rule.for,
    labels: rule.labels,
    annotations: rule.annotations,
  }));
  return `# mailstack: alert rules for the ${input.stack} stack (rendered by the stack).\n${stringify(
    { groups: [{ name: `mailstack-${input.stack}`, rules }] },
    { lineWidth: 0 },
  )}`;
}

// ---- Alertmanager -------------------------------------------------------------------------------

export interface AlertmanagerInput {
  readonly stack: string;
  /** Where every alert goes. */
  readonly notifyEmail: string;
  readonly from: string;
  /** host:port of the SMTP server that relays the alerts. */
  readonly smarthost: string;
  readonly requireTls: boolean;
  readonly username?: string;
  /** A file holding the SMTP password (Alertmanager reads it; the stack never sees it). */
  readonly passwordFile?: string;
  readonly timing: { readonly groupWait: string; readonly groupInterval: string; readonly repeatInterval: string };
}

export const DEFAULT_ROUTE_TIMING = { groupWait: "30s", groupInterval: "5m", repeatInterval: "4h" } as const;

const EMAIL_SUBJECT =
  '[mailstack {{ .CommonLabels.stack }}] {{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }} {{ .CommonLabels.alertname }}{{ with .CommonLabels.mail_host }} on {{ . }}{{ end }}{{ with .CommonAnnotations.summary }}: {{ . }}{{ end }}';

const EMAIL_TEXT = `{{ range .Alerts }}{{ .Status | toUpper }} {{ .Labels.alertname }} (severity {{ .Labels.severity }}){{ with .Labels.mail_host }} on {{ . }}{{ end }}
Summary: {{ .Annotations.summary }}

{{ .Annotations.description }}

Started: {{ .StartsAt }}{{ if eq .Status "resolved" }}, resolved: {{ .EndsAt }}{{ end }}
Labels:{{ range .Labels.SortedPairs }} {{ .Name }}={{ .Value }}{{ end }}
Source: {{ .GeneratorURL }}

{{ end }}`;

export function alertmanagerConfig(input: AlertmanagerInput): string {
  const config = {
    global: {
      smtp_smarthost: input.smarthost,
      smtp_from: input.from,
      smtp_require_tls: input.requireTls,
      ...(input.username ? { smtp_auth_username: input.username } : {}),
      ...(input.passwordFile ? { smtp_auth_password_file: input.passwordFile } : {}),
    },
    route: {
      receiver: "mailstack-email",
      group_by: ["alertname", "stack", "mail_host"],
      group_wait: input.timing.groupWait,
      group_interval: input.timing.groupInterval,
      repeat_interval: input.timing.repeatInterval,
    },
    // A host that is down makes every other alert of it noise.
    inhibit_rules: [
      {
        source_matchers: ['alertname="MailHostDown"'],
        target_matchers: ['alertname!="MailHostDown"'],
        equal: ["stack", "mail_host"],
      },
    ],
    receivers: [
      {
        name: "mailstack-email",
        email_configs: [
          {
            to: input.notifyEmail,
            send_resolved: true,
            headers: { Subject: EMAIL_SUBJECT },
            // Plain text only (Alertmanager's default is its HTML template).
            html: "",
            text: EMAIL_TEXT,
          },
        ],
      },
    ],
  };
  return `# mailstack: Alertmanager routing for the ${input.stack} stack (rendered by the stack).\n${stringify(config, { lineWidth: 0 })}`;
}
