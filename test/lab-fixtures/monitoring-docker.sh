#!/bin/bash
# A stand-in for the docker CLI in the monitoring lab: answers exactly the calls mailstack-metrics
# and mailstack-postfix-log make, from fixture files in $FIXTURES, in docker's own output formats
# (docker/cli v29.7.2 cli/command/formatter/container.go: `ps --format` renders .Label/.State/.Status
# per line, `ps -q` prints container ids) and redis-cli's (non-tty stdout prints one raw value per
# line, redis 7 src/redis-cli.c). The watchdog list holds what watchdog-mailcow LPUSHes
# (mailcow-dockerized 2026-07a data/Dockerfiles/watchdog/watchdog.sh:93, newest first).
#   $FIXTURES/containers.tsv   service<TAB>state<TAB>status, one container per line
#   $FIXTURES/watchdog.log     the WATCHDOG_LOG list, newest first
#   $FIXTURES/acme-fail-time   the ACME_FAIL_TIME value
set -euo pipefail
echo "docker $*" >>"$FIXTURES/calls.log"

service_filter() {
  local arg
  for arg in "$@"; do
    case $arg in label=com.docker.compose.service=*) echo "${arg#label=com.docker.compose.service=}" ;; esac
  done
}

case ${1:-} in
ps)
  shift
  if [ "${1:-}" = -q ]; then
    service=$(service_filter "$@")
    awk -F '\t' -v service="$service" '$1 == service && $2 == "running" { print "c0ffee" NR }' "$FIXTURES/containers.tsv"
  else
    cat "$FIXTURES/containers.tsv"
  fi
  ;;
exec)
  case ${*: -1} in
  *"LRANGE WATCHDOG_LOG"*) cat "$FIXTURES/watchdog.log" ;;
  *"GET ACME_FAIL_TIME"*) cat "$FIXTURES/acme-fail-time" ;;
  *) exit 1 ;;
  esac
  ;;
*) exit 1 ;;
esac
