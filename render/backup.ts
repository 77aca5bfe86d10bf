// The application-level backup of the mail host (pure renderers): mailcow's own
// backup_and_restore.sh into a local staging directory, plus what it misses (the DANE key in
// data/assets/ssl, data/conf, mailcow.conf), pushed with restic to an off-site repository,
// with retention, periodic `restic check`, a status file and failure mail. The restore tool
// puts a snapshot back into a fresh mailcow without questions. Every script passes shellcheck
// and is exercised against a real restic repository in test/backup-lab.test.ts.
import { fileStep, script, type HostScript } from "./host-scripts";
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

/** A single-quoted shell word. */
export function shellQuote(value: string): string {
  if (value.includes("\n") || value.includes("\0")) throw new Error(`value must be one line: ${value}`);
  return `'${value.replace(/'/g, `'\\''`)}'`;
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
export function backupSecretFiles(
  input: OffsiteBackupInput,
  secrets: BackupSecrets,
): { path: string; mode: string; content: string }[] {
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

// ---- shared shell ------------------------------------------------------------------------------

/** Loads backup.conf and the credentials, exports what restic reads. `$TOOL` names the caller. */
const LOAD_CONFIG = `readonly CONFIG_FILE=\${MAILSTACK_BACKUP_CONFIG:-${BACKUP_CONFIG_FILE}}
if [ ! -r "$CONFIG_FILE" ]; then
  echo "$TOOL: cannot read $CONFIG_FILE (installed by the stack's BackupJob)" >&2
  exit 2
fi
# shellcheck source=/dev/null
. "$CONFIG_FILE"
for setting in MAILCOW_DIR STAGING_DIR RESTIC_REPOSITORY RESTIC_PASSWORD_FILE BACKUP_HOST STATUS_FILE LOCK_FILE; do
  if [ -z "\${!setting:-}" ]; then
    echo "$TOOL: $setting is not set in $CONFIG_FILE" >&2
    exit 2
  fi
done
if [ -n "\${CREDENTIALS_FILE:-}" ] && [ -e "$CREDENTIALS_FILE" ]; then
  set -a
  # shellcheck source=/dev/null
  . "$CREDENTIALS_FILE"
  set +a
fi
export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
if [ -n "\${RESTIC_CACHE_DIR:-}" ]; then export RESTIC_CACHE_DIR; fi
if [ ! -r "$RESTIC_PASSWORD_FILE" ]; then
  echo "$TOOL: cannot read the repository password file $RESTIC_PASSWORD_FILE" >&2
  exit 2
fi`;

/** verify_mailcow_backup DIR: every dataset archive is present and readable, mailcow.conf is there. */
const VERIFY_MAILCOW_BACKUP = `verify_mailcow_backup() {
  local dir=$1 dataset archive
  [ -f "$dir/mailcow.conf" ] || die "$dir has no mailcow.conf"
  for dataset in $EXPECTED_DATASETS; do
    archive=$(find "$dir" -maxdepth 1 -type f -name "backup_$dataset.tar.*" -print -quit)
    [ -n "$archive" ] || die "$dir has no $dataset archive (backup_$dataset.tar.*)"
    tar -tf "$archive" >/dev/null || die "$archive is not a readable archive"
  done
}`;

/** Sets RUN_DIR to the one mailcow-<date> directory below $1 (mailcow's restore expects exactly one). */
const FIND_MAILCOW_BACKUP = `find_mailcow_backup() {
  local count
  count=$(find "$1" -type d -name 'mailcow-[0-9]*' -prune -print | grep -c . || true)
  [ "$count" -eq 1 ] || die "expected one mailcow backup directory below $1, found $count"
  RUN_DIR=$(find "$1" -type d -name 'mailcow-[0-9]*' -prune -print)
}`;

// ---- mailstack-backup ---------------------------------------------------------------------------

export function backupTool(): string {
  return `#!/bin/bash
# mailstack-backup: mailcow's backup plus data/assets/ssl, data/conf and mailcow.conf, pushed with
# restic to the off-site repository; retention, repository checks, a status file for monitoring.
#
#   mailstack-backup [run]   back up now (the nightly timer)
#   mailstack-backup check   restic check, reading CHECK_SUBSET of the data (the weekly timer)
#   mailstack-backup init    create the repository if it does not exist and prove access
#   mailstack-backup status  print the status; exit 1 when the last backup failed or is too old
#
# Settings: ${BACKUP_CONFIG_FILE} (MAILSTACK_BACKUP_CONFIG overrides the path).
# MAILSTACK_BACKUP_TIME="YYYY-MM-DD HH:MM:SS" sets the snapshot time (rehearsals, imports).
set -Eeuo pipefail
umask 077
readonly TOOL=mailstack-backup
readonly MODE=\${1:-run}
case "$MODE" in
  run | check | init | status) ;;
  *)
    echo "usage: $TOOL [run|check|init|status]" >&2
    exit 2
    ;;
