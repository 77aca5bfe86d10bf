// Monitoring end to end on loopback, with the real software from Debian: mailstack-metrics runs
// for real against fixtures (a stand-in docker CLI and cscli answering in their own formats, a
// real mailstack-backup status file, a real certificate) into a real node_exporter's textfile
// directory; a real Postfix exporter reads a real Postfix's showq socket; a real blackbox exporter
// with the rendered modules probes an HTTPS server that serves an expired certificate; a real
// Prometheus with the rendered configuration scrapes them and evaluates the rendered rules, and a
// real Alertmanager with the rendered routing delivers the alerts to a local Postfix as mail.
// Stop Postfix, serve the expired certificate, age the backup status: each alert arrives by mail.
// Only the `for:` durations are 0s here (the rules' conditions are the rendered ones) and the
// exporters' ports are free ports instead of their defaults.
import { createServer, type Server } from "node:https";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAILCOW_SERVICES } from "../config/schema";
import {
  ALERT_NAMES,
  blackboxConfig,
  DEFAULT_THRESHOLDS,
  prometheusConfig,
  type AlertName,
} from "../render/monitoring";
import { alertDurations, alertmanagerConfig, alertRules } from "../render/alerting";
import { exporterCommands, metricsCollector, MONITORING_PATHS, type MonitoringPaths } from "../render/monitoring-host";
import { Daemon, freePort, startPostfix, waitFor } from "./lab";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-monitoring-lab-"));
const STACK = "lab";
const HOST = "mail.example.org";
const fixtures = join(dir, "fixtures");
const bin = join(dir, "bin");
const mailcowDir = join(dir, "mailcow");
const inbox = join(dir, "mail", "inbox", "new");
const paths: MonitoringPaths = {
  ...MONITORING_PATHS,
  textfileDir: join(dir, "textfile"),
  stateDir: join(dir, "state"),
  blackboxConfig: join(dir, "blackbox.yml"),
  postfixExporter: "/usr/bin/prometheus-postfix-exporter",
  postfixQueue: join(dir, "mailhost", "queue", "public"),
  postfixLog: join(dir, "mailhost", "maillog"),
  backupConfigFile: join(dir, "backup.conf"),
  backupStatusFile: join(dir, "backup.status"),
};
const daemons: Daemon[] = [];
const stops: (() => Promise<void>)[] = [];
let https: Server | undefined;
let prometheusUrl = "";
let stopMailHostPostfix: () => Promise<void> = () => Promise.resolve();

/** The rendered command with its --web.listen-address on a free loopback port. */
function onPort(command: readonly string[], port: number): [string, string[]] {
  const [program = "", ...args] = command.map((arg) =>
    arg.startsWith("--web.listen-address=") ? `--web.listen-address=127.0.0.1:${port}` : arg,
  );
  return [program, args];
}

function start(name: string, command: readonly string[], port: number): Daemon {
  const [program, args] = onPort(command, port);
  const daemon = Daemon.start(name, program, args, dir);
  daemons.push(daemon);
  return daemon;
}

const now = () => Math.floor(Date.now() / 1000);

/** mailstack-backup's status file (render/backup.ts status_set: key=value lines). */
function writeBackupStatus(lastSuccess: number): void {
  writeFileSync(
    paths.backupStatusFile,
    [
      "backup_last_result=success",
      `backup_last_run=${new Date(lastSuccess * 1000).toISOString()}`,
      `backup_last_success_epoch=${lastSuccess}`,
      "backup_last_added_bytes=52428",
      "backup_repository_size_bytes=7340032",
      "check_last_result=success",
      "",
    ].join("\n"),
  );
}

async function collect(): Promise<string> {
  const result = await run("bash", [join(dir, "mailstack-metrics")], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, FIXTURES: fixtures },
  });
  expect(result.status, result.stderr).toBe(0);
  return readFileSync(join(paths.textfileDir, "mailstack.prom"), "utf8");
}

