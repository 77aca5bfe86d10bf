// The mail host's day-2 tools as rendered, run for real: the maintenance reboot (window, backup
// lock, dry run), the updates step's units (systemd-analyze) and apt settings (apt-config), the
// release check's metrics read by node_exporter's textfile collector, and mailstack-report's
// redaction with stand-ins for docker, cscli and journalctl.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { incidentReportTool } from "../render/report";
import {
  aptUpdatesConf,
  DOCKER_ORIGIN_PATTERN,
  mailcowUpdateTool,
  rebootTool,
  updateFiles,
  UPDATE_PATHS,
} from "../render/updates";
import { DAY2_HOST_INPUT } from "./fixtures";
import { Daemon, freePort, waitFor } from "./lab";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-day2-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const UPDATES = {
  ...DAY2_HOST_INPUT.updates,
  hostname: "mail.example.org",
  mailcowRepository: "x",
  pinnedTag: "2026-07a",
};

describe("mailstack-maintenance-reboot", () => {
  const paths = {
    ...UPDATE_PATHS,
    lockFile: join(dir, "backup.lock"),
    rebootRequiredFile: join(dir, "reboot-required"),
  };
  const tool = join(dir, "mailstack-maintenance-reboot");
  writeFileSync(tool, rebootTool(UPDATES, paths), { mode: 0o755 });
  const at = (time: string) => run(tool, ["--dry-run"], { env: { ...process.env, MAILSTACK_NOW: time } });

  it("does nothing when no update needs a reboot", async () => {
    rmSync(paths.rebootRequiredFile, { force: true });
    expect((await at("04:10")).stdout).toContain("no reboot needed");
  });

  it("reboots only inside the window and never while a backup holds the lock", async () => {
    writeFileSync(paths.rebootRequiredFile, "*** System restart required ***\n");
    writeFileSync(`${paths.rebootRequiredFile}.pkgs`, "linux-image-amd64\nlibc6\n");
    expect((await at("03:59")).stdout).toContain("waiting for the window at 04:00");
    expect((await at("05:30")).stdout).toContain("waiting for the window at 04:00");
    expect((await at("04:00")).stdout).toContain("dry run: would reboot now for linux-image-amd64 libc6");
    // A running backup (mailstack-backup holds its lock with flock for the whole run).
    requireTool("flock");
    const holder = spawn("flock", ["--close", paths.lockFile, "sleep", "600"], { stdio: "ignore" });
    try {
      await waitFor("the backup lock", async () =>
        (await run("flock", ["-n", paths.lockFile, "true"])).status !== 0 ? true : undefined,
      );
      const during = await at("04:20");
      expect(during.status).toBe(0);
      expect(during.stdout).toContain("a backup holds");
      expect(during.stdout).not.toContain("would reboot");
    } finally {
      holder.kill("SIGKILL");
    }
    expect((await at("05:29")).stdout).toContain("would reboot now");
  });

  it("never reboots when automatic reboots are off", async () => {
    const off = join(dir, "reboot-off");
    writeFileSync(off, rebootTool({ ...UPDATES, automaticReboot: false }, paths), { mode: 0o755 });
    const result = await run(off, ["--dry-run"], { env: { ...process.env, MAILSTACK_NOW: "04:10" } });
    expect(result.stdout).toContain("automatic reboots are off");
  });
});