esac
${LOAD_CONFIG}

STEP="starting"
log() { echo "$TOOL: $*"; }

# status_set key=value...: replaces those keys in the status file, atomically.
status_set() {
  local dir tmp pair keys=()
  dir=$(dirname "$STATUS_FILE")
  install -d -m 0755 "$dir"
  tmp=$(mktemp "$dir/.status.XXXXXX")
  for pair in "$@"; do keys+=("\${pair%%=*}"); done
  if [ -f "$STATUS_FILE" ]; then
    grep -v -E "^($(IFS='|'; echo "\${keys[*]}"))=" "$STATUS_FILE" >"$tmp" || true
  fi
  for pair in "$@"; do printf '%s\\n' "\${pair//$'\\n'/ }" >>"$tmp"; done
  chmod 0644 "$tmp"
  mv -f "$tmp" "$STATUS_FILE"
}

status_get() {
  if [ -f "$STATUS_FILE" ]; then sed -n "s/^$1=//p" "$STATUS_FILE" | tail -n 1; fi
}

notify() {
  [ -n "\${NOTIFY_EMAIL:-}" ] || return 0
  local subject="[mailstack] $BACKUP_HOST: $1"
  if ! printf 'From: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\nDate: %s\\r\\nAuto-Submitted: auto-generated\\r\\nContent-Type: text/plain; charset=utf-8\\r\\n\\r\\n%s\\r\\n\\r\\nDetails: journalctl -u mailstack-backup.service -u mailstack-backup-check.service\\r\\n' \\
    "$NOTIFY_FROM" "$NOTIFY_EMAIL" "$subject" "$(date -R)" "$2" |
    curl --silent --show-error --max-time 60 --url "$NOTIFY_SMTP_URL" \\
      --mail-from "$NOTIFY_FROM" --mail-rcpt "$NOTIFY_EMAIL" --upload-file -; then
    echo "$TOOL: could not send the failure mail to $NOTIFY_EMAIL via $NOTIFY_SMTP_URL" >&2
  fi
}

# Any failing command ends the run here: journal, status file, mail, exit 1.
on_failure() {
  local code=$1 detail=$2
  trap - ERR
  # In a subshell: report and leave; the main shell records the failure once.
  if [ "$BASH_SUBSHELL" -gt 0 ]; then
    echo "$TOOL: $detail" >&2
    exit "$code"
  fi
  echo "$TOOL: FAILED while $STEP (exit $code): $detail" >&2
  local prefix=backup
  if [ "$MODE" = check ]; then prefix=check; fi
  status_set "\${prefix}_last_result=failure" "\${prefix}_last_run=$(date -Is)" "\${prefix}_last_error=$STEP: $detail" || true
  notify "backup $MODE FAILED" "mailstack-backup $MODE failed while $STEP (exit $code): $detail" || true
  exit 1
}
trap 'on_failure $? "$BASH_COMMAND"' ERR
die() { on_failure 1 "$*"; }

${VERIFY_MAILCOW_BACKUP}

${FIND_MAILCOW_BACKUP}

# The repository exists (it is created on first use) and the password and credentials open it.
ensure_repository() {
  local err
  STEP="opening $RESTIC_REPOSITORY"
  err=$(mktemp)
  if restic cat config >/dev/null 2>"$err"; then
    rm -f "$err"
    return 0
  fi
  if grep -qiE 'unable to open config file|Is there a repository at the following location' "$err"; then
    rm -f "$err"
    STEP="creating the repository $RESTIC_REPOSITORY"
    restic init
    return 0
  fi
  cat "$err" >&2
  rm -f "$err"
  die "cannot open $RESTIC_REPOSITORY: check the repository password and the S3 credentials"
}

lock() {
  exec 9>"$LOCK_FILE"
  STEP="waiting for another mailstack-backup (lock $LOCK_FILE)"
  flock -w 7200 9 || die "another mailstack-backup still holds $LOCK_FILE after two hours"
}

