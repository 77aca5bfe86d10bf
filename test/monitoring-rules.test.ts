// The rendered alert rules on Prometheus' own rule engine (`promtool test rules`): synthetic
// series for every alert, each alert firing when it should — with its labels and annotations,
// summary and description with the fix, filled in — and staying quiet when it should not. The
// timing (`for:`) is promtool's virtual clock, never the wall clock.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ALERT_DEFAULTS, ALERT_NAMES, DEFAULT_THRESHOLDS, jobNames, type AlertName } from "../render/monitoring";
import { alertDurations, alertRuleList, alertRules, type AlertRule } from "../render/alerting";
import { run } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-rules-"));
afterAll(() => (process.env.KEEP_LAB ? console.log(dir) : rmSync(dir, { recursive: true, force: true })));

const STACK = "prod";
const HOST = "mail.xd-cloud.de";
const input = {
  stack: STACK,
  for: alertDurations(),
  thresholds: { ...DEFAULT_THRESHOLDS, backupMaxAgeHours: 26 },
};
const RULES = alertRuleList(input);
const jobs = jobNames(STACK);

type Labels = Record<string, string>;
const NODE: Labels = { job: jobs.node, instance: "10.3.0.4:9100", stack: STACK, mail_host: HOST };
const POSTFIX: Labels = { job: jobs.postfix, instance: "10.3.0.4:9154", stack: STACK, mail_host: HOST };
const BLACKBOX: Labels = { job: jobs.blackbox, instance: "10.3.0.4:9115", stack: STACK, mail_host: HOST };
const PVE: Labels = {
  job: jobs.pve,
  instance: "pve.xd-cloud.de:9100",
  pve_node: "pve",
  stack: STACK,
  mail_host: HOST,
  kind: "pbs",
  vmid: "104",
};
const VERIFY: Labels = { job: jobs.verify, instance: "10.3.5.20:9100", stack: STACK, mail_host: HOST };
const probe = (module: string, service: string, target: string): Labels => ({
  job: `${jobs.probe}-${module}-ip4`,
  instance: target,
  stack: STACK,
  mail_host: HOST,
  service,
  ip_family: "ip4",
});

