// The application-level backup of the mail host (pure renderers): mailcow's own
// backup_and_restore.sh into a local staging directory, plus what it misses (the DANE key in
// data/assets/ssl, data/conf, mailcow.conf), pushed with restic to an off-site repository,
// with retention, periodic `restic check`, a status file and failure mail. The restore tool
// puts a snapshot back into a fresh mailcow without questions. Every script passes shellcheck
// and is exercised against a real restic repository in test/backup-lab.test.ts.
import type { HostScript, InstalledFile } from "./host-scripts";
import { b64, renderScript, shellQuote } from "./shell";
import { MAILCOW_DIR } from "./mailcow";

export interface Retention {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
}

/** Where the tools keep their state; the defaults are the mail host's, tests point them elsewhere. */
export interface BackupPaths {
  readonly mailcowDir: string;
  /** Local staging area for mailcow's archives (0700; emptied after every run). */
  readonly stagingDir: string;
  readonly statusFile: string;
  readonly lockFile: string;
  readonly cacheDir: string;
  readonly passwordFile: string;
  readonly credentialsFile: string;
  /** The PBS encryption key file (with a PBS backup), kept in every off-site snapshot. */
  readonly pbsKeyFile: string;
  /** mailcow's backup_and_restore.sh (tests substitute a stand-in that needs no Docker). */
  readonly mailcowBackupScript: string;
}

export const BACKUP_PATHS: BackupPaths = {
  mailcowDir: MAILCOW_DIR,
  stagingDir: "/var/backups/mailstack",
  statusFile: "/var/lib/mailstack/backup.status",
  lockFile: "/run/lock/mailstack-backup.lock",
  cacheDir: "/var/cache/mailstack/restic",
  passwordFile: "/etc/mailstack/restic-password",
  credentialsFile: "/etc/mailstack/backup-credentials.env",
  pbsKeyFile: "/etc/mailstack/pbs-encryption-key.json",
  mailcowBackupScript: `${MAILCOW_DIR}/helper-scripts/backup_and_restore.sh`,
};

export const BACKUP_CONFIG_FILE = "/etc/mailstack/backup.conf";
export const BIN_DIR = "/usr/local/sbin";

/** The archives mailcow's `backup all` writes (backup_<name>.tar.gz or .tar.zst). */
export const MAILCOW_DATASETS = ["vmail", "crypt", "redis", "rspamd", "postfix", "mariadb"] as const;

export interface OffsiteBackupInput {
  /** restic repository, e.g. s3:https://s3.example.com/bucket/mailcow. */
  readonly repository: string;
  /** The snapshots' host name (the mail host's FQDN): retention and `latest` are scoped to it. */
  readonly host: string;
  readonly retention: Retention;
  /** systemd calendar expressions (local time of the VM). */
  readonly schedule: string;
  readonly checkSchedule: string;
  /** Share of the pack files `restic check` reads and verifies on each run, e.g. "5%". */
  readonly checkSubset: string;
  /** The status check fails when the last successful backup is older than this. */
  readonly maxAgeHours: number;
  readonly notifyEmail?: string;
  /** SMTP relay for failure mail; mailcow's Postfix on the host by default. */
  readonly notifySmtpUrl: string;
  /** Sender of failure mail: an address of a hosted domain, so SPF, DKIM and DMARC align. */
  readonly notifyFrom: string;
  readonly paths: BackupPaths;
}

export interface BackupSecrets {
  readonly resticPassword: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The PBS key file (when the VM is also backed up to PBS): a lost node's backups need it. */
  readonly pbsEncryptionKey?: string;
}

function assignments(values: readonly (readonly [string, string])[]): string {
  return values.map(([name, value]) => `${name}=${shellQuote(value)}`).join("\n");
}

/** /etc/mailstack/backup.conf: the tools' settings, no secrets (those live in the files it names). */
export function backupConf(input: OffsiteBackupInput): string {
  const p = input.paths;
  return `# mailstack: settings of mailstack-backup and mailstack-restore (rendered by the stack).
# Secrets are in RESTIC_PASSWORD_FILE and CREDENTIALS_FILE (root only).
${assignments([
  ["MAILCOW_DIR", p.mailcowDir],
  ["MAILCOW_BACKUP_SCRIPT", p.mailcowBackupScript],
  ["STAGING_DIR", p.stagingDir],
  ["EXPECTED_DATASETS", MAILCOW_DATASETS.join(" ")],
  ["RESTIC_REPOSITORY", input.repository],
  ["RESTIC_PASSWORD_FILE", p.passwordFile],
  ["RESTIC_CACHE_DIR", p.cacheDir],
  ["CREDENTIALS_FILE", p.credentialsFile],
  ["PBS_KEY_FILE", p.pbsKeyFile],
  ["BACKUP_HOST", input.host],
  ["KEEP_DAILY", String(input.retention.daily)],
  ["KEEP_WEEKLY", String(input.retention.weekly)],
  ["KEEP_MONTHLY", String(input.retention.monthly)],
  ["KEEP_YEARLY", String(input.retention.yearly)],
  ["CHECK_SUBSET", input.checkSubset],
  ["MAX_AGE_HOURS", String(input.maxAgeHours)],
  ["STATUS_FILE", p.statusFile],
  ["LOCK_FILE", p.lockFile],
  ["NOTIFY_EMAIL", input.notifyEmail ?? ""],
  ["NOTIFY_SMTP_URL", input.notifySmtpUrl],
  ["NOTIFY_FROM", input.notifyFrom],
])}
`;
}

