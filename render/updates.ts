// Updates on the mail host (pure renderers): Debian's security updates and, from Docker's own
// repository, Docker Engine and its compose plugin, installed by unattended-upgrades inside the
// maintenance window and never while a backup runs (the backup's lock); a reboot in the window when
// an update needs one (mailstack-maintenance-reboot); and the daily mailcow release check
// (mailstack-mailcow-update), which notifies and, in "upgrade" mode, upgrades through the pinned
// upgrade path after a fresh backup. Results go to node_exporter's textfile collector.
import { BACKUP_PATHS, BIN_DIR } from "./backup";
import { SCRIPT_PATH, type HostScript, type InstalledFile } from "./host-scripts";
import { MAILCOW_DIR } from "./mailcow";
import { b64, renderScript } from "./shell";

export interface UpdatesInput {
  readonly hostname: string;
  readonly window: { readonly start: string; readonly durationMinutes: number };
  readonly automaticReboot: boolean;
  /** Docker Engine and the compose plugin from Docker's repository, in the window. */
  readonly docker: boolean;
  readonly mailcow: "notify" | "upgrade";
  readonly mailcowCheckSchedule: string;
  readonly mailcowRepository: string;
  /** The release the stack pins (mailstack:mailcow.version). */
  readonly pinnedTag: string;
  readonly notifyEmail: string;
  readonly notifyFrom: string;
}

/** node_exporter's textfile collector directory (Debian's prometheus-node-exporter default). */
export const TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";
export const MAILCOW_METRICS_FILE = `${TEXTFILE_DIR}/mailstack_mailcow.prom`;
/** The record of an unattended mailcow upgrade (mailcow-release.sh reads it). */
export const UNATTENDED_STATE = "/var/lib/mailstack/mailcow-unattended-upgrade";
const NOTIFIED_STATE = "/var/lib/mailstack/mailcow-release-notified";
const REBOOT_TOOL = `${BIN_DIR}/mailstack-maintenance-reboot`;
const UPDATE_TOOL = `${BIN_DIR}/mailstack-mailcow-update`;

/**
 * Docker's repository as unattended-upgrades matches it: the Release file of
 * download.docker.com/linux/debian/dists/<codename> says "Origin: Docker", "Label: Docker CE".
 */
export const DOCKER_ORIGIN_PATTERN = "origin=Docker,label=Docker CE";

/** apt.conf.d/53mailstack-updates: Docker's repository beside Debian-Security; the reboot is ours. */
export function aptUpdatesConf(input: Pick<UpdatesInput, "docker">): string {
  return [
    "// mailstack: what unattended-upgrades installs besides Debian's security updates (52mailstack-…),",
    "// rendered by the stack. Reboots are mailstack-maintenance-reboot's (window, backup lock).",
    ...(input.docker ? ["Unattended-Upgrade::Origins-Pattern {", `        "${DOCKER_ORIGIN_PATTERN}";`, "};"] : []),
    'Unattended-Upgrade::Automatic-Reboot "false";',
    "",
  ].join("\n");
}

/** The window's time as systemd's calendar (every day at the window's start). */
const windowCalendar = (start: string) => `*-*-* ${start}:00`;

export interface UpdatePaths {
  readonly lockFile: string;
  readonly rebootRequiredFile: string;
  readonly mailcowDir: string;
  readonly backupTool: string;
  readonly releaseScript: string;
  readonly upScript: string;
  readonly metricsFile: string;
  readonly notifiedState: string;
  readonly unattendedState: string;
}

export const UPDATE_PATHS: UpdatePaths = {
  lockFile: BACKUP_PATHS.lockFile,
  rebootRequiredFile: "/var/run/reboot-required",
  mailcowDir: MAILCOW_DIR,
  backupTool: `${BIN_DIR}/mailstack-backup`,
  releaseScript: SCRIPT_PATH("mailcow-release"),
  upScript: SCRIPT_PATH("mailcow-up"),
  metricsFile: MAILCOW_METRICS_FILE,
  notifiedState: NOTIFIED_STATE,
  unattendedState: UNATTENDED_STATE,
};

export function rebootTool(input: UpdatesInput, paths: UpdatePaths = UPDATE_PATHS): string {
  return renderScript(
    "maintenance-reboot",
    {
      WINDOW_START: input.window.start,
      WINDOW_MINUTES: input.window.durationMinutes,
      AUTOMATIC_REBOOT: input.automaticReboot,
      LOCK_FILE: paths.lockFile,
      REBOOT_REQUIRED_FILE: paths.rebootRequiredFile,
    },
    "tool",
  );
}

