#!/bin/bash
# mailstack-backup: mailcow's backup plus data/assets/ssl, data/conf and mailcow.conf, pushed with
# restic to the off-site repository; retention, repository checks, a status file for monitoring.
#
#   mailstack-backup [run]   back up now (the nightly timer)
#   mailstack-backup check   restic check, reading CHECK_SUBSET of the data (the weekly timer)
#   mailstack-backup init    create the repository if it does not exist and prove access
#   mailstack-backup status  print the status; exit 1 when the last backup failed or is too old
#
# Settings: BACKUP_CONFIG_DEFAULT, the settings file (MAILSTACK_BACKUP_CONFIG overrides it).
# MAILSTACK_BACKUP_TIME="YYYY-MM-DD HH:MM:SS" sets the snapshot time (rehearsals, imports).
set -Eeuo pipefail
umask 077
readonly TOOL=mailstack-backup
readonly MODE=${1:-run}
case "$MODE" in
  run | check | init | status) ;;
  *)
    echo "usage: $TOOL [run|check|init|status]" >&2
    exit 2
    ;;
esac
load_config

STEP="starting"
log() { echo "$TOOL: $*"; }

# status_set key=value...: replaces those keys in the status file, atomically.
status_set() {
  local dir tmp pair keys=()
  dir=$(dirname "$STATUS_FILE")
  install -d -m 0755 "$dir"
  tmp=$(mktemp "$dir/.status.XXXXXX")
  for pair in "$@"; do keys+=("${pair%%=*}"); done
  if [ -f "$STATUS_FILE" ]; then
    grep -v -E "^($(IFS='|'; echo "${keys[*]}"))=" "$STATUS_FILE" >"$tmp" || true
  fi
  for pair in "$@"; do printf '%s\n' "${pair//$'\n'/ }" >>"$tmp"; done
  chmod 0644 "$tmp"
  mv -f "$tmp" "$STATUS_FILE"
}

status_get() {
  if [ -f "$STATUS_FILE" ]; then sed -n "s/^$1=//p" "$STATUS_FILE" | tail -n 1; fi
}

notify() {
  [ -n "${NOTIFY_EMAIL:-}" ] || return 0
  local subject="[mailstack] $BACKUP_HOST: $1"
  if ! printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nAuto-Submitted: auto-generated\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n\r\nDetails: journalctl -u mailstack-backup.service -u mailstack-backup-check.service\r\n' \
    "$NOTIFY_FROM" "$NOTIFY_EMAIL" "$subject" "$(date -R)" "$2" |
    curl --silent --show-error --max-time 60 --url "$NOTIFY_SMTP_URL" \
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
  status_set "${prefix}_last_result=failure" "${prefix}_last_run=$(date -Is)" "${prefix}_last_error=$STEP: $detail" || true
  notify "backup $MODE FAILED" "mailstack-backup $MODE failed while $STEP (exit $code): $detail" || true
  exit 1
}
trap 'on_failure $? "$BASH_COMMAND"' ERR
die() { on_failure 1 "$*"; }

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
  local started size paths=() time_args=()
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
  (cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$STAGE" THREADS="${THREADS:-2}" "$MAILCOW_BACKUP_SCRIPT" backup all </dev/null)
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
  if [ -n "${PBS_KEY_FILE:-}" ] && [ -f "$PBS_KEY_FILE" ]; then paths+=("$PBS_KEY_FILE"); fi
  if [ -n "${MAILSTACK_BACKUP_TIME:-}" ]; then time_args=(--time "$MAILSTACK_BACKUP_TIME"); fi
  restic backup --json --quiet --host "$BACKUP_HOST" --tag mailstack "${time_args[@]}" "${paths[@]}" >"$JSON_FILE"
  restic_summary "$JSON_FILE"

  STEP="applying retention"
  retention_args
  # Grouped by host and tag: the staging path carries a date, so the default (host,paths) would keep everything.
  restic forget --quiet --host "$BACKUP_HOST" --tag mailstack --group-by host,tags "${KEEP[@]}" --prune
  # The repository's size for monitoring (mailstack_backup_repository_size_bytes); not worth failing over.
  size=$(restic stats --json --quiet --mode raw-data 2>/dev/null | sed -n 's/.*"total_size":\([0-9]*\).*/\1/p' || true)

  status_set backup_last_result=success "backup_last_run=$(date -Is)" "backup_last_success=$(date -Is)" \
    "backup_last_success_epoch=$(date +%s)" "backup_last_snapshot=$SNAPSHOT" "backup_last_added_bytes=$ADDED" \
    "backup_last_duration_seconds=$(($(date +%s) - started))" "backup_repository_size_bytes=$size" backup_last_error=
  log "backup of $BACKUP_HOST to $RESTIC_REPOSITORY done"
}

run_check() {
  ensure_repository
  STEP="checking the repository (reading ${CHECK_SUBSET:-5%} of the data)"
  restic check --read-data-subset="${CHECK_SUBSET:-5%}"
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
  elif [ $((($(date +%s) - last) / 3600)) -ge "${MAX_AGE_HOURS:-26}" ]; then
    problems+=("the last successful backup is $((($(date +%s) - last) / 3600)) hours old")
  fi
  if [ "$(status_get backup_last_result)" = failure ]; then
    problems+=("the last backup failed: $(status_get backup_last_error)")
  fi
  if [ "$(status_get check_last_result)" = failure ]; then
    problems+=("the last repository check failed: $(status_get check_last_error)")
  fi
  if [ "${#problems[@]}" -gt 0 ]; then
    printf "$TOOL: %s\n" "${problems[@]}" >&2
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
