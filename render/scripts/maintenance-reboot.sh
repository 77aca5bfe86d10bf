#!/bin/bash
# mailstack-maintenance-reboot: reboots the host when an update needs it (Debian's
# /var/run/reboot-required, written by the kernel's, libc's and other packages' hooks), only inside
# the maintenance window and never while a backup or a repository check runs: it takes the
# backup's lock (mailstack-backup holds it for the whole run) and keeps it until the reboot.
# Runs after the window's unattended-upgrades (apt-daily-upgrade.service) and every 15 minutes of
# the window, so a backup that ran late only postpones the reboot.
#
#   mailstack-maintenance-reboot [--dry-run]
#
# Settings (from the stack): WINDOW_START (HH:MM), WINDOW_MINUTES, AUTOMATIC_REBOOT (1/0),
# LOCK_FILE (the backup's lock), REBOOT_REQUIRED_FILE. MAILSTACK_NOW="HH:MM" stands in for the
# clock (rehearsals and tests).
set -euo pipefail

# shellcheck disable=SC2034 # lib/tool.sh reads it
readonly TOOL=mailstack-maintenance-reboot
dry_run=0
dry_run_requested "$@" && dry_run=1

if [ ! -e "$REBOOT_REQUIRED_FILE" ]; then
  log "no reboot needed"
  exit 0
fi
packages=$(tr '\n' ' ' <"${REBOOT_REQUIRED_FILE}.pkgs" 2>/dev/null || true)
if [ "$AUTOMATIC_REBOOT" != 1 ]; then
  log "a reboot is needed (${packages:-no package named}); automatic reboots are off"
  exit 0
fi

minutes() { echo $((10#${1%%:*} * 60 + 10#${1##*:})); }
now=$(minutes "${MAILSTACK_NOW:-$(date +%H:%M)}")
offset=$(((now - $(minutes "$WINDOW_START") + 1440) % 1440))
if [ "$offset" -ge "$WINDOW_MINUTES" ]; then
  log "a reboot is needed (${packages:-no package named}); waiting for the window at $WINDOW_START"
  exit 0
fi

install -d -m 0755 "$(dirname "$LOCK_FILE")"
exec 9>"$LOCK_FILE"
if ! flock -n 9; then
  log "a reboot is needed, but a backup holds $LOCK_FILE; trying again later in the window"
  exit 0
fi
if [ "$dry_run" = 1 ]; then
  log "dry run: would reboot now for ${packages:-an update}"
  exit 0
fi
log "rebooting for ${packages:-an update} (the backup lock is held until the host goes down)"
systemctl reboot
