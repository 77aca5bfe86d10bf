#!/bin/bash
# mailstack-metrics: the mail host's own metrics for node_exporter's textfile collector, written
# atomically to TEXTFILE_DIR/mailstack.prom (the collector must never read a half-written file).
# Run every minute by mailstack-metrics.timer. Each section that cannot be read reports
# mailstack_metrics_section_success{section} 0 instead of stopping the others.
#
# - containers: every mailcow service's container state, from `docker ps --format` (docker/cli
#   v29.7.2 cli/command/formatter/container.go: .Label, .State, .Status; "(unhealthy)" in .Status);
# - watchdog: the newest health level per service that watchdog-mailcow pushes to Redis
#   (mailcow-dockerized 2026-07a data/Dockerfiles/watchdog/watchdog.sh:83-97, LPUSH WATCHDOG_LOG
#   {"time","service","lvl",...}), and ACME_FAIL_TIME (watchdog.sh:707-713, set by acme-mailcow);
#   read inside redis-mailcow, whose environment holds REDISPASS (docker-compose.yml), so the
#   password never appears on a command line of the host;
# - certificate: the expiry of data/assets/ssl/cert.pem, the certificate mailcow serves;
# - backup: mailstack-backup's status file (render/backup.ts, key=value) as metrics;
# - crowdsec: local decisions by origin (`cscli decisions list -o json --limit 0`, an array of
#   alerts with their decisions; crowdsec v1.4.6/v1.6.8 cmd/crowdsec-cli decisions list) and the
#   addresses in the bouncer's nftables sets (what is actually dropped, community lists included).
set -uo pipefail
umask 022

tmp=$(mktemp "$TEXTFILE_DIR/.mailstack.prom.XXXXXX")
trap 'rm -f "$tmp"' EXIT
now=$(date +%s)
declare -A section_ok=()

