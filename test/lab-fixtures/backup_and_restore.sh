#!/bin/bash
# A stand-in for mailcow's helper-scripts/backup_and_restore.sh in the backup lab, where Docker
# cannot run. It keeps the contract mailstack relies on:
#   backup all: MAILCOW_BACKUP_LOCATION/mailcow-YYYY-MM-DD-HH-MM-SS/ with backup_<dataset>.tar.gz
#               (pigz --rsyncable there, gzip --rsyncable here), a copy of mailcow.conf, .<arch>;
#               like the original it exits 0 even when a dataset step fails (LAB_BREAK=<dataset>).
#   restore:    asks "Select a restore point" and "Select a dataset to restore" on stdin, then
#               unpacks the archives into LAB_RESTORED_VOLUMES (the Docker volumes).
# The "volumes" are directories below LAB_VOLUMES. Every call is logged to LAB_CALL_LOG.
set -euo pipefail
: "${MAILCOW_BACKUP_LOCATION:?}" "${LAB_VOLUMES:?}" "${LAB_CALL_LOG:?}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
echo "$* location=$MAILCOW_BACKUP_LOCATION cwd=$PWD" >>"$LAB_CALL_LOG"

case "$1" in
  backup)
    [ "${2:-}" = all ] || { echo "Second parameter needs to be 'all' here" >&2; exit 1; }
    [ "$(stat -Lc %a "$MAILCOW_BACKUP_LOCATION" | cut -c3)" -ge 5 ] || { echo "not readable for others" >&2; exit 1; }
    dir="$MAILCOW_BACKUP_LOCATION/mailcow-$(date +%Y-%m-%d-%H-%M-%S)"
    mkdir -p "$dir"
    chmod 755 "$dir"
    cp "$SCRIPT_DIR/../mailcow.conf" "$dir/"
    touch "$dir/.$(uname -m)"
    for dataset in vmail crypt redis rspamd postfix mariadb; do
      if [ "${LAB_BREAK:-}" = "$dataset" ]; then
        echo "docker: Error response from daemon: no such volume ($dataset)" >&2
        continue
      fi
      source=$dataset
      if [ "$dataset" = mariadb ]; then source=mysql; fi
      tar -C "$LAB_VOLUMES" -cf - "$source" | gzip --rsyncable -n >"$dir/backup_$dataset.tar.gz"
    done
    ;;
  restore)
    read -r -p "Select a restore point: " point
    read -r -p "Select a dataset to restore: " dataset
    echo "answers point=$point dataset=$dataset" >>"$LAB_CALL_LOG"
    mapfile -t points < <(find "$MAILCOW_BACKUP_LOCATION" -mindepth 1 -maxdepth 1 -type d -name 'mailcow-*' | sort)
    if [ "$point" -lt 1 ] || [ "$point" -gt "${#points[@]}" ]; then
      echo "no restore point $point" >&2
      exit 1
    fi
    [ "$dataset" = 0 ] || { echo "the lab restores all datasets (0)" >&2; exit 1; }
    : "${LAB_RESTORED_VOLUMES:?}"
    mkdir -p "$LAB_RESTORED_VOLUMES"
    for archive in "${points[$((point - 1))]}"/backup_*.tar.gz; do
      tar -C "$LAB_RESTORED_VOLUMES" -xzf "$archive"
    done
    ;;
  *)
    echo "First parameter needs to be 'backup' or 'restore'" >&2
    exit 1
    ;;
esac