/** A self-signed certificate for 127.0.0.1 that expired in 2025 (openssl ca backdates it). */
async function expiredCertificate(): Promise<{ key: string; cert: string }> {
  const ca = join(dir, "ca");
  mkdirSync(ca);
  writeFileSync(join(ca, "index.txt"), "");
  writeFileSync(
    join(ca, "ca.cnf"),
    "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = .\nrand_serial = yes\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
  );
  await runOk(
    "openssl",
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "key.pem",
      "-subj",
      "/CN=127.0.0.1",
      "-out",
      "csr.pem",
    ],
    { cwd: ca },
  );
  await runOk(
    "openssl",
    ["ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "key.pem", "-in", "csr.pem"].concat([
      "-startdate",
      "20250101000000Z",
      "-enddate",
      "20250201000000Z",
      "-out",
      "cert.pem",
    ]),
    { cwd: ca },
  );
  return { key: readFileSync(join(ca, "key.pem"), "utf8"), cert: readFileSync(join(ca, "cert.pem"), "utf8") };
}

interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: string;
}

async function alerts(): Promise<PromAlert[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/alerts`);
  const body = (await response.json()) as { data: { alerts: PromAlert[] } };
  return body.data.alerts;
}

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as {
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.data.result;
}

/** A mail's text with quoted-printable soft breaks and escapes undone (Alertmanager's body encoding). */
function decoded(mail: string): string {
  return mail
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The first delivered mail whose Subject line is a FIRING notification of `alert`. */
async function mailFor(alert: AlertName): Promise<string> {
  try {
    return await waitFor(
      `a mail for ${alert}`,
      () => {
        for (const name of existsSync(inbox) ? readdirSync(inbox) : []) {
          const mail = decoded(readFileSync(join(inbox, name), "utf8"));
          if (new RegExp(`^Subject: \\[mailstack ${STACK}\\] FIRING:\\d+ ${alert} `, "m").test(mail)) return mail;
        }
        return undefined;
      },
      180_000,
    );
  } catch (error) {
    // Say where the chain stopped (no series, no alert, or no mail), so a failure on a loaded
    // machine can be told from a broken rule without rerunning it.
    const state = async (expr: string): Promise<string> =>
      query(expr).then(
        (result) => `${expr} = ${JSON.stringify(result.map((r) => [r.metric, r.value[1]]))}`,
        (failure: unknown) => `${expr}: ${String(failure)}`,
      );
    const seen = await Promise.all(
      [`ALERTS{alertname="${alert}"}`, "probe_success", "probe_duration_seconds", "up"].map(state),
    );
    const mails = existsSync(inbox) ? readdirSync(inbox).length : 0;
    throw new Error(`${String(error)}\nmails in the sink: ${mails}\n${seen.join("\n")}`);
  }
}

beforeAll(async () => {
  for (const tool of [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-postfix-exporter",
    "prometheus-blackbox-exporter",
    "jq",
    "openssl",
  ])
    requireTool(tool);
  chmodSync(dir, 0o755);
  for (const sub of [
    fixtures,
    bin,
    paths.textfileDir,
    join(mailcowDir, "data", "assets", "ssl"),
    join(dir, "mailhost"),
  ])
    mkdirSync(sub, { recursive: true });

  // The fixtures: every mailcow container runs (postfix-mailcow too: that the real Postfix stops is
  // the Postfix exporter's to see), the watchdog rates everything at 100 %, no bans.
  writeFileSync(
    join(fixtures, "containers.tsv"),
    MAILCOW_SERVICES.map(
      (service) => `${service}\trunning\tUp 3 hours${service === "redis-mailcow" ? " (healthy)" : ""}\n`,
    ).join(""),
  );
  const t = now();
  writeFileSync(
    join(fixtures, "watchdog.log"),
    ["Postfix", "Rspamd", "ACME"]
      .map((service) => `{"time":"${t}","service":"${service}","lvl":"100","hpnow":"5","hptotal":"5","hpdiff":"0"}\n`)
      .join(""),
  );
  writeFileSync(join(fixtures, "acme-fail-time"), "0\n");
  writeFileSync(join(fixtures, "decisions.json"), "null\n");
  for (const [name, fixture] of [
    ["docker", "monitoring-docker.sh"],
    ["cscli", "monitoring-cscli.sh"],
  ] as const)
    await runOk("ln", ["-s", join(__dirname, "lab-fixtures", fixture), join(bin, name)]);
  writeFileSync(paths.backupConfigFile, "RESTIC_REPOSITORY=/srv/restic\n");
  writeBackupStatus(now() - 3600);

  const certificate = await expiredCertificate();
  writeFileSync(join(mailcowDir, "data", "assets", "ssl", "cert.pem"), certificate.cert);
  writeFileSync(
    join(dir, "mailstack-metrics"),
    metricsCollector({ mailcowDir, composeProject: "mailcowdockerized", services: MAILCOW_SERVICES, paths }),
  );

  // The alert sink: a local Postfix delivering to a maildir.
  const sinkPort = await freePort();
  mkdirSync(join(dir, "sink"));
  const mailRoot = join(dir, "mail");
  mkdirSync(mailRoot);
  await runOk("chown", ["nobody:nogroup", mailRoot]);
  const sink = await startPostfix(join(dir, "sink"), sinkPort, [
    "virtual_mailbox_domains=example.org",
    `virtual_mailbox_base=${mailRoot}`,
    "virtual_mailbox_maps=static:inbox/",
    "virtual_uid_maps=static:65534",
    "virtual_gid_maps=static:65534",
    "virtual_minimum_uid=100",
  ]);
  stops.push(sink.stop);
  // The mail host's Postfix, which a test stops.
  const mailHost = await startPostfix(join(dir, "mailhost"), await freePort(), []);
  stopMailHostPostfix = mailHost.stop;
  stops.push(mailHost.stop);

  https = createServer({ key: certificate.key, cert: certificate.cert }, (_, response) => response.end("mailcow"));
  const httpsPort = await freePort();
  await new Promise<void>((resolve) => https?.listen(httpsPort, "127.0.0.1", resolve));

  const ports = {
    node: await freePort(),
    postfix: await freePort(),
    blackbox: await freePort(),
    prometheus: await freePort(),
    alertmanager: await freePort(),
  };
  writeFileSync(paths.blackboxConfig, blackboxConfig(["ip4"]));
  const commands = exporterCommands({ listenAddress: "127.0.0.1", paths });
  start("node-exporter", commands.node, ports.node);
  start("postfix-exporter", commands.postfix, ports.postfix);
  start("blackbox-exporter", commands.blackbox, ports.blackbox);

  writeFileSync(
    join(dir, "alertmanager.yml"),
    alertmanagerConfig({
      stack: STACK,
      notifyEmail: "ops@example.org",
      from: "alertmanager@example.org",
      smarthost: `127.0.0.1:${sinkPort}`,
      requireTls: false,
      timing: { groupWait: "1s", groupInterval: "5s", repeatInterval: "4h" },
    }),
  );
  const alertmanager = Daemon.start(
    "alertmanager",
    "prometheus-alertmanager",
    [
      "--config.file=alertmanager.yml",
      `--storage.path=${join(dir, "alertmanager-data")}`,
      `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
      "--cluster.listen-address=",
    ],
    dir,
  );
  daemons.push(alertmanager);

  const zero = Object.fromEntries(ALERT_NAMES.map((name) => [name, "0s"])) as Record<AlertName, string>;
  writeFileSync(
    join(dir, "rules.yml"),
    alertRules({
      stack: STACK,
      for: alertDurations(zero),
      thresholds: { ...DEFAULT_THRESHOLDS, backupMaxAgeHours: 26 },
    }),
  );
  writeFileSync(
    join(dir, "prometheus.yml"),
    prometheusConfig({
      stack: STACK,
      mailHost: HOST,
      exporters: {
        node: `127.0.0.1:${ports.node}`,
        postfix: `127.0.0.1:${ports.postfix}`,
        blackbox: `127.0.0.1:${ports.blackbox}`,
      },
      probes: [{ service: "https", module: "https", target: `https://127.0.0.1:${httpsPort}/` }],
      families: ["ip4"],
      alertmanagers: [`127.0.0.1:${ports.alertmanager}`],
      remoteWrite: [],
      scrapeInterval: "1s",
      evaluationInterval: "1s",
      rulesFile: "rules.yml",
    }),
  );
  await runOk("promtool", ["check", "config", "prometheus.yml"], { cwd: dir });
  await runOk("amtool", ["check-config", "alertmanager.yml"], { cwd: dir });
  await collect();
  daemons.push(
    Daemon.start(
      "prometheus",
      "prometheus",
      [
        "--config.file=prometheus.yml",
        `--storage.tsdb.path=${join(dir, "prometheus-data")}`,
        `--web.listen-address=127.0.0.1:${ports.prometheus}`,
      ],
      dir,
    ),
  );
  prometheusUrl = `http://127.0.0.1:${ports.prometheus}`;
  // Every target scraped once, all up.
  await waitFor(
    "every target up",
    async () => {
      const up = await query("up");
      return up.length === 4 && up.every((sample) => sample.value[1] === "1") ? true : undefined;
    },
    120_000,
  );
}, 300_000);