# family NAME TYPE HELP: the header of a metric family (its samples follow).
family() { printf '# HELP %s %s\n# TYPE %s %s\n' "$1" "$3" "$1" "$2" >>"$tmp"; }
# sample NAME LABELS VALUE, LABELS as '{a="b"}' or ''.
sample() { printf '%s%s %s\n' "$1" "$2" "$3" >>"$tmp"; }
# label TEXT: TEXT escaped for a label value (backslash, double quote, line break).
label() {
  local value=${1//\\/\\\\}
  value=${value//\"/\\\"}
  printf '%s' "${value//$'\n'/\\n}"
}
# epoch DATE: seconds since the epoch of a date(1) date, or nothing.
epoch() { [ -n "$1" ] && date -d "$1" +%s 2>/dev/null; }
number() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# container SERVICE: the id of the service's container in mailcow's compose project.
container() {
  docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --filter "label=com.docker.compose.service=$1" 2>/dev/null | head -n 1
}

containers() {
  local ps service line state status up
  ps=$(docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --format '{{.Label "com.docker.compose.service"}}	{{.State}}	{{.Status}}') || return 1
  family mailstack_mailcow_container_up gauge "1 when the container of a mailcow service runs and is not unhealthy."
  for service in "${EXPECTED_SERVICES[@]}"; do
    line=$(awk -F '\t' -v service="$service" '$1 == service { print; exit }' <<<"$ps")
    state=$(cut -f 2 <<<"$line")
    status=$(cut -f 3 <<<"$line")
    up=0
    if [ "$state" = running ] && [[ "$status" != *"(unhealthy)"* ]]; then up=1; fi
    sample mailstack_mailcow_container_up "{service=\"$(label "$service")\"}" "$up"
  done
}

watchdog() {
  local redis log levels fail service level at
  redis=$(container redis-mailcow)
  [ -n "$redis" ] || return 1
  # shellcheck disable=SC2016 # expanded inside the container, where REDISPASS is set
  log=$(docker exec "$redis" sh -c 'REDISCLI_AUTH="$REDISPASS" redis-cli LRANGE WATCHDOG_LOG 0 999') || return 1
  # shellcheck disable=SC2016
  fail=$(docker exec "$redis" sh -c 'REDISCLI_AUTH="$REDISPASS" redis-cli GET ACME_FAIL_TIME') || return 1
  # LPUSH puts the newest first: the first entry per service is its current level.
  levels=$(jq -r -s 'map(select(type == "object" and .service != null and .lvl != null))
    | reduce .[] as $e ({}; if has($e.service) then . else . + {($e.service): $e} end)
    | to_entries[] | [.key, .value.lvl, .value.time] | @tsv' <<<"$log") || return 1
  family mailstack_mailcow_watchdog_health_percent gauge "The health level watchdog-mailcow last reported for a service."
  while IFS=$'\t' read -r service level at; do
    if [ -z "$service" ] || ! number "$level"; then continue; fi
    sample mailstack_mailcow_watchdog_health_percent "{service=\"$(label "$service")\"}" "$level"
  done <<<"$levels"
  family mailstack_mailcow_watchdog_report_timestamp_seconds gauge "When watchdog-mailcow last reported on a service."
  while IFS=$'\t' read -r service level at; do
    if [ -z "$service" ] || ! number "$at"; then continue; fi
    sample mailstack_mailcow_watchdog_report_timestamp_seconds "{service=\"$(label "$service")\"}" "$at"
  done <<<"$levels"
  family mailstack_mailcow_acme_last_failure_timestamp_seconds gauge "When mailcow's ACME client last failed (0: never)."
  fail=${fail//[$'\r\n ']/}
  number "$fail" || fail=0
  sample mailstack_mailcow_acme_last_failure_timestamp_seconds "" "$fail"
}

certificate() {
  local file="$MAILCOW_DIR/data/assets/ssl/cert.pem" end
  [ -r "$file" ] || return 1
  end=$(openssl x509 -in "$file" -noout -enddate 2>/dev/null) || return 1
  end=$(epoch "${end#notAfter=}") || return 1
  family mailstack_mailcow_certificate_expiry_timestamp_seconds gauge "When the certificate mailcow serves expires."
  sample mailstack_mailcow_certificate_expiry_timestamp_seconds '{file="cert.pem"}' "$end"
}

# status KEY: the newest value of KEY in the backup status file.
status() { sed -n "s/^$1=//p" "$BACKUP_STATUS_FILE" 2>/dev/null | tail -n 1; }

# run_result NAME HELP RESULT_KEY ERROR_KEY: NAME is 1 when the status file's RESULT_KEY is
# success, else 0 with ERROR_KEY's text as the error label; nothing when no run is recorded.
# Labelled with the caller's $kind.
run_result() {
  local result error
  result=$(status "$3")
  [ -n "$result" ] || return 0
  family "$1" gauge "$2"
  if [ "$result" = success ]; then
    sample "$1" "{$kind}" 1
  else
    error=$(status "$4")
    sample "$1" "{$kind,error=\"$(label "${error:0:200}")\"}" 0
  fi
}

# run_time NAME HELP KEY: NAME is the time the status file's KEY records, in epoch seconds;
# nothing when it records none. Labelled with the caller's $kind.
run_time() {
  local value
  value=$(epoch "$(status "$3")")
  [ -n "$value" ] || return 0
  family "$1" gauge "$2"
  sample "$1" "{$kind}" "$value"
}

backup() {
  [ -f "$BACKUP_CONFIG_FILE" ] || return 0
  local since kind='kind="offsite"' value
  # When monitoring first saw the backup set up: MailBackupStale waits a full period after it.
  if [ ! -s "$STATE_DIR/backup-monitored-since" ]; then
    install -d -m 0755 "$STATE_DIR"
    echo "$now" >"$STATE_DIR/backup-monitored-since"
  fi
  since=$(cat "$STATE_DIR/backup-monitored-since")
  family mailstack_backup_configured_timestamp_seconds gauge "Since when the backup is set up and watched."
  sample mailstack_backup_configured_timestamp_seconds "{$kind}" "$since"
  value=$(status backup_last_success_epoch)
  number "$value" || value=0
  family mailstack_backup_last_success_timestamp_seconds gauge "When the last successful backup ended (0: none recorded)."
  sample mailstack_backup_last_success_timestamp_seconds "{$kind}" "$value"
  run_result mailstack_backup_last_run_success "1 when the last backup succeeded; error names the failure." \
    backup_last_result backup_last_error
  run_time mailstack_backup_last_run_timestamp_seconds "When the last backup ran." backup_last_run
  local key name help
  for key in backup_last_added_bytes:mailstack_backup_last_added_bytes:"Bytes the last backup added to the repository." \
    backup_last_duration_seconds:mailstack_backup_last_duration_seconds:"How long the last successful backup took." \
    backup_repository_size_bytes:mailstack_backup_repository_size_bytes:"The repository's size after the last backup (restic stats, raw data)."; do
    IFS=: read -r key name help <<<"$key"
    value=$(status "$key")
    number "$value" || continue
    family "$name" gauge "$help"
    sample "$name" "{$kind}" "$value"
  done
  run_result mailstack_backup_check_last_run_success "1 when the last repository check (restic check) succeeded." \
    check_last_result check_last_error
  run_time mailstack_backup_check_last_success_timestamp_seconds "When the last successful repository check ended." \
    check_last_success
}

crowdsec() {
  command -v cscli >/dev/null || return 1
  local decisions origin count entry nft_family table set
  decisions=$(cscli decisions list -o json --limit 0 2>/dev/null) || return 1
  decisions=$(jq -r '[.[]?.decisions[]? | .origin // "unknown"] | group_by(.) | map([.[0], length] | @tsv) | .[]' \
    <<<"$decisions") || return 1
  family mailstack_crowdsec_active_decisions gauge "CrowdSec's active local decisions (bans) by origin."
  # With no decision at all, origin crowdsec counts 0 (MailBanSpike compares with an hour ago).
  if ! grep -q '^crowdsec	' <<<"$decisions"; then sample mailstack_crowdsec_active_decisions '{origin="crowdsec"}' 0; fi
  while IFS=$'\t' read -r origin count; do
    [ -n "$origin" ] || continue
    sample mailstack_crowdsec_active_decisions "{origin=\"$(label "$origin")\"}" "$count"
  done <<<"$decisions"
  family mailstack_crowdsec_blocked_addresses gauge "Addresses and ranges in the firewall bouncer's nftables set."
  for entry in "${NFT_SETS[@]}"; do
    read -r nft_family table set <<<"$entry"
    count=$(nft -j list set "$nft_family" "$table" "$set" 2>/dev/null | jq '[.nftables[]? | .set? // empty | .elem[]?] | length') || continue
    sample mailstack_crowdsec_blocked_addresses "{family=\"$nft_family\",set=\"$(label "$set")\"}" "${count:-0}"
  done
}

sections=(containers watchdog certificate backup crowdsec)
for section in "${sections[@]}"; do
  mark=$(wc -c <"$tmp")
  if "$section"; then
    section_ok[$section]=1
  else
    section_ok[$section]=0
    # Nothing half-written of a failed section stays in the file.
    truncate -s "$mark" "$tmp"
  fi
done
family mailstack_metrics_section_success gauge "1 when mailstack-metrics could read the section."
for section in "${sections[@]}"; do sample mailstack_metrics_section_success "{section=\"$section\"}" "${section_ok[$section]}"; done
family mailstack_metrics_last_run_timestamp_seconds gauge "When mailstack-metrics last ran."
sample mailstack_metrics_last_run_timestamp_seconds "" "$now"
chmod 0644 "$tmp"
mv -f "$tmp" "$TEXTFILE_DIR/mailstack.prom"
trap - EXIT
