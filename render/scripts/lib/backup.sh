# mailstack backup library: included by the renderer after the settings of mailstack-backup,
# mailstack-restore and mailstack-pfsense-backup (render/shell.ts); functions only. The caller sets
# TOOL (its name in messages) and defines log and die.

# load_config: reads backup.conf (MAILSTACK_BACKUP_CONFIG overrides BACKUP_CONFIG_DEFAULT) and the
# credentials it names, and exports what restic reads.
load_config() {
  CONFIG_FILE=${MAILSTACK_BACKUP_CONFIG:-$BACKUP_CONFIG_DEFAULT}
  if [ ! -r "$CONFIG_FILE" ]; then
    echo "$TOOL: cannot read $CONFIG_FILE (installed by the stack's BackupJob)" >&2
    exit 2
  fi
  # shellcheck source=/dev/null
  . "$CONFIG_FILE"
  for setting in MAILCOW_DIR STAGING_DIR RESTIC_REPOSITORY RESTIC_PASSWORD_FILE BACKUP_HOST STATUS_FILE LOCK_FILE; do
    if [ -z "${!setting:-}" ]; then
      echo "$TOOL: $setting is not set in $CONFIG_FILE" >&2
      exit 2
    fi
  done
  if [ -n "${CREDENTIALS_FILE:-}" ] && [ -e "$CREDENTIALS_FILE" ]; then
    set -a
    # shellcheck source=/dev/null
    . "$CREDENTIALS_FILE"
    set +a
  fi
  export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
  if [ -n "${RESTIC_CACHE_DIR:-}" ]; then export RESTIC_CACHE_DIR; fi
  if [ ! -r "$RESTIC_PASSWORD_FILE" ]; then
    echo "$TOOL: cannot read the repository password file $RESTIC_PASSWORD_FILE" >&2
    exit 2
  fi
}

# restic_summary JSON_FILE: sets SNAPSHOT and ADDED from `restic backup --json`'s summary line;
# ends the tool when restic reported no snapshot.
restic_summary() {
  local summary
  summary=$(grep '"message_type":"summary"' "$1" || true)
  SNAPSHOT=$(printf '%s' "$summary" | sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p')
  ADDED=$(printf '%s' "$summary" | sed -n 's/.*"data_added":\([0-9]*\).*/\1/p')
  [ -n "$SNAPSHOT" ] || die "restic reported no snapshot"
  log "snapshot ${SNAPSHOT:0:8} saved, $ADDED bytes added to the repository"
}

# retention_args: sets KEEP to restic forget's --keep-* options from KEEP_DAILY…KEEP_YEARLY; ends
# the tool when none is set.
retention_args() {
  KEEP=()
  if [ "${KEEP_DAILY:-0}" -gt 0 ]; then KEEP+=(--keep-daily "$KEEP_DAILY"); fi
  if [ "${KEEP_WEEKLY:-0}" -gt 0 ]; then KEEP+=(--keep-weekly "$KEEP_WEEKLY"); fi
  if [ "${KEEP_MONTHLY:-0}" -gt 0 ]; then KEEP+=(--keep-monthly "$KEEP_MONTHLY"); fi
  if [ "${KEEP_YEARLY:-0}" -gt 0 ]; then KEEP+=(--keep-yearly "$KEEP_YEARLY"); fi
  [ "${#KEEP[@]}" -gt 0 ] || die "no retention configured (KEEP_DAILY etc. in $CONFIG_FILE)"
}

# verify_mailcow_backup DIR: every dataset archive is present and readable, mailcow.conf is there.
verify_mailcow_backup() {
  local dir=$1 dataset archive
  [ -f "$dir/mailcow.conf" ] || die "$dir has no mailcow.conf"
  for dataset in $EXPECTED_DATASETS; do
    archive=$(find "$dir" -maxdepth 1 -type f -name "backup_$dataset.tar.*" -print -quit)
    [ -n "$archive" ] || die "$dir has no $dataset archive (backup_$dataset.tar.*)"
    tar -tf "$archive" >/dev/null || die "$archive is not a readable archive"
  done
}

# find_mailcow_backup DIR: sets RUN_DIR to the one mailcow-<date> directory below DIR (mailcow's
# restore expects exactly one).
find_mailcow_backup() {
  local count
  count=$(find "$1" -type d -name 'mailcow-[0-9]*' -prune -print | grep -c . || true)
  [ "$count" -eq 1 ] || die "expected one mailcow backup directory below $1, found $count"
  RUN_DIR=$(find "$1" -type d -name 'mailcow-[0-9]*' -prune -print)
}
