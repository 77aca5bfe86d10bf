#!/bin/bash
# mailstack backup-install: restic, mailstack-backup/-restore, their settings and timers; then the
# repository is created (when new) and opened, so a wrong password or unreachable repository fails
# the deployment now, not tonight. Settings: CONFIG_DIR, PATHS, MODES, CONTENTS_B64 (parallel
# lists), TIMERS, BACKUP_TOOL.

apt-get install -y -q restic curl util-linux >/dev/null
[ -d "$CONFIG_DIR" ] || install -d -m 0755 "$CONFIG_DIR"
reload=0
for i in "${!PATHS[@]}"; do
  if install_file "${PATHS[$i]}" "${MODES[$i]}" "${CONTENTS_B64[$i]}" && [[ "${PATHS[$i]}" == /etc/systemd/* ]]; then
    reload=1
  fi
done
if [ "$reload" -eq 1 ]; then systemctl daemon-reload; fi
systemctl enable --now "${TIMERS[@]}"
"$BACKUP_TOOL" init
log "backup-install done"