afterAll(async () => {
  https?.close();
  for (const daemon of daemons.reverse()) await daemon.stop();
  for (const stop of stops) await stop();
  if (process.env.KEEP_LAB) console.log(dir);
  else rmSync(dir, { recursive: true, force: true });
});

describe("monitoring on real Prometheus, exporters and Alertmanager", () => {
  it("collects mailcow, backup and certificate metrics with mailstack-metrics, valid for node_exporter", async () => {
    const text = await collect();
    const check = await run("promtool", ["check", "metrics"], { input: text });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    await waitFor("the collector's metrics in Prometheus", async () =>
      (await query('mailstack_backup_repository_size_bytes{kind="offsite"}'))[0]?.value[1] === "7340032"
        ? true
        : undefined,
    );
    const sections = await query("mailstack_metrics_section_success");
    expect(Object.fromEntries(sections.map((s) => [s.metric.section, s.value[1]]))).toEqual({
      containers: "1",
      watchdog: "1",
      certificate: "1",
      backup: "1",
      crowdsec: "1",
    });
    const containers = await query("mailstack_mailcow_container_up");
    expect(containers).toHaveLength(MAILCOW_SERVICES.length);
    expect(containers.every((c) => c.value[1] === "1" && c.metric.mail_host === HOST)).toBe(true);
    expect((await query('mailstack_mailcow_watchdog_health_percent{service="Rspamd"}'))[0]?.value[1]).toBe("100");
    expect(
      Number((await query('mailstack_mailcow_certificate_expiry_timestamp_seconds{file="cert.pem"}'))[0]?.value[1]),
    ).toBe(Date.UTC(2025, 1, 1) / 1000);
    expect((await query("postfix_up"))[0]?.value[1]).toBe("1");
    // A fresh backup and running containers: none of their alerts.
    const names = (await alerts()).map((a) => a.labels.alertname);
    for (const quiet of ["MailBackupStale", "MailBackupFailed", "MailContainerDown", "MailPostfixDown"])
      expect(names, quiet).not.toContain(quiet);
  });

  it("mails MailCertificateExpiring for the expired certificate the HTTPS endpoint serves", async () => {
    const mail = await mailFor("MailCertificateExpiring");
    expect(mail).toMatch(/^To: ops@example\.org/m);
    expect(mail).toContain(`The certificate of https on https://127.0.0.1:`);
    expect(mail).toContain("has expired");
    expect(mail).toContain("severity critical");
    // The probe itself succeeds: the expiry is reported, not hidden behind a failed handshake.
    expect((await query("probe_success"))[0]?.value[1]).toBe("1");
  });

  it("mails MailPostfixDown when Postfix stops", async () => {
    await stopMailHostPostfix();
    const mail = await mailFor("MailPostfixDown");
    expect(mail).toContain(`Postfix on ${HOST} does not answer on its queue socket`);
    expect(mail).toContain("up -d postfix-mailcow");
  });

  it("mails MailContainerDown when a mailcow container has exited", async () => {
    const tsv = readFileSync(join(fixtures, "containers.tsv"), "utf8");
    writeFileSync(
      join(fixtures, "containers.tsv"),
      tsv.replace("rspamd-mailcow\trunning\tUp 3 hours", "rspamd-mailcow\texited\tExited (137) 1 minute ago"),
    );
    await collect();
    const mail = await mailFor("MailContainerDown");
    expect(mail).toContain(`mailcow's rspamd-mailcow is not running on ${HOST}`);
  });

  it("mails MailBackupStale when the last good backup is 30 hours old", async () => {
    writeBackupStatus(now() - 30 * 3600);
    // Monitoring has watched the backup for longer than the period (else a new setup would alert).
    writeFileSync(join(paths.stateDir, "backup-monitored-since"), `${now() - 40 * 3600}\n`);
    await collect();
    const mail = await mailFor("MailBackupStale");
    expect(mail).toContain(`The last good offsite backup of ${HOST} is 30 hours old`);
    expect(mail).toContain("sudo systemctl start mailstack-backup.service");
  });
});
