#!/bin/bash
# mailstack-mailcow-update: the daily check for a newer mailcow release. It reads the release tags
# of mailcow's repository (git ls-remote), exports the result for node_exporter's textfile
# collector, mails the admin once per new release and, in "upgrade" mode, upgrades through the
# same path as a pinned upgrade (mailstack-mailcow-release: a fresh backup, then mailcow's
# update.sh) and starts mailcow (mailstack-mailcow-up). It never upgrades unless the last off-site
# backup succeeded and is fresh (mailstack-backup status), and the release script takes a new one
# first. The stack pins mailcow's release: after an unattended upgrade `pulumi up` stops with the
# release to record in mailstack:mailcow.version (nothing is ever downgraded).
#
#   mailstack-mailcow-update [--dry-run]   --dry-run: check and decide, change nothing
#
# Settings (from the stack): MAILCOW_DIR, REPOSITORY, PINNED_TAG, MODE (notify|upgrade), BACKUP_TOOL,
# RELEASE_SCRIPT, UP_SCRIPT, METRICS_FILE, STATE_FILE (notified release), UNATTENDED_STATE (the
# record of an unattended upgrade), NOTIFY_EMAIL, NOTIFY_FROM, NOTIFY_SMTP_URL, HOST.
#
# Metrics (METRICS_FILE, Prometheus text format):
#   mailstack_mailcow_update_check_success            1 when the repository could be read
#   mailstack_mailcow_update_check_timestamp_seconds  time of this check
#   mailstack_mailcow_update_available                1 when a newer release than the running one exists
#   mailstack_mailcow_release_info{running,latest}    always 1; the releases as labels
#   mailstack_mailcow_auto_upgrade_enabled            1 in "upgrade" mode
#   mailstack_mailcow_upgrade_blocked                 1 when an upgrade was due but refused (stale backup, failure)
set -euo pipefail
umask 022

readonly TOOL=mailstack-mailcow-update
dry_run=0
dry_run_requested "$@" && dry_run=1

# write_metrics SUCCESS AVAILABLE RUNNING LATEST BLOCKED
write_metrics() {
  local dir tmp
  dir=$(dirname "$METRICS_FILE")
  install -d -m 0755 "$dir"
  tmp=$(mktemp "$dir/.mailstack_mailcow.XXXXXX")
  {
    echo "# HELP mailstack_mailcow_update_check_success Whether the last release check could read mailcow's repository."
    echo "# TYPE mailstack_mailcow_update_check_success gauge"
    echo "mailstack_mailcow_update_check_success $1"
    echo "# HELP mailstack_mailcow_update_check_timestamp_seconds When the last release check ran."
    echo "# TYPE mailstack_mailcow_update_check_timestamp_seconds gauge"
    echo "mailstack_mailcow_update_check_timestamp_seconds $(date +%s)"
    echo "# HELP mailstack_mailcow_update_available Whether a newer mailcow release than the running one exists."
    echo "# TYPE mailstack_mailcow_update_available gauge"
    echo "mailstack_mailcow_update_available $2"
    echo "# HELP mailstack_mailcow_release_info The running and the newest mailcow release."
    echo "# TYPE mailstack_mailcow_release_info gauge"
    echo "mailstack_mailcow_release_info{running=\"$3\",latest=\"$4\"} 1"
    echo "# HELP mailstack_mailcow_auto_upgrade_enabled Whether newer releases are installed unattended."
    echo "# TYPE mailstack_mailcow_auto_upgrade_enabled gauge"
    echo "mailstack_mailcow_auto_upgrade_enabled $([ "$MODE" = upgrade ] && echo 1 || echo 0)"
    echo "# HELP mailstack_mailcow_upgrade_blocked Whether a due unattended upgrade was refused."
    echo "# TYPE mailstack_mailcow_upgrade_blocked gauge"
    echo "mailstack_mailcow_upgrade_blocked $5"
  } >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$METRICS_FILE"
}

notify() {
  [ -n "${NOTIFY_EMAIL:-}" ] && [ "$dry_run" = 0 ] || return 0
  printf 'From: %s\r\nTo: %s\r\nSubject: [mailstack] %s: %s\r\nDate: %s\r\nAuto-Submitted: auto-generated\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n' \
    "$NOTIFY_FROM" "$NOTIFY_EMAIL" "$HOST" "$1" "$(date -R)" "$2" |
    curl --silent --show-error --max-time 60 --url "$NOTIFY_SMTP_URL" \
      --mail-from "$NOTIFY_FROM" --mail-rcpt "$NOTIFY_EMAIL" --upload-file - ||
    echo "$TOOL: could not send mail to $NOTIFY_EMAIL via $NOTIFY_SMTP_URL" >&2
}

