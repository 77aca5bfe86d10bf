#!/bin/bash
# mailstack-pfsense-backup: pfSense's config.xml downloaded over SSH by a pfSense user that may do
# nothing else (render/pfsense-backup.ts), stored with restic in the off-site repository under the
# tag SNAPSHOT_TAG, with the off-site retention; the result goes into PFSENSE_STATUS_FILE
# (key=value, for mailstack-metrics). Repository access comes from lib/backup.sh's load_config.
#
#   mailstack-pfsense-backup [run]   download config.xml and store it (the daily timer)
#   mailstack-pfsense-backup init    download it once and store nothing: proves the key, the pinned
#                                    host key and the user's privilege at deployment
#
# Settings: BACKUP_CONFIG_DEFAULT (backup.conf: repository, password, host name, retention, lock
# file; MAILSTACK_BACKUP_CONFIG overrides it), PFSENSE_ADDRESS, PFSENSE_PORT, PFSENSE_USER,
# PFSENSE_CONFIG_PATH, SSH_KEY_FILE, KNOWN_HOSTS_FILE, HOST_KEY_ALIAS, PFSENSE_STAGING_DIR,
# PFSENSE_STATUS_FILE, SNAPSHOT_TAG.
set -Eeuo pipefail
umask 077
readonly TOOL=mailstack-pfsense-backup
readonly MODE=${1:-run}
case "$MODE" in
  run | init) ;;
  *)
    echo "usage: $TOOL [run|init]" >&2
    exit 2
    ;;
esac
load_config

STEP="starting"
log() { echo "$TOOL: $*"; }

# record RESULT [key=value…]: the status file, rewritten whole; the last success is carried over.
record() {
  local dir tmp since
  dir=$(dirname "$PFSENSE_STATUS_FILE")
  install -d -m 0755 "$dir"
  since=$(sed -n 's/^last_success_epoch=//p' "$PFSENSE_STATUS_FILE" 2>/dev/null || true)
  tmp=$(mktemp "$dir/.pfsense-status.XXXXXX")
  {
    echo "last_result=$1"
    echo "last_run=$(date -Is)"
    if [ "$1" = success ]; then
      echo "last_success_epoch=$(date +%s)"
    elif [ -n "$since" ]; then
      echo "last_success_epoch=$since"
    fi
    shift
    printf '%s\n' "${@//$'\n'/ }"
  } >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$PFSENSE_STATUS_FILE"
}

on_failure() {
  local code=$1 detail=$2
  trap - ERR
  echo "$TOOL: FAILED while $STEP (exit $code): $detail" >&2
  if [ "$MODE" = run ]; then
    record failure "last_error=$STEP: $detail" || true
  fi
  exit 1
}
trap 'on_failure $? "$BASH_COMMAND"' ERR
die() { on_failure 1 "$*"; }

# download DEST: config.xml from pfSense into DEST, over SSH with the pinned host key only.
download() {
  local target=$PFSENSE_ADDRESS
  if [[ "$target" == *:* ]]; then target="[$target]"; fi
  STEP="downloading $PFSENSE_CONFIG_PATH from $PFSENSE_USER@$PFSENSE_ADDRESS port $PFSENSE_PORT"
  [ -r "$SSH_KEY_FILE" ] || die "the key $SSH_KEY_FILE is missing (installed by the stack)"
  [ -r "$KNOWN_HOSTS_FILE" ] || die "the pinned host key $KNOWN_HOSTS_FILE is missing (installed by the stack)"
  # -O: the original scp protocol, which the user's forced command (scp -f) speaks.
  scp -O -P "$PFSENSE_PORT" -i "$SSH_KEY_FILE" \
    -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o PasswordAuthentication=no \
    -o StrictHostKeyChecking=yes -o HostKeyAlias="$HOST_KEY_ALIAS" -o UpdateHostKeys=no \
    -o UserKnownHostsFile="$KNOWN_HOSTS_FILE" -o GlobalKnownHostsFile=/dev/null \
    -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 \
    "$PFSENSE_USER@$target:$PFSENSE_CONFIG_PATH" "$1" </dev/null ||
    die "scp failed: a host key other than mailstack:pfsense.configBackup.hostKey, SSH off on pfSense (System > Advanced > Secure Shell), or the user lacks its key or privilege"
  STEP="checking the downloaded configuration"
  [ -s "$1" ] || die "pfSense sent an empty file"
  head -c 4096 "$1" | grep -q '<pfsense>' || die "the file has no <pfsense> element: not a pfSense config.xml"
  tail -c 256 "$1" | grep -q '</pfsense>' || die "the file ends before </pfsense>: truncated"
}

lock() {
  exec 9>"$LOCK_FILE"
  STEP="waiting for mailstack-backup (lock $LOCK_FILE)"
  flock -w 7200 9 || die "another backup still holds $LOCK_FILE after two hours"
}

run_backup() {
  local staged
  STEP="preparing $PFSENSE_STAGING_DIR"
  install -d -m 0700 "$PFSENSE_STAGING_DIR"
  staged="$PFSENSE_STAGING_DIR/config.xml"
  # The file holds pfSense's secrets (password hashes, keys): it never stays on the host.
  trap 'rm -f "$PFSENSE_STAGING_DIR/config.xml" "$PFSENSE_STAGING_DIR/.config.xml.part" "$PFSENSE_STAGING_DIR/restic.json"' EXIT
  download "$PFSENSE_STAGING_DIR/.config.xml.part"
  mv -f "$PFSENSE_STAGING_DIR/.config.xml.part" "$staged"

  STEP="storing config.xml in $RESTIC_REPOSITORY"
  restic backup --json --quiet --host "$BACKUP_HOST" --tag "$SNAPSHOT_TAG" "$staged" >"$PFSENSE_STAGING_DIR/restic.json"
  restic_summary "$PFSENSE_STAGING_DIR/restic.json"

  STEP="applying retention to the $SNAPSHOT_TAG snapshots"
  retention_args
  restic forget --quiet --host "$BACKUP_HOST" --tag "$SNAPSHOT_TAG" --group-by host,tags "${KEEP[@]}" --prune

  record success "last_snapshot=$SNAPSHOT" "last_added_bytes=${ADDED:-0}"
  log "pfSense's configuration stored in $RESTIC_REPOSITORY"
}

case "$MODE" in
  init)
    probe=$(mktemp)
    trap 'rm -f "$probe"' EXIT
    download "$probe"
    log "pfSense's config.xml can be downloaded ($(wc -c <"$probe") bytes); the timer stores it"
    ;;
  run)
    lock
    run_backup
    ;;
esac