run_backup() {
  local started summary snapshot added paths=() keep=() time_args=()
  started=$(date +%s)
  STEP="preparing $STAGING_DIR"
  install -d -m 0700 "$STAGING_DIR"
  STAGE="$STAGING_DIR/mailcow"
  rm -rf "$STAGE"
  # mailcow's script wants its location readable by others (the path above it stays 0700).
  install -d -m 0755 "$STAGE"
  JSON_FILE=$(mktemp)
  trap 'rm -rf "$STAGE" "$JSON_FILE"' EXIT
  ensure_repository

  STEP="running mailcow's backup (backup_and_restore.sh backup all)"
  [ -x "$MAILCOW_BACKUP_SCRIPT" ] || die "$MAILCOW_BACKUP_SCRIPT is missing: is mailcow installed in $MAILCOW_DIR?"
  (cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$STAGE" THREADS="\${THREADS:-2}" "$MAILCOW_BACKUP_SCRIPT" backup all </dev/null)
  # mailcow's script does not fail when a container step fails: check what it wrote.
  STEP="checking mailcow's backup"
  find_mailcow_backup "$STAGE"
  verify_mailcow_backup "$RUN_DIR"
  {
    echo "host=$BACKUP_HOST"
    echo "created=$(date -Is)"
    echo "mailcow_dir=$MAILCOW_DIR"
    echo "mailcow_version=$(git -C "$MAILCOW_DIR" describe --tags --always 2>/dev/null || echo unknown)"
  } >"$RUN_DIR/mailstack-manifest"

  STEP="uploading to $RESTIC_REPOSITORY"
  paths=("$RUN_DIR" "$MAILCOW_DIR/mailcow.conf" "$MAILCOW_DIR/data/conf" "$MAILCOW_DIR/data/assets/ssl")
  if [ -f "$MAILCOW_DIR/docker-compose.override.yml" ]; then paths+=("$MAILCOW_DIR/docker-compose.override.yml"); fi
  # The PBS key: with it the VM backups on PBS can be restored on any node.
  if [ -n "\${PBS_KEY_FILE:-}" ] && [ -f "$PBS_KEY_FILE" ]; then paths+=("$PBS_KEY_FILE"); fi
  if [ -n "\${MAILSTACK_BACKUP_TIME:-}" ]; then time_args=(--time "$MAILSTACK_BACKUP_TIME"); fi
  restic backup --json --quiet --host "$BACKUP_HOST" --tag mailstack "\${time_args[@]}" "\${paths[@]}" >"$JSON_FILE"
  summary=$(grep '"message_type":"summary"' "$JSON_FILE" || true)
  snapshot=$(printf '%s' "$summary" | sed -n 's/.*"snapshot_id":"\\([0-9a-f]*\\)".*/\\1/p')
  added=$(printf '%s' "$summary" | sed -n 's/.*"data_added":\\([0-9]*\\).*/\\1/p')
  [ -n "$snapshot" ] || die "restic reported no snapshot"
  log "snapshot \${snapshot:0:8} saved, $added bytes added to the repository"

  STEP="applying retention"
  if [ "\${KEEP_DAILY:-0}" -gt 0 ]; then keep+=(--keep-daily "$KEEP_DAILY"); fi
  if [ "\${KEEP_WEEKLY:-0}" -gt 0 ]; then keep+=(--keep-weekly "$KEEP_WEEKLY"); fi
  if [ "\${KEEP_MONTHLY:-0}" -gt 0 ]; then keep+=(--keep-monthly "$KEEP_MONTHLY"); fi
  if [ "\${KEEP_YEARLY:-0}" -gt 0 ]; then keep+=(--keep-yearly "$KEEP_YEARLY"); fi
  [ "\${#keep[@]}" -gt 0 ] || die "no retention configured (KEEP_DAILY etc. in $CONFIG_FILE)"
  # Grouped by host and tag: the staging path carries a date, so the default (host,paths) would keep everything.
  restic forget --quiet --host "$BACKUP_HOST" --tag mailstack --group-by host,tags "\${keep[@]}" --prune

  status_set backup_last_result=success "backup_last_run=$(date -Is)" "backup_last_success=$(date -Is)" \\
    "backup_last_success_epoch=$(date +%s)" "backup_last_snapshot=$snapshot" "backup_last_added_bytes=$added" \\
    "backup_last_duration_seconds=$(($(date +%s) - started))" backup_last_error=
  log "backup of $BACKUP_HOST to $RESTIC_REPOSITORY done"
}

run_check() {
  ensure_repository
  STEP="checking the repository (reading \${CHECK_SUBSET:-5%} of the data)"
  restic check --read-data-subset="\${CHECK_SUBSET:-5%}"
  status_set check_last_result=success "check_last_run=$(date -Is)" "check_last_success=$(date -Is)" check_last_error=
  log "repository $RESTIC_REPOSITORY is sound"
}

show_status() {
  local last problems=()
  trap - ERR
  if [ -f "$STATUS_FILE" ]; then cat "$STATUS_FILE"; fi
  last=$(status_get backup_last_success_epoch)
  if [ -z "$last" ]; then
    problems+=("no successful backup recorded in $STATUS_FILE")
  elif [ $((($(date +%s) - last) / 3600)) -ge "\${MAX_AGE_HOURS:-26}" ]; then
    problems+=("the last successful backup is $((($(date +%s) - last) / 3600)) hours old")
  fi
  if [ "$(status_get backup_last_result)" = failure ]; then
    problems+=("the last backup failed: $(status_get backup_last_error)")
  fi
  if [ "$(status_get check_last_result)" = failure ]; then
    problems+=("the last repository check failed: $(status_get check_last_error)")
  fi
  if [ "\${#problems[@]}" -gt 0 ]; then
    printf "$TOOL: %s\\n" "\${problems[@]}" >&2
    exit 1
  fi
}

case "$MODE" in
  status) show_status ;;
  init)
    lock
    ensure_repository
    restic snapshots --quiet --host "$BACKUP_HOST" --tag mailstack >/dev/null
    log "repository $RESTIC_REPOSITORY is ready"
    ;;
  run)
    lock
    run_backup
    ;;
  check)
    lock
    run_check
    ;;