export function mailcowUpdateTool(input: UpdatesInput, paths: UpdatePaths = UPDATE_PATHS): string {
  return renderScript(
    "mailcow-update",
    {
      MAILCOW_DIR: paths.mailcowDir,
      REPOSITORY: input.mailcowRepository,
      PINNED_TAG: input.pinnedTag,
      MODE: input.mailcow,
      BACKUP_TOOL: paths.backupTool,
      RELEASE_SCRIPT: paths.releaseScript,
      UP_SCRIPT: paths.upScript,
      METRICS_FILE: paths.metricsFile,
      STATE_FILE: paths.notifiedState,
      UNATTENDED_STATE: paths.unattendedState,
      NOTIFY_EMAIL: input.notifyEmail,
      NOTIFY_FROM: input.notifyFrom,
      NOTIFY_SMTP_URL: "smtp://127.0.0.1:25",
      HOST: input.hostname,
    },
    "tool",
  );
}

export type HostFile = InstalledFile;

/** Every file the updates step installs. */
export function updateFiles(input: UpdatesInput, paths: UpdatePaths = UPDATE_PATHS): HostFile[] {
  const unit = (name: string, content: string): HostFile => ({
    path: `/etc/systemd/system/${name}`,
    mode: "0644",
    content,
  });
  return [
    { path: "/etc/apt/apt.conf.d/53mailstack-updates", mode: "0644", content: aptUpdatesConf(input) },
    unit(
      "apt-daily-upgrade.timer.d/mailstack.conf",
      [
        "# mailstack: unattended upgrades at the start of the maintenance window (mailstack:updates.window).",
        "[Timer]",
        "OnCalendar=",
        `OnCalendar=${windowCalendar(input.window.start)}`,
        "RandomizedDelaySec=5min",
        "Persistent=false",
        "",
      ].join("\n"),
    ),
    unit(
      "apt-daily-upgrade.service.d/mailstack.conf",
      [
        "# mailstack: fresh package lists, then the upgrades once no backup runs (its lock), then the",
        "# reboot check. A Docker Engine upgrade restarts mailcow's containers: inside the window only.",
        "[Service]",
        "ExecStartPre=/usr/lib/apt/apt.systemd.daily update",
        "ExecStart=",
        `ExecStart=/usr/bin/flock --wait 3600 ${paths.lockFile} /usr/lib/apt/apt.systemd.daily install`,
        `ExecStartPost=-${REBOOT_TOOL}`,
        "",
      ].join("\n"),
    ),
    { path: REBOOT_TOOL, mode: "0755", content: rebootTool(input, paths) },
    unit(
      "mailstack-maintenance-reboot.service",
      [
        "[Unit]",
        "Description=mailstack: reboot for updates inside the maintenance window, never during a backup",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${REBOOT_TOOL}`,
        "",
      ].join("\n"),
    ),
    unit(
      "mailstack-maintenance-reboot.timer",
      [
        "[Unit]",
        "Description=mailstack: reboot checks every 15 minutes (the tool acts only inside the window)",
        "",
        "[Timer]",
        "OnCalendar=*-*-* *:00/15:00",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
      ].join("\n"),
    ),
    { path: UPDATE_TOOL, mode: "0755", content: mailcowUpdateTool(input, paths) },
    unit(
      "mailstack-mailcow-update.service",
      [
        "[Unit]",
        `Description=mailstack: mailcow release check (${input.mailcow === "upgrade" ? "upgrades after a fresh backup" : "notifies"})`,
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${UPDATE_TOOL}`,
        "TimeoutStartSec=6h",
        "",
      ].join("\n"),
    ),
    unit(
      "mailstack-mailcow-update.timer",
      [
        "[Unit]",
        "Description=mailstack: daily mailcow release check",
        "",
        "[Timer]",
        `OnCalendar=${input.mailcowCheckSchedule}`,
        "RandomizedDelaySec=15min",
        "Persistent=true",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
      ].join("\n"),
    ),
  ];
}

/** Renders host-files.sh for a step: its files, the timers it enables, files it removes. */
export function hostFilesScript(
  step: string,
  files: readonly HostFile[],
  options: { readonly timers?: readonly string[]; readonly remove?: readonly string[] } = {},
): HostScript {
  return {
    name: step,
    files,
    content: renderScript(
      "host-files",
      {
        STEP: step,
        FILE_PATHS: files.map((file) => file.path),
        FILE_MODES: files.map((file) => file.mode),
        FILE_B64: files.map((file) => b64(file.content)),
        TIMERS: options.timers ?? [],
        REMOVE_PATHS: options.remove ?? [],
      },
      "host",
    ),
  };
}

/** The bring-up step "updates". */
export function updatesScript(input: UpdatesInput): HostScript {
  return hostFilesScript("updates", updateFiles(input), {
    timers: ["mailstack-maintenance-reboot.timer", "mailstack-mailcow-update.timer"],
  });
}