const series = (name: string, labels: Labels, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(",")}}`,
  values,
});

/** The rule of an alert (the one with `reason`, for alerts with several). */
function ruleOf(alert: AlertName, reason?: string): AlertRule {
  const rule = RULES.find((r) => r.alert === alert && r.labels.reason === reason);
  if (!rule) throw new Error(`no rule ${alert}/${reason ?? ""}`);
  return rule;
}

/** A template with only {{ $labels.x }} references, filled in (anything else must be written out). */
function fill(template: string, labels: Labels): string {
  const text = template.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, name: string) => labels[name] ?? "");
  if (text.includes("{{")) throw new Error(`write this annotation out: ${template}`);
  return text;
}

interface Expected {
  readonly labels: Labels;
  readonly summary: string;
  /** The description when it is more than label references. */
  readonly description?: string;
  readonly reason?: string;
}

interface Case {
  readonly name: string;
  readonly alert: AlertName;
  readonly interval?: string;
  readonly series: readonly { series: string; values: string }[];
  readonly at: string;
  /** Exactly these alerts of `alert` are firing at `at` ([] = quiet). */
  readonly expect: readonly Expected[];
}

function expectedAlert(alert: AlertName, expected: Expected) {
  const rule = ruleOf(alert, expected.reason);
  const labels = { ...expected.labels, ...rule.labels, alertname: alert };
  return {
    exp_labels: labels,
    exp_annotations: {
      summary: expected.summary,
      description: expected.description ?? fill(rule.annotations.description, labels),
    },
  };
}

const fs = { device: "/dev/sda1", fstype: "ext4", mountpoint: "/" };
const days = (n: number) => n * 86_400;
const offsiteDescription =
  "On the mail host: systemctl status mailstack-backup.timer mailstack-backup.service, sudo mailstack-backup status, journalctl -u mailstack-backup.service; run one now with sudo systemctl start mailstack-backup.service.";

const CASES: Case[] = [
  {
    name: "the host stops answering for longer than 5m",
    alert: "MailHostDown",
    series: [series("up", NODE, "1 1 1 0x20")],
    at: "12m",
    expect: [
      {
        labels: NODE,
        summary: `${HOST} does not answer: node_exporter on 10.3.0.4:9100 cannot be scraped`,
      },
    ],
  },
  {
    name: "a host down for less than 5m is not alerted",
    alert: "MailHostDown",
    series: [series("up", NODE, "1 1 1 0x20")],
    at: "6m",
    expect: [],
  },
  {
    name: "the Postfix exporter is unreachable for 10m",
    alert: "MailExporterDown",
    series: [series("up", POSTFIX, "0x20"), series("up", BLACKBOX, "1x20")],
    at: "15m",
    expect: [{ labels: POSTFIX, summary: `The exporter ${jobs.postfix} on 10.3.0.4:9154 cannot be scraped` }],
  },
  {
    name: "exporters that answer",
    alert: "MailExporterDown",
    series: [series("up", POSTFIX, "1x20"), series("up", BLACKBOX, "1 1 0 0 1x20")],
    at: "15m",
    expect: [],
  },
  {
    name: "the collector stopped 30 minutes ago",
    alert: "MailMetricsStale",
    series: [series("mailstack_metrics_last_run_timestamp_seconds", NODE, "0x40")],
    at: "30m",
    expect: [{ labels: NODE, reason: "collector", summary: "The mailstack metrics of 10.3.0.4:9100 are 30m 0s old" }],
  },
  {
    name: "a collector that runs every minute is fresh",
    alert: "MailMetricsStale",
    series: [series("mailstack_metrics_last_run_timestamp_seconds", NODE, "0+60x40")],
    at: "30m",
    expect: [],
  },
  {
    name: "node_exporter cannot read a textfile",
    alert: "MailMetricsStale",
    series: [
      series("node_textfile_scrape_error", NODE, "1x20"),
      series("mailstack_metrics_last_run_timestamp_seconds", NODE, "0+60x40"),
    ],
    at: "15m",
    expect: [
      {
        labels: NODE,
        reason: "textfile",
        summary: "node_exporter on 10.3.0.4:9100 cannot read a textfile metrics file",
      },
    ],
  },
  {
    name: "/ is 90 % full (tmpfs and read-only file systems do not count)",
    alert: "MailDiskFilling",
    series: [
      series("node_filesystem_avail_bytes", { ...NODE, ...fs }, "10x30"),
      series("node_filesystem_size_bytes", { ...NODE, ...fs }, "100x30"),
      series("node_filesystem_readonly", { ...NODE, ...fs }, "0x30"),
      ...["node_filesystem_avail_bytes 1", "node_filesystem_size_bytes 100", "node_filesystem_readonly 0"].map(
        (line) => {
          const [name = "", value = ""] = line.split(" ");
          return series(name, { ...NODE, device: "tmpfs", fstype: "tmpfs", mountpoint: "/run/user/0" }, `${value}x30`);
        },
      ),
      ...["node_filesystem_avail_bytes 1", "node_filesystem_size_bytes 100", "node_filesystem_readonly 1"].map(
        (line) => {
          const [name = "", value = ""] = line.split(" ");
          return series(name, { ...NODE, device: "/dev/sr0", fstype: "ext4", mountpoint: "/mnt/ro" }, `${value}x30`);
        },
      ),
    ],
    at: "20m",
    expect: [{ labels: { ...NODE, ...fs }, reason: "used", summary: `/ on ${HOST} is 90 % full (more than 85 %)` }],
  },
  {
    name: "a half-full disk that does not fill is quiet",
    alert: "MailDiskFilling",
    series: [
      series("node_filesystem_avail_bytes", { ...NODE, ...fs }, "50x30"),
      series("node_filesystem_size_bytes", { ...NODE, ...fs }, "100x30"),
      series("node_filesystem_readonly", { ...NODE, ...fs }, "0x30"),
    ],
    at: "20m",
    expect: [],
  },
  {
    name: "a disk losing 1 % a minute fills within 24 h",
    alert: "MailDiskFilling",
    series: [
      series("node_filesystem_avail_bytes", { ...NODE, ...fs }, "900-1x40"),
      series("node_filesystem_size_bytes", { ...NODE, ...fs }, "1000x40"),
      series("node_filesystem_readonly", { ...NODE, ...fs }, "0x40"),
    ],
    at: "25m",
    expect: [
      {
        labels: { ...NODE, ...fs },
        reason: "rate",
        summary: `/ on ${HOST} will be full within 24 h at the rate of the last 6 hours`,
      },
    ],
  },
  {
    name: "5 % of memory available",
    alert: "MailMemoryPressure",
    series: [
      series("node_memory_MemAvailable_bytes", NODE, "5x30"),
      series("node_memory_MemTotal_bytes", NODE, "100x30"),
      series("node_vmstat_oom_kill", NODE, "0x30"),
    ],
    at: "20m",
    expect: [
      { labels: NODE, reason: "available", summary: `${HOST} has only 5.0 % of its memory available (less than 10 %)` },
    ],
  },
  {
    name: "the OOM killer ran",
    alert: "MailMemoryPressure",
    series: [
      series("node_memory_MemAvailable_bytes", NODE, "50x40"),
      series("node_memory_MemTotal_bytes", NODE, "100x40"),
      series("node_vmstat_oom_kill", NODE, "0x5 1x40"),
    ],
    at: "25m",
    expect: [{ labels: NODE, reason: "oom", summary: `The kernel of ${HOST} killed processes for lack of memory` }],
  },
  {
    name: "memory at 50 % without OOM kills is quiet",
    alert: "MailMemoryPressure",
    series: [
      series("node_memory_MemAvailable_bytes", NODE, "50x30"),
      series("node_memory_MemTotal_bytes", NODE, "100x30"),
      series("node_vmstat_oom_kill", NODE, "0x30"),
    ],
    at: "20m",
    expect: [],
  },
  {
    name: "the deferred queue grows past 100 messages",
    alert: "MailQueueGrowing",
    series: [
      series("postfix_showq_message_size_bytes_count", { ...POSTFIX, queue: "deferred" }, "10+10x40"),
      series("postfix_showq_message_size_bytes_count", { ...POSTFIX, queue: "active" }, "5x40"),
    ],
    at: "30m",
    expect: [{ labels: POSTFIX, summary: `315 messages are queued on ${HOST} and the queue is still growing` }],
  },
  {
    name: "a large queue that does not grow is quiet",
    alert: "MailQueueGrowing",
    series: [series("postfix_showq_message_size_bytes_count", { ...POSTFIX, queue: "deferred" }, "150x40")],
    at: "30m",
    expect: [],
  },
  {
    name: "Postfix stops answering on showq",
    alert: "MailPostfixDown",
    series: [series("postfix_up", { ...POSTFIX, path: "/run/mailstack-postfix-public/showq" }, "0x20")],
    at: "10m",
    expect: [
      {
        labels: { ...POSTFIX, path: "/run/mailstack-postfix-public/showq" },
        summary: `Postfix on ${HOST} does not answer on its queue socket`,
      },
    ],
  },
  {
    name: "Postfix up",
    alert: "MailPostfixDown",
    series: [series("postfix_up", { ...POSTFIX, path: "/run/mailstack-postfix-public/showq" }, "1x20")],
    at: "10m",
    expect: [],
  },
  {
    name: "SMTP on port 25 fails its probe",
    alert: "MailServiceDown",
    series: [
      series("probe_success", probe("smtp-starttls", "smtp", `${HOST}:25`), "0x20"),
      series("probe_success", probe("imaps", "imaps", `${HOST}:993`), "1x20"),
    ],
    at: "15m",
    expect: [
      {
        labels: probe("smtp-starttls", "smtp", `${HOST}:25`),
        summary: `smtp (${HOST}:25, ip4) of ${HOST} fails its probe`,
      },
    ],
  },
  {
    name: "a probe failing for five minutes is not yet an outage",
    alert: "MailServiceDown",
    series: [series("probe_success", probe("smtp-starttls", "smtp", `${HOST}:25`), "1x10 0x5")],
    at: "15m",
    expect: [],
  },
  {
    name: "postfix-mailcow is not running",
    alert: "MailContainerDown",
    series: [
      series("mailstack_mailcow_container_up", { ...NODE, service: "postfix-mailcow" }, "0x10"),
      series("mailstack_mailcow_container_up", { ...NODE, service: "dovecot-mailcow" }, "1x10"),
    ],
    at: "8m",
    expect: [
      {
        labels: { ...NODE, service: "postfix-mailcow" },
        summary: `mailcow's postfix-mailcow is not running on ${HOST}`,
      },
    ],
  },
  {
    name: "every container runs",
    alert: "MailContainerDown",
    series: [series("mailstack_mailcow_container_up", { ...NODE, service: "postfix-mailcow" }, "1x10")],
    at: "8m",
    expect: [],
  },
  {
    name: "the watchdog rates Rspamd at 20 %",
    alert: "MailServiceUnhealthy",
    series: [
      series("mailstack_mailcow_watchdog_health_percent", { ...NODE, service: "Rspamd" }, "20x30"),
      series("mailstack_mailcow_watchdog_health_percent", { ...NODE, service: "ACME" }, "100x30"),
    ],
    at: "20m",
    expect: [{ labels: { ...NODE, service: "Rspamd" }, summary: `mailcow's watchdog rates Rspamd on ${HOST} at 20 %` }],
  },
  {
    name: "the watchdog rates every service at 100 %",
    alert: "MailServiceUnhealthy",
    series: [series("mailstack_mailcow_watchdog_health_percent", { ...NODE, service: "Rspamd" }, "100x30")],
    at: "20m",
    expect: [],
  },
  {
    name: "IMAPS serves a certificate that ends in 10 days, HTTPS one that has expired",
    alert: "MailCertificateExpiring",
    interval: "5m",
    series: [
      series("probe_ssl_earliest_cert_expiry", probe("imaps", "imaps", `${HOST}:993`), `${7200 + days(10)}x30`),
      series("probe_ssl_earliest_cert_expiry", probe("https", "https", `https://${HOST}/`), "0x30"),
      series("probe_ssl_earliest_cert_expiry", probe("smtps", "submissions", `${HOST}:465`), `${days(60)}x30`),
    ],
    at: "2h",
    expect: [
      {
        labels: probe("imaps", "imaps", `${HOST}:993`),
        reason: "probe",
        summary: `The certificate of imaps on ${HOST}:993 expires in 10.0 days`,
      },
      {
        labels: probe("https", "https", `https://${HOST}/`),
        reason: "probe",
        summary: `The certificate of https on https://${HOST}/ has expired`,
      },
    ],
  },
  {
    name: "mailcow's cert.pem on disk ends in 3 days",
    alert: "MailCertificateExpiring",
    interval: "5m",
    series: [
      series(
        "mailstack_mailcow_certificate_expiry_timestamp_seconds",
        { ...NODE, file: "cert.pem" },
        `${7200 + days(3)}x30`,
      ),
    ],
    at: "2h",
    expect: [
      {
        labels: { ...NODE, file: "cert.pem" },
        reason: "file",
        summary: `mailcow's certificate cert.pem on ${HOST} expires in 3.0 days`,
      },
    ],
  },
  {
    name: "a certificate valid for 60 more days is quiet",
    alert: "MailCertificateExpiring",
    interval: "5m",
    series: [series("probe_ssl_earliest_cert_expiry", probe("imaps", "imaps", `${HOST}:993`), `${days(60)}x30`)],
    at: "2h",
    expect: [],
  },
  {
    name: "the last off-site backup succeeded 29 hours ago; no PBS backup ever succeeded",
    alert: "MailBackupStale",
    interval: "5m",
    series: [
      series("mailstack_backup_last_success_timestamp_seconds", { ...NODE, kind: "offsite" }, "3600x400"),
      series("mailstack_backup_configured_timestamp_seconds", { ...NODE, kind: "offsite" }, "0x400"),
      series("mailstack_backup_last_success_timestamp_seconds", PVE, "0x400"),
      series("mailstack_backup_configured_timestamp_seconds", PVE, "0x400"),
    ],
    at: "30h",
    expect: [
      {
        labels: { ...NODE, kind: "offsite" },
        reason: "stale",
        summary: `The last good offsite backup of ${HOST} is 29 hours old`,
        description: `No offsite backup has succeeded for more than 26 h. ${offsiteDescription}`,
      },
      {
        labels: PVE,
        reason: "never",
        summary: `No pbs backup of ${HOST} has succeeded yet`,
        description: `No pbs backup has succeeded for more than 26 h. Proxmox: Datacenter → Backup → the job mailstack-prod-…, and the task log of its last run (Node → Task History, type vzdump); check that the PBS storage is online (pvesm status).`,
      },
    ],
  },
  {
    name: "a backup set up 2 hours ago, or one that succeeded an hour ago, is not stale",
    alert: "MailBackupStale",
    interval: "5m",
    series: [
      series("mailstack_backup_last_success_timestamp_seconds", { ...NODE, kind: "offsite" }, "0x400"),
      series("mailstack_backup_configured_timestamp_seconds", { ...NODE, kind: "offsite" }, `${28 * 3600}x400`),
      series("mailstack_backup_last_success_timestamp_seconds", PVE, `${29 * 3600}x400`),
      series("mailstack_backup_configured_timestamp_seconds", PVE, "0x400"),
    ],
    at: "30h",
    expect: [],
  },
  {
    name: "the last off-site and PBS backups failed",
    alert: "MailBackupFailed",
    series: [
      series(
        "mailstack_backup_last_run_success",
        { ...NODE, kind: "offsite", error: "uploading to s3:https://s3.example.com/b: restic backup" },
        "0x10",
      ),
      series("mailstack_backup_last_run_success", { ...PVE, error: "job errors" }, "0x10"),
    ],
    at: "5m",
    expect: [
      {
        labels: { ...NODE, kind: "offsite", error: "uploading to s3:https://s3.example.com/b: restic backup" },
        summary: `The last offsite backup of ${HOST} failed`,
        description:
          "It failed with: uploading to s3:https://s3.example.com/b: restic backup. On the mail host: journalctl -u mailstack-backup.service shows the step that failed; sudo mailstack-backup status; after the fix run sudo systemctl start mailstack-backup.service.",
      },
      {
        labels: { ...PVE, error: "job errors" },
        summary: `The last pbs backup of ${HOST} failed`,
        description:
          "It failed with: job errors. Read the task log (Proxmox: Node → Task History, type vzdump; or pvesh get /nodes/<node>/tasks --typefilter vzdump --errors 1) and check the PBS storage (pvesm status, the PBS datastore's free space).",
      },
    ],
  },
  {
    name: "a successful backup",
    alert: "MailBackupFailed",
    series: [series("mailstack_backup_last_run_success", { ...NODE, kind: "offsite" }, "1x10")],
    at: "5m",
    expect: [],
  },
  {
    name: "restic check found damage",
    alert: "MailBackupCheckFailed",
    series: [
      series(
        "mailstack_backup_check_last_run_success",
        { ...NODE, kind: "offsite", error: "checking the repository: Fatal: repository contains errors" },
        "0x10",
      ),
    ],
    at: "5m",
    expect: [
      {
        labels: { ...NODE, kind: "offsite", error: "checking the repository: Fatal: repository contains errors" },
        summary: `The last check of the offsite backup repository of ${HOST} failed`,
        description:
          "It failed with: checking the repository: Fatal: repository contains errors. restic check found the repository damaged or could not read it: the backups may not restore. journalctl -u mailstack-backup-check.service; run sudo mailstack-backup check again; for damaged packs follow restic's repair (restic repair index, restic repair packs) and take a fresh backup at once.",
      },
    ],
  },
  {
    name: "a sound repository",
    alert: "MailBackupCheckFailed",
    series: [series("mailstack_backup_check_last_run_success", { ...NODE, kind: "offsite" }, "1x10")],
    at: "5m",
    expect: [],
  },
  {
    name: "verify's DANE check fails for two hours (a pending DS or a warning is not this alert)",
    alert: "MailVerifyFailing",
    interval: "5m",
    series: [
      series(
        "mailstack_verify_check_status",
        { ...VERIFY, category: "dane", check: "dane-tlsa", host: HOST, port: "25" },
        "2x40",
      ),
      series(
        "mailstack_verify_check_status",
        { ...VERIFY, category: "dnssec", check: "dnssec-ds", domain: "xd-cloud.de" },
        "2x40",
      ),
      series(
        "mailstack_verify_check_status",
        { ...VERIFY, category: "spf", check: "spf-record", domain: "xd-cloud.de" },
        "1x40",
      ),
    ],
    at: "3h",
    expect: [
      {
        labels: { ...VERIFY, category: "dane", check: "dane-tlsa", host: HOST, port: "25" },
        summary: `verify: dane check dane-tlsa fails for ${HOST}:25`,
      },
    ],
  },
  {
    name: "a verify failure of one hour is not yet drift",
    alert: "MailVerifyFailing",
    interval: "5m",
    series: [
      series(
        "mailstack_verify_check_status",
        { ...VERIFY, category: "dane", check: "dane-tlsa", host: HOST, port: "25" },
        "0x6 2x30",
      ),
    ],
    at: "2h",
    expect: [],
  },
  {
    name: "verify cannot run its checks",
    alert: "MailVerifyNotRunning",
    series: [
      series("mailstack_verify_up", VERIFY, "0x40"),
      series("mailstack_verify_last_run_timestamp_seconds", VERIFY, "0+60x40"),
    ],
    at: "35m",
    expect: [{ labels: VERIFY, reason: "failing", summary: `The scheduled verify of ${HOST} cannot run its checks` }],
  },
  {
    name: "verify last ran four hours ago",
    alert: "MailVerifyNotRunning",
    interval: "5m",
    series: [
      series("mailstack_verify_up", VERIFY, "1x60"),
      series("mailstack_verify_last_run_timestamp_seconds", VERIFY, "0x60"),
    ],
    at: "4h",
    expect: [{ labels: VERIFY, reason: "stale", summary: `The scheduled verify of ${HOST} last ran 4 hours ago` }],
  },
  {
    name: "verify running hourly",
    alert: "MailVerifyNotRunning",
    interval: "5m",
    series: [
      series("mailstack_verify_up", VERIFY, "1x60"),
      series("mailstack_verify_last_run_timestamp_seconds", VERIFY, "0x11 3600x11 7200x11 10800x11 14400x11"),
    ],
    at: "4h",
    expect: [],
  },
  {
    name: "the DS is still missing at the registrar after a day",
    alert: "MailDnssecPending",
    interval: "5m",
    series: [
      series(
        "mailstack_verify_check_status",
        { ...VERIFY, category: "dnssec", check: "dnssec-ds", domain: "xd-cloud.de" },
        "2x320",
      ),
    ],
    at: "25h",
    expect: [
      {
        labels: { ...VERIFY, category: "dnssec", check: "dnssec-ds", domain: "xd-cloud.de" },
        summary: "DNSSEC of xd-cloud.de is still not delegated: the registrar has no matching DS",
      },
    ],
  },
  {
    name: "a DS pending for twelve hours is not alerted yet",
    alert: "MailDnssecPending",
    interval: "5m",
    series: [
      series(
        "mailstack_verify_check_status",
        { ...VERIFY, category: "dnssec", check: "dnssec-ds", domain: "xd-cloud.de" },
        "2x320",
      ),
    ],
    at: "12h",
    expect: [],
  },
  {
    name: "CrowdSec bans 100 more sources within an hour",
    alert: "MailBanSpike",
    series: [
      series("mailstack_crowdsec_active_decisions", { ...NODE, origin: "crowdsec" }, "0x60 100x30"),
      series("mailstack_crowdsec_active_decisions", { ...NODE, origin: "cscli" }, "3x90"),
    ],
    at: "70m",
    expect: [{ labels: NODE, summary: `CrowdSec on ${HOST} banned 100 more sources within an hour` }],
  },
  {
    name: "a steady number of bans",
    alert: "MailBanSpike",
    series: [series("mailstack_crowdsec_active_decisions", { ...NODE, origin: "crowdsec" }, "400x90")],
    at: "70m",
    expect: [],
  },
];