esac
`;
}

// ---- mailstack-restore ------------------------------------------------------------------------

export function restoreTool(): string {
  return `#!/bin/bash
# mailstack-restore: fetch a snapshot from the off-site repository, verify it, and (with --apply)
# put it into the running mailcow of this host without questions.
#
#   mailstack-restore --list
#   mailstack-restore [--snapshot ID|latest] [--target DIR]            restore and verify (rehearsal)
#   mailstack-restore [--snapshot ID|latest] [--target DIR] --apply    ... then restore into mailcow
#
# --apply is for a fresh mailcow deployed by the stack (same mailcow.conf secrets, same release):
# it copies data/assets/ssl and data/conf back and runs mailcow's restore of every dataset.
set -Eeuo pipefail
umask 077
readonly TOOL=mailstack-restore
snapshot=latest
target=""
apply=false
list=false
usage() {
  echo "usage: $TOOL [--list] [--snapshot ID|latest] [--target DIR] [--apply]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --snapshot)
      [ $# -ge 2 ] || usage
      snapshot=$2
      shift 2
      ;;
    --target)
      [ $# -ge 2 ] || usage
      target=$2
      shift 2
      ;;
    --apply)
      apply=true
      shift
      ;;
    --list)
      list=true
      shift
      ;;
    *) usage ;;
  esac
done
${LOAD_CONFIG}

die() {
  echo "$TOOL: $*" >&2
  exit 1
}
trap 'echo "$TOOL: FAILED: $BASH_COMMAND" >&2' ERR

${VERIFY_MAILCOW_BACKUP}

${FIND_MAILCOW_BACKUP}

if [ "$list" = true ]; then
  restic snapshots --host "$BACKUP_HOST" --tag mailstack
  exit 0
