#!/bin/bash
# mailstack logging: the journal as the host's one bounded log store, and (with a collector) rsyslog
# forwarding it over syslog/TLS (RFC 5425) with the collector's CA pinned. Settings (from the stack):
# JOURNALD_DROP_IN, JOURNALD_CONF_B64 (journald's bounds), FORWARD (1 with a collector),
# RSYSLOG_CONF_B64 (all of /etc/rsyslog.conf), CA_FILE, CA_PEM_B64, COLLECTOR (host:port),
# LOCAL_ONLY_REASON (why nothing is forwarded), MAILCOW_DIR.
#
# rsyslog's configuration replaces Debian's whole /etc/rsyslog.conf (which writes /var/log/syslog,
# mail.log, … with a retention of their own) and nothing from /etc/rsyslog.d is included. Docker's
# journald log driver (daemon.json, the docker step) puts the containers' lines into the journal;
# containers made before that switch are recreated once here.
fail() {
  echo "mailstack: $*" >&2
  exit 1
}

# rsyslog's own check of the whole configuration before it is put in place (install_file's CHECK).
rsyslog_check() { rsyslogd -N1 -f "$1" >/dev/null; }

if install_file "$JOURNALD_DROP_IN" 0644 "$JOURNALD_CONF_B64"; then
  systemctl restart systemd-journald
fi
journalctl --vacuum-time="$(sed -n 's/^MaxRetentionSec=//p' "$JOURNALD_DROP_IN")" >/dev/null 2>&1 || true

if [ "$FORWARD" = 1 ]; then
  apt-get install -y -q rsyslog rsyslog-gnutls >/dev/null
  changed=0
  if install_file "$CA_FILE" 0644 "$CA_PEM_B64"; then changed=1; fi
  # rsyslogd -N1 wants the work directory to exist.
  install -d -m 0700 /var/spool/rsyslog
  if install_file /etc/rsyslog.conf 0644 "$RSYSLOG_CONF_B64" rsyslog_check; then changed=1; fi
  systemctl enable rsyslog >/dev/null 2>&1
  if [ "$changed" -eq 1 ] || ! systemctl is-active --quiet rsyslog; then systemctl restart rsyslog; fi
  systemctl is-active --quiet rsyslog || fail "rsyslog does not run; see journalctl -u rsyslog"
  log "the journal is forwarded to $COLLECTOR over TLS"
else
  # Nothing leaves the host: no forwarder runs (an earlier one is stopped).
  if systemctl list-unit-files rsyslog.service >/dev/null 2>&1; then
    systemctl disable --now rsyslog >/dev/null 2>&1 || true
  fi
  if [ -n "$LOCAL_ONLY_REASON" ]; then
    write_file /etc/mailstack/logging-local-only 0644 < <(printf '%s\n' "$LOCAL_ONLY_REASON") || true
    log "logs stay on the host: $LOCAL_ONLY_REASON"
  else
    rm -f /etc/mailstack/logging-local-only
    log "logs stay on the host: no collector is configured (mailstack:logging.forward) and no reason declared"
  fi
fi

# Containers keep the log driver they were made with: recreate mailcow's once if any logs elsewhere.
if [ -f "$MAILCOW_DIR/docker-compose.yml" ] && command -v docker >/dev/null; then
  drivers=$(cd "$MAILCOW_DIR" && docker compose ps -q | xargs -r docker inspect --format '{{.HostConfig.LogConfig.Type}}' | sort -u)
  if [ -n "$drivers" ] && [ "$drivers" != journald ]; then
    log "recreating mailcow's containers for the journald log driver (they used: ${drivers//$'\n'/, })"
    (cd "$MAILCOW_DIR" && docker compose up -d --force-recreate)
  fi
fi
log "logging done"