/** The secret files: restic's repository password and the S3 credentials. */
export function backupSecretFiles(input: OffsiteBackupInput, secrets: BackupSecrets): InstalledFile[] {
  return [
    { path: input.paths.passwordFile, mode: "0600", content: `${secrets.resticPassword}\n` },
    {
      path: input.paths.credentialsFile,
      mode: "0600",
      content: `${assignments([
        ["AWS_ACCESS_KEY_ID", secrets.accessKeyId],
        ["AWS_SECRET_ACCESS_KEY", secrets.secretAccessKey],
      ])}\n`,
    },
    ...(secrets.pbsEncryptionKey
      ? [{ path: input.paths.pbsKeyFile, mode: "0600", content: `${secrets.pbsEncryptionKey.trim()}\n` }]
      : []),
  ];
}

// ---- the tools ----------------------------------------------------------------------------------

/** mailstack-backup (render/scripts/mailstack-backup.sh): backup, check, init, status. */
export function backupTool(): string {
  return renderScript("mailstack-backup", { BACKUP_CONFIG_DEFAULT: BACKUP_CONFIG_FILE }, "backup");
}

/** mailstack-restore (render/scripts/mailstack-restore.sh): list, rehearse, apply. */
export function restoreTool(): string {
  return renderScript("mailstack-restore", { BACKUP_CONFIG_DEFAULT: BACKUP_CONFIG_FILE }, "backup");
}

// ---- systemd ----------------------------------------------------------------------------------

export interface Unit {
  readonly name: string;
  readonly content: string;
}

export function backupUnits(input: OffsiteBackupInput, binDir = BIN_DIR): Unit[] {
  const service = (mode: "run" | "check", description: string, timeout: string): string => `[Unit]
Description=${description}
Documentation=file://${binDir}/mailstack-backup
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
ExecStart=${binDir}/mailstack-backup ${mode}
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
TimeoutStartSec=${timeout}
PrivateTmp=yes
`;
  const timer = (description: string, calendar: string): string => `[Unit]
Description=${description}

[Timer]
OnCalendar=${calendar}
RandomizedDelaySec=10min
Persistent=true

[Install]
WantedBy=timers.target
`;
  return [
    {
      name: "mailstack-backup.service",
      content: service("run", "mailstack: mailcow backup to the off-site restic repository", "6h"),
    },
    { name: "mailstack-backup.timer", content: timer("mailstack: nightly off-site mailcow backup", input.schedule) },
    {
      name: "mailstack-backup-check.service",
      content: service("check", "mailstack: integrity check of the off-site restic repository", "12h"),
    },
    {
      name: "mailstack-backup-check.timer",
      content: timer("mailstack: periodic check of the off-site backup repository", input.checkSchedule),
    },
  ];
}

// ---- install scripts -----------------------------------------------------------------------------

/** Every non-secret file the VM receives for the off-site backup, with its mode. */
export function backupFiles(input: OffsiteBackupInput): InstalledFile[] {
  return [
    { path: `${BIN_DIR}/mailstack-backup`, mode: "0755", content: backupTool() },
    { path: `${BIN_DIR}/mailstack-restore`, mode: "0755", content: restoreTool() },
    { path: BACKUP_CONFIG_FILE, mode: "0644", content: backupConf(input) },
    ...backupUnits(input).map((unit) => ({
      path: `/etc/systemd/system/${unit.name}`,
      mode: "0644",
      content: unit.content,
    })),
  ];
}

/** The files a script installs, as its PATHS/MODES/CONTENTS_B64 settings (parallel arrays; also the scheduled verify). */
export function fileSettings(files: readonly InstalledFile[]): Record<"PATHS" | "MODES" | "CONTENTS_B64", string[]> {
  return {
    PATHS: files.map((file) => file.path),
    MODES: files.map((file) => file.mode),
    CONTENTS_B64: files.map((file) => b64(file.content)),
  };
}

/** Installs the secret files (travels as a secret on SSH stdin). */
export function backupSecretsScript(input: OffsiteBackupInput, secrets: BackupSecrets): HostScript {
  const files = backupSecretFiles(input, secrets);
  return {
    name: "backup-secrets",
    content: renderScript(
      "backup-secrets",
      {
        SECRETS_DIR: "/etc/mailstack",
        ...fileSettings(files),
      },
      "host",
    ),
    files,
  };
}

/** Installs restic, the tools, the settings and the timers; creates the repository and proves access. */
export function backupInstallScript(input: OffsiteBackupInput): HostScript {
  const files = backupFiles(input);
  return {
    name: "backup-install",
    content: renderScript(
      "backup-install",
      {
        CONFIG_DIR: "/etc/mailstack",
        ...fileSettings(files),
        TIMERS: ["mailstack-backup.timer", "mailstack-backup-check.timer"],
        BACKUP_TOOL: `${BIN_DIR}/mailstack-backup`,
      },
      "host",
    ),
    files,
  };
}