fi
[[ "$snapshot" =~ ^(latest|[0-9a-f]{8,64})$ ]] || die "--snapshot takes latest or a snapshot id (see --list)"
if [ -z "$target" ]; then target="/var/tmp/mailstack-restore-$snapshot"; fi
[[ "$target" = /* ]] || die "--target must be an absolute path"
if [ -e "$target" ] && [ -n "$(ls -A "$target")" ]; then die "$target is not empty; choose another --target"; fi
install -d -m 0700 "$target"

echo "$TOOL: restoring snapshot $snapshot of $BACKUP_HOST into $target"
restic restore "$snapshot" --host "$BACKUP_HOST" --tag mailstack --target "$target" --verify
find_mailcow_backup "$target"
run_dir=$RUN_DIR
verify_mailcow_backup "$run_dir"
backup_mailcow_dir=$(sed -n 's/^mailcow_dir=//p' "$run_dir/mailstack-manifest")
backup_version=$(sed -n 's/^mailcow_version=//p' "$run_dir/mailstack-manifest")
[ -n "$backup_mailcow_dir" ] || die "$run_dir/mailstack-manifest names no mailcow directory"
saved="$target$backup_mailcow_dir"
for part in mailcow.conf data/conf data/assets/ssl; do
  [ -e "$saved/$part" ] || die "the snapshot holds no $backup_mailcow_dir/$part"
done
echo "$TOOL: snapshot verified: mailcow backup $(basename "$run_dir") (mailcow $backup_version), datasets: $EXPECTED_DATASETS"
echo "$TOOL: mailcow archives in $run_dir, configuration in $saved"

if [ "$apply" != true ]; then
  echo "$TOOL: rehearsal complete; add --apply to restore into the mailcow in $MAILCOW_DIR"
  exit 0
fi

[ -f "$MAILCOW_DIR/mailcow.conf" ] || die "no mailcow in $MAILCOW_DIR: deploy the stack first (pulumi up), then restore"
live_version=$(git -C "$MAILCOW_DIR" describe --tags --always 2>/dev/null || echo unknown)
if [ "$live_version" != "$backup_version" ]; then
  die "the backup is of mailcow $backup_version, this host runs $live_version: deploy the same release (mailstack:mailcow.version), restore, then upgrade"
fi
echo "$TOOL: restoring data/assets/ssl (the DANE key) and data/conf into $MAILCOW_DIR"
cp -a "$saved/data/assets/ssl/." "$MAILCOW_DIR/data/assets/ssl/"
cp -a "$saved/data/conf/." "$MAILCOW_DIR/data/conf/"
# mailcow.conf stays the stack's; mailcow's restore takes the database settings from the backup's copy.
changed=$(diff <(sed -n 's/=.*//p' "$saved/mailcow.conf" | sort -u) <(sed -n 's/=.*//p' "$MAILCOW_DIR/mailcow.conf" | sort -u) || true)
if [ -n "$changed" ]; then echo "$TOOL: note: the backed-up mailcow.conf sets other variables than the live one"; fi
# mailcow's restore asks: restore point (the only one: 1), dataset (0: all), then yes to each step.
answers=$(mktemp)
{
  printf '1\\n0\\n'
  for _ in $(seq 1 20); do printf 'y\\n'; done
} >"$answers"
echo "$TOOL: running mailcow's restore of all datasets from $(dirname "$run_dir")"
(cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$(dirname "$run_dir")" THREADS="\${THREADS:-2}" "$MAILCOW_BACKUP_SCRIPT" restore <"$answers")
rm -f "$answers"
echo "$TOOL: restore applied; check the UI, send a test mail, then run mailstack-backup run"
`;
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
export function backupFiles(input: OffsiteBackupInput): { path: string; mode: string; content: string }[] {
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

/** Installs the secret files (travels as a secret on SSH stdin). */
export function backupSecretsScript(input: OffsiteBackupInput, secrets: BackupSecrets): HostScript {
  return script("backup-secrets", "the off-site repository password and S3 credentials (root only)", [
    "install -d -m 0700 /etc/mailstack",
    ...backupSecretFiles(input, secrets).map((file) => fileStep(file.path, file.mode, file.content)),
  ]);
}

/** Installs restic, the tools, the settings and the timers; creates the repository and proves access. */
export function backupInstallScript(input: OffsiteBackupInput): HostScript {
  return script("backup-install", "restic, mailstack-backup/-restore, their settings and timers", [
    "apt-get install -y -q restic curl util-linux >/dev/null",
    "install -d -m 0755 /etc/mailstack",
    "reload=0",
    ...backupFiles(input).map((file) =>
      file.path.startsWith("/etc/systemd/")
        ? fileStep(file.path, file.mode, file.content, "reload=1")
        : fileStep(file.path, file.mode, file.content),
    ),
    'if [ "$reload" -eq 1 ]; then systemctl daemon-reload; fi',
    "systemctl enable --now mailstack-backup.timer mailstack-backup-check.timer",
    "# Fails the deployment now, not tonight, when the repository cannot be reached or opened.",
    `${BIN_DIR}/mailstack-backup init`,
  ]);
}