describe("the updates step", () => {
  it("installs valid systemd units: the window's upgrades wait for the backup lock, then the reboot check", async () => {
    requireTool("systemd-analyze");
    const root = join(dir, "units");
    const files = updateFiles(UPDATES);
    const units = files.filter((file) => /^\/etc\/systemd\/system\/[^/]+\.(service|timer)$/.test(file.path));
    const tools = files.filter((file) => file.path.startsWith("/usr/local/sbin/"));
    mkdirSync(root, { recursive: true });
    const paths = units.map((unit) => {
      const path = join(root, unit.path.split("/").pop() ?? "");
      // The units name the tools at their host paths: verify against copies at those names here.
      let content = unit.content;
      for (const tool of tools) content = content.replaceAll(tool.path, join(root, tool.path.split("/").pop() ?? ""));
      writeFileSync(path, content);
      return path;
    });
    for (const tool of tools) {
      writeFileSync(join(root, tool.path.split("/").pop() ?? ""), tool.content);
      chmodSync(join(root, tool.path.split("/").pop() ?? ""), 0o755);
    }
    const result = await run("systemd-analyze", ["verify", "--man=no", ...paths]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const upgrade = files.find((file) => file.path.endsWith("apt-daily-upgrade.service.d/mailstack.conf"))?.content;
    expect(upgrade).toContain(
      `ExecStart=/usr/bin/flock --wait 3600 ${UPDATE_PATHS.lockFile} /usr/lib/apt/apt.systemd.daily install`,
    );
    expect(upgrade).toContain("ExecStartPost=-/usr/local/sbin/mailstack-maintenance-reboot");
    expect(files.find((file) => file.path.endsWith("apt-daily-upgrade.timer.d/mailstack.conf"))?.content).toContain(
      "OnCalendar=*-*-* 04:00:00",
    );
  });

  it("adds Docker's repository to what unattended-upgrades installs, as apt reads it", async () => {
    requireTool("apt-config");
    const conf = join(dir, "53mailstack-updates");
    writeFileSync(conf, aptUpdatesConf({ docker: true }));
    const dump = await runOk("apt-config", ["-c", conf, "dump", "Unattended-Upgrade"]);
    expect(dump).toContain(`Unattended-Upgrade::Origins-Pattern:: "${DOCKER_ORIGIN_PATTERN}";`);
    expect(dump).toContain('Unattended-Upgrade::Automatic-Reboot "false";');
    writeFileSync(conf, aptUpdatesConf({ docker: false }));
    expect(await runOk("apt-config", ["-c", conf, "dump", "Unattended-Upgrade"])).not.toContain("Docker");
  });

  it("matches Docker's origin with unattended-upgrades' own matcher", async () => {
    requireTool("unattended-upgrade");
    // Debian's python3, which has the apt bindings unattended-upgrades imports.
    requireTool("/usr/bin/python3");
    const program = [
      "import importlib.machinery, importlib.util, sys",
      "loader = importlib.machinery.SourceFileLoader('uu', '/usr/bin/unattended-upgrade')",
      "spec = importlib.util.spec_from_loader('uu', loader); uu = importlib.util.module_from_spec(spec); loader.exec_module(uu)",
      "class O: pass",
      "def origin(o, l, c):",
      "  x = O(); x.origin = o; x.label = l; x.codename = c; x.archive = c; x.site = 'download.docker.com'; x.component = 'stable'; return x",
      "print(uu.match_whitelist_string(sys.argv[1], origin('Docker', 'Docker CE', 'trixie')), uu.match_whitelist_string(sys.argv[1], origin('Debian', 'Debian', 'trixie')))",
    ].join("\n");
    expect((await runOk("/usr/bin/python3", ["-c", program, DOCKER_ORIGIN_PATTERN])).trim()).toBe("True False");
  });
});

describe("the release check's metrics", () => {
  it("are read by node_exporter's textfile collector without errors", async () => {
    requireTool("prometheus-node-exporter");
    const textfiles = join(dir, "textfile");
    mkdirSync(textfiles, { recursive: true });
    // The tool's writer, on its own: its metric block with a repository it cannot read.
    const tool = join(dir, "mailcow-update");
    writeFileSync(
      tool,
      mailcowUpdateTool(
        { ...UPDATES, mailcowRepository: join(dir, "no-repository"), notifyEmail: "" },
        { ...UPDATE_PATHS, mailcowDir: dir, metricsFile: join(textfiles, "mailstack_mailcow.prom") },
      ),
      { mode: 0o755 },
    );
    expect((await run(tool, [])).status).toBe(1);
    const port = await freePort();
    const exporter = Daemon.start(
      "node-exporter",
      "prometheus-node-exporter",
      [
        "--collector.disable-defaults",
        "--collector.textfile",
        `--collector.textfile.directory=${textfiles}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      dir,
    );
    try {
      const metrics = await waitFor("node_exporter", async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        return response.ok ? response.text() : undefined;
      });
      expect(metrics).toMatch(/^node_textfile_scrape_error 0$/m);
      expect(metrics).toMatch(/^mailstack_mailcow_update_check_success 0$/m);
      expect(metrics).toMatch(/^mailstack_mailcow_update_available 0$/m);
      expect(metrics).toMatch(/^mailstack_mailcow_release_info\{latest="",running="2026-07a"\} 1$/m);
      expect(metrics).toMatch(/^mailstack_mailcow_upgrade_blocked 0$/m);
    } finally {
      await exporter.stop();
    }
  });
});

describe("mailstack-report", () => {
  it("collects what a responder needs first and prints no secret", async () => {
    const bin = join(dir, "report-bin");
    mkdirSync(bin, { recursive: true });
    const stub = (name: string, body: string) =>
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    stub(
      "docker",
      [
        'case "$*" in',
        '  *"compose ps"*) echo "SERVICE STATE STATUS"; echo "postfix-mailcow running Up 2 hours" ;;',
        '  *"compose exec"*) echo "-- 3 Kbytes in 2 Requests." ;;',
        '  *"compose logs"*) echo "dovecot-mailcow-1 | auth failed, 1 attempts in 2 secs: user=<bob@example.org>, rip=203.0.113.9, password=hunter2"; echo "postfix-mailcow-1 | connect from x" ;;',
        '  *"compose version"*) echo 2.29.1 ;;',
        "  version*) echo 27.3.1 ;;",
        "esac",
      ].join("\n"),
    );
    stub("cscli", 'echo "ban 203.0.113.9 crowdsecurity/postfix-spam api_key: abcdef123"');
    stub("journalctl", 'echo "sshd[1]: Failed password for invalid user admin from 198.51.100.7 port 4711 ssh2"');
    const backup = join(bin, "mailstack-backup");
    stub(
      "mailstack-backup",
      'echo "backup_last_result=success"; echo "-----BEGIN PRIVATE KEY-----"; echo "MIIE"; echo "-----END PRIVATE KEY-----"',
    );
    const tool = join(dir, "mailstack-report");
    writeFileSync(
      tool,
      incidentReportTool({ mailcowDir: dir, backupTool: backup, updateMetrics: join(dir, "none.prom") }),
      {
        mode: 0o755,
      },
    );
    const output = join(dir, "report.txt");
    const result = await run(tool, ["--output", output], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
    });
    expect(result.status, result.stderr).toBe(0);
    const report = readFileSync(output, "utf8");
    for (const part of [
      "versions",
      "containers",
      "mail queue",
      "mail authentication failures",
      "CrowdSec decisions",
      "last backup",
    ])
      expect(report).toContain(`==== ${part}`);
    expect(report).toContain("docker: 27.3.1");
    expect(report).toContain("postfix-mailcow running");
    expect(report).toContain(
      "auth failed, 1 attempts in 2 secs: user=<bob@example.org>, rip=203.0.113.9, password=[redacted]",
    );
    expect(report).toContain("Failed password for invalid user admin from 198.51.100.7");
    expect(report).toContain("api_key: [redacted]");
    expect(report).toContain("[redacted private key]");
    for (const secret of ["hunter2", "abcdef123", "MIIE"]) expect(report).not.toContain(secret);
  });
});
