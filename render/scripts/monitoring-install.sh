#!/bin/bash
# mailstack monitoring: the exporters of a host (the mail VM or the Proxmox node) and what feeds
# them, listening only on LISTEN_ADDRESS. Settings (from the stack): PACKAGES (Debian packages),
# FILE_PATHS/FILE_MODES/FILE_CONTENTS_B64 (the files: units, drop-ins, configs, collectors),
# UNITS (enabled and started; restarted when a file of theirs changed), RUN_AFTER (commands run
# once at the end, e.g. the first collection), LISTEN_ADDRESS and PORTS (each exporter must listen
# on LISTEN_ADDRESS:<port> and nowhere else), and on the mail VM POSTFIX_EXPORTER_BIN,
# COMPOSE_PROJECT and POSTFIX_QUEUE_LINK for the Postfix exporter.
#
# The exporters' systemd drop-ins are written before their packages are installed, so a package's
# first start already listens on LISTEN_ADDRESS only (Debian's units start them on :<port>).
# Debian's prometheus-postfix-exporter package depends on postfix and rsyslog, and a host Postfix
# next to mailcow's would fight it for port 25: its binary is taken from the package (apt-get
# download, verified by apt against the archive's signed index) and run by a unit of our own.
# log, install_file: render/scripts/lib/host.sh.
fail() {
  echo "mailstack: $*" >&2
  exit 1
}

changed_files=()
for index in "${!FILE_PATHS[@]}"; do
  if install_file "${FILE_PATHS[$index]}" "${FILE_MODES[$index]}" "${FILE_CONTENTS_B64[$index]}"; then
    changed_files+=("${FILE_PATHS[$index]}")
  fi
done
systemctl daemon-reload

if [ "${#PACKAGES[@]}" -gt 0 ]; then
  if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null
  fi
fi

if [ -n "${POSTFIX_EXPORTER_BIN:-}" ]; then
  # The Postfix exporter's binary from Debian's package, at the archive's current version.
  version=$(apt-cache policy prometheus-postfix-exporter | sed -n 's/^ *Candidate: //p')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    apt-get update -q
    version=$(apt-cache policy prometheus-postfix-exporter | sed -n 's/^ *Candidate: //p')
  fi
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then fail "the Debian archive has no prometheus-postfix-exporter"; fi
  if [ "$(cat "$POSTFIX_EXPORTER_BIN.version" 2>/dev/null)" != "$version" ] || [ ! -x "$POSTFIX_EXPORTER_BIN" ]; then
    work=$(mktemp -d)
    (cd "$work" && apt-get download -q "prometheus-postfix-exporter=$version" >/dev/null)
    dpkg-deb -x "$work"/prometheus-postfix-exporter_*.deb "$work/root"
    install -D -m 0755 "$work/root/usr/bin/prometheus-postfix-exporter" "$POSTFIX_EXPORTER_BIN"
    echo "$version" >"$POSTFIX_EXPORTER_BIN.version"
    rm -rf "$work"
    log "prometheus-postfix-exporter $version installed as $POSTFIX_EXPORTER_BIN"
    changed_files+=("$POSTFIX_EXPORTER_BIN")
  fi
  # The queue's showq socket: in mailcow's postfix volume, public/ is postfix:postdrop 0710 with the
  # container's ids. The exporter gets the directory bind-mounted and a host group with that gid.
  volume=$(docker volume inspect -f '{{ .Mountpoint }}' "${COMPOSE_PROJECT}_postfix-vol-1" 2>/dev/null) ||
    fail "mailcow's Postfix volume ${COMPOSE_PROJECT}_postfix-vol-1 does not exist: start mailcow first"
  [ -d "$volume/public" ] || fail "$volume/public does not exist: Postfix has not started in postfix-mailcow"
  gid=$(stat -c %g "$volume/public")
  group=$(getent group "$gid" | cut -d: -f1 || true)
  if [ -z "$group" ]; then
    groupadd --system --gid "$gid" mailstack-postdrop
    group=mailstack-postdrop
  fi
  dropin=/etc/systemd/system/mailstack-postfix-exporter.service.d/queue.conf
  if install_file "$dropin" 0644 "$(printf '[Service]\nSupplementaryGroups=%s\nBindReadOnlyPaths=-%s:%s\n' \
    "$group" "$volume/public" "$POSTFIX_QUEUE_LINK" | base64 -w0)"; then
    changed_files+=("$dropin")
    systemctl daemon-reload
  fi
fi

# uses UNIT: whether a changed file belongs to UNIT (its unit file, a drop-in, or what it runs).
uses() {
  local unit=$1 file
  for file in "${changed_files[@]}"; do
    case "$file" in
      */"$unit" | */"$unit".d/*) return 0 ;;
    esac
    if systemctl cat "$unit" 2>/dev/null | grep -qF -- "$file"; then return 0; fi
  done
  return 1
}
for unit in "${UNITS[@]}"; do
  systemctl enable --quiet "$unit"
  if uses "$unit"; then systemctl restart "$unit"; else systemctl start "$unit"; fi
done
for command in "${RUN_AFTER[@]}"; do "$command"; done

# Every exporter listens on LISTEN_ADDRESS only (never on the public IPv6 the VM also holds). A
# host name (the Proxmox node's address may be one) stands for the addresses it resolves to.
expected=("$LISTEN_ADDRESS")
if ! [[ "$LISTEN_ADDRESS" =~ ^[0-9.]+$ || "$LISTEN_ADDRESS" == *:* ]]; then
  mapfile -t expected < <(getent ahosts "$LISTEN_ADDRESS" | awk '{ print $1 }' | sort -u)
fi
for port in "${PORTS[@]}"; do
  listening=()
  for _ in $(seq 1 30); do
    mapfile -t listening < <(ss -Hltn "sport = :$port" | awk '{ print $4 }' | sort -u)
    [ "${#listening[@]}" -gt 0 ] && break
    sleep 1
  done
  [ "${#listening[@]}" -gt 0 ] || fail "nothing listens on port $port"
  for address in "${listening[@]}"; do
    host=${address%:*}
    host=${host#[}
    host=${host%]}
    printf '%s\n' "${expected[@]}" | grep -qxF -- "$host" ||
      fail "port $port listens on $address, expected only $LISTEN_ADDRESS:$port"
  done
done
log "exporters listen on $LISTEN_ADDRESS (ports ${PORTS[*]})"
