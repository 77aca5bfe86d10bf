#!/bin/bash
# mailstack-restore: fetch a snapshot from the off-site repository, verify it, and (with --apply)
# put it into the running mailcow of this host without questions.
#
#   mailstack-restore --list
#   mailstack-restore [--snapshot ID|latest] [--target DIR]            restore and verify (rehearsal)
#   mailstack-restore [--snapshot ID|latest] [--target DIR] --apply    ... then restore into mailcow
#
# --apply is for a fresh mailcow deployed by the stack (same mailcow.conf secrets, same release):
# it copies data/assets/ssl and data/conf back and runs mailcow's restore of every dataset.
# Settings: BACKUP_CONFIG_DEFAULT, the settings file (MAILSTACK_BACKUP_CONFIG overrides it).
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
load_config

die() {
  echo "$TOOL: $*" >&2
  exit 1
}
trap 'echo "$TOOL: FAILED: $BASH_COMMAND" >&2' ERR

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
# shellcheck disable=SC2153 # RUN_DIR is set by find_mailcow_backup (lib/backup.sh)
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
  printf '1\n0\n'
  for _ in $(seq 1 20); do printf 'y\n'; done
} >"$answers"
echo "$TOOL: running mailcow's restore of all datasets from $(dirname "$run_dir")"
(cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$(dirname "$run_dir")" THREADS="${THREADS:-2}" "$MAILCOW_BACKUP_SCRIPT" restore <"$answers")
rm -f "$answers"
echo "$TOOL: restore applied; check the UI, send a test mail, then run mailstack-backup run"
