#!/bin/bash
# mailstack-postfix-log: follows the log of mailcow's Postfix container into LOG_FILE, where the
# Postfix exporter reads it. Run by mailstack-postfix-log.service (root, no network listener), so
# the exporter itself needs neither the Docker socket (root-equivalent) nor a host syslog daemon.
# postfix-mailcow's syslog-ng writes every line to stdout (mailcow-dockerized 2026-07a
# data/Dockerfiles/postfix/syslog-ng.conf: d_stdout), which `docker logs` returns; the exporter
# finds " postfix/<service>[pid]: " anywhere in a line (kumina/postfix_exporter 0.3.0
# postfix_exporter.go:289, logLine). A recreated container has a new id: the loop finds it again.
set -uo pipefail
umask 027

install -d -m 0750 -o root -g adm "$(dirname "$LOG_FILE")"
touch "$LOG_FILE"
chgrp adm "$LOG_FILE"
chmod 0640 "$LOG_FILE"

while true; do
  id=$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --filter "label=com.docker.compose.service=postfix-mailcow" 2>/dev/null | head -n 1)
  if [ -n "$id" ]; then
    # From now on only: the exporter counts what it reads, so old lines must not come again.
    docker logs --follow --tail 0 "$id" >>"$LOG_FILE" 2>&1
  fi
  sleep 5
done