running=$(git -C "$MAILCOW_DIR" describe --tags --exact-match HEAD 2>/dev/null || echo "$PINNED_TAG")

# Release tags are YYYY-MM with an optional letter; they sort as text.
if ! tags=$(git ls-remote --tags --refs "$REPOSITORY" 2>&1); then
  write_metrics 0 0 "$running" "" 0
  echo "$TOOL: cannot read the release tags of $REPOSITORY: $tags" >&2
  exit 1
fi
latest_line=$(printf '%s\n' "$tags" | grep -E $'^[0-9a-f]{40}\trefs/tags/[0-9]{4}-[0-9]{2}[a-z]?$' |
  sed -E 's|^([0-9a-f]{40})\trefs/tags/(.*)$|\2 \1|' | sort | tail -n 1 || true)
latest=${latest_line%% *}
latest_commit=${latest_line##* }
if [ -z "$latest" ]; then
  write_metrics 0 0 "$running" "" 0
  echo "$TOOL: $REPOSITORY lists no release tags" >&2
  exit 1
fi

if [[ ! "$latest" > "$running" ]]; then
  write_metrics 1 0 "$running" "$latest" 0
  log "mailcow $running is the newest release"
  exit 0
fi
log "mailcow $latest ($latest_commit) is newer than the running $running"

if [ "$(cat "$STATE_FILE" 2>/dev/null || true)" != "$latest" ]; then
  notify "mailcow $latest is available" "mailcow $latest is available (the host runs $running).
Mode: $MODE. To upgrade with the stack: read the release notes, set mailstack:mailcow.version to $latest (mailstack:mailcow.commit $latest_commit if mailstack does not know it yet) and run pulumi up."
  if [ "$dry_run" = 0 ]; then
    install -d -m 0755 "$(dirname "$STATE_FILE")"
    echo "$latest" >"$STATE_FILE"
  fi
fi

if [ "$MODE" != upgrade ]; then
  write_metrics 1 1 "$running" "$latest" 0
  exit 0
fi

# ---- unattended upgrade ---------------------------------------------------------------------------
if ! backup_status=$("$BACKUP_TOOL" status 2>&1 >/dev/null); then
  write_metrics 1 1 "$running" "$latest" 1
  echo "$TOOL: no unattended upgrade to $latest without a fresh successful backup: ${backup_status:-mailstack-backup status failed}" >&2
  notify "mailcow upgrade to $latest refused" "The unattended upgrade to mailcow $latest was refused: the last off-site backup is not fresh and successful.
$backup_status"
  exit 1
fi
if [ "$dry_run" = 1 ]; then
  write_metrics 1 1 "$running" "$latest" 0
  log "dry run: the last backup is fresh; would upgrade mailcow $running -> $latest through $RELEASE_SCRIPT, then start it with $UP_SCRIPT"
  exit 0
fi
log "upgrading mailcow $running -> $latest"
if ! MAILSTACK_RELEASE_TAG=$latest MAILSTACK_RELEASE_COMMIT=$latest_commit "$RELEASE_SCRIPT" || ! "$UP_SCRIPT"; then
  write_metrics 1 1 "$running" "$latest" 1
  notify "mailcow upgrade to $latest FAILED" "The unattended upgrade from mailcow $running to $latest failed; see journalctl -u mailstack-mailcow-update.service."
  exit 1
fi
install -d -m 0755 "$(dirname "$UNATTENDED_STATE")"
printf 'tag=%s\ncommit=%s\ndate=%s\nfrom=%s\n' "$latest" "$latest_commit" "$(date -Is)" "$running" >"$UNATTENDED_STATE"
write_metrics 1 0 "$latest" "$latest" 0
notify "mailcow upgraded to $latest" "mailcow was upgraded unattended from $running to $latest after a fresh backup.
Record it in the stack: set mailstack:mailcow.version to $latest (mailstack:mailcow.commit $latest_commit if mailstack does not know it yet) and run pulumi up; until then pulumi up stops at the mailcow-release step."
log "mailcow upgraded to $latest"