/** A promtool test file; cases over hours sample and evaluate every 5m (Prometheus' lookback). */
function testFile(cases: readonly Case[], evaluationInterval: string): string {
  return stringify(
    {
      rule_files: ["rules.yml"],
      evaluation_interval: evaluationInterval,
      tests: cases.map((c) => ({
        name: c.name,
        interval: c.interval ?? "1m",
        input_series: c.series,
        alert_rule_test: [
          { eval_time: c.at, alertname: c.alert, exp_alerts: c.expect.map((e) => expectedAlert(c.alert, e)) },
        ],
      })),
    },
    { lineWidth: 0 },
  );
}

async function promtoolTest(cases: readonly Case[], file: string) {
  const files = (["1m", "5m"] as const)
    .map((interval) => ({ interval, cases: cases.filter((c) => (c.interval ?? "1m") === interval) }))
    .filter((group) => group.cases.length > 0)
    .map((group) => {
      const name = `${group.interval}-${file}`;
      writeFileSync(join(dir, name), testFile(group.cases, group.interval));
      return name;
    });
  return run("promtool", ["test", "rules", ...files], { cwd: dir });
}

beforeAll(() => {
  requireTool("promtool");
  writeFileSync(join(dir, "rules.yml"), alertRules(input));
});

describe("the alert rules on promtool", () => {
  it("are valid rules without lint findings", async () => {
    const result = await run("promtool", ["check", "rules", "rules.yml"], { cwd: dir });
    expect(result.stdout + result.stderr).toContain(`SUCCESS: ${RULES.length} rules found`);
    expect(result.status).toBe(0);
  });

  it("define every alert the issue names, each with a severity, a summary and a description with the fix", () => {
    const names = new Set(RULES.map((rule) => rule.alert));
    for (const name of [
      "MailHostDown",
      "MailDiskFilling",
      "MailMemoryPressure",
      "MailQueueGrowing",
      "MailContainerDown",
      "MailCertificateExpiring",
      "MailBackupStale",
      "MailBackupFailed",
      "MailBackupCheckFailed",
      "MailVerifyFailing",
      "MailDnssecPending",
      "MailBanSpike",
    ])
      expect(names, name).toContain(name);
    for (const rule of RULES) {
      expect(["critical", "warning"]).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length, rule.alert).toBeGreaterThan(20);
      // The fix: a command to run or a setting to change.
      expect(rule.annotations.description, rule.alert).toMatch(
        /sudo |systemctl |pulumi |mailstack:|journalctl |Proxmox/,
      );
      expect(rule.for).toBe(ALERT_DEFAULTS[rule.alert].for);
    }
  });

  it("fire with their labels and annotations when they should and stay quiet otherwise", async () => {
    // Every alert (and every rule of it) has a case in which it fires and one in which it is quiet.
    for (const name of ALERT_NAMES) {
      expect(
        CASES.some((c) => c.alert === name && c.expect.length > 0),
        `${name} fires somewhere`,
      ).toBe(true);
      expect(
        CASES.some((c) => c.alert === name && c.expect.length === 0),
        `${name} is quiet somewhere`,
      ).toBe(true);
    }
    for (const rule of RULES)
      expect(
        CASES.some((c) => c.alert === rule.alert && c.expect.some((e) => e.reason === rule.labels.reason)),
        `${rule.alert}/${rule.labels.reason ?? ""} fires somewhere`,
      ).toBe(true);
    const result = await promtoolTest(CASES, "tests.yml");
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it("are really checked: a wrong expectation fails promtool", async () => {
    const firing = CASES.filter((c) => c.expect.length > 0);
    const wrongSummary = firing.slice(0, 1).map((c) => ({
      ...c,
      expect: c.expect.map((e) => ({ ...e, summary: `${e.summary}!` })),
    }));
    const notQuiet = CASES.filter((c) => c.expect.length === 0)
      .slice(0, 1)
      .map((c) => ({ ...c, expect: firing[0]?.expect ?? [] }));
    for (const [cases, file] of [
      [wrongSummary, "wrong-summary.yml"],
      [notQuiet, "wrong-quiet.yml"],
    ] as const) {
      const result = await promtoolTest(cases, file);
      expect(result.status, file).not.toBe(0);
      expect(result.stdout + result.stderr, file).toMatch(/FAILED/);
    }
  });

  it("take their `for:` from the configuration, so a lab can shorten them without changing the conditions", () => {
    const short = alertRuleList({ ...input, for: alertDurations({ MailHostDown: "30s" }) });
    expect(short.find((r) => r.alert === "MailHostDown")?.for).toBe("30s");
    expect(short.map((r) => r.expr)).toEqual(RULES.map((r) => r.expr));
  });
});
