#!/bin/bash
# mailstack pfsense-backup-install: mailstack-pfsense-backup, the pinned pfSense host key and the
# daily timer; then one download of config.xml that stores nothing (`init`), so a wrong host key,
# SSH off on pfSense or a missing privilege fails the deployment now, not tonight. Runs after the
# off-site backup is installed (restic, the repository and its password). Settings: PATHS, MODES,
# CONTENTS_B64 (parallel lists), TIMER, TOOL.

apt-get install -y -q openssh-client restic util-linux >/dev/null
changed=0
for i in "${!PATHS[@]}"; do
  if install_file "${PATHS[$i]}" "${MODES[$i]}" "${CONTENTS_B64[$i]}" && [[ "${PATHS[$i]}" == /etc/systemd/* ]]; then
    changed=1
  fi
done
if [ "$changed" -eq 1 ]; then systemctl daemon-reload; fi
systemctl enable --now "$TIMER"
"$TOOL" init
log "pfsense-backup-install done"
