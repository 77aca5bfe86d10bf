#!/bin/bash
# mailstack base-hardening: kernel tuning, unattended security upgrades, time sync (the journal's
# bounds: the logging step). Settings: SYSCTL_B64, UNATTENDED_UPGRADES_B64, AUTO_UPGRADES_B64.

apt-get install -y -q unattended-upgrades apt-listchanges chrony qemu-guest-agent >/dev/null
if install_file /etc/sysctl.d/90-mailstack.conf 0644 "$SYSCTL_B64"; then
  sysctl --system >/dev/null
fi
install_file /etc/apt/apt.conf.d/52mailstack-unattended-upgrades 0644 "$UNATTENDED_UPGRADES_B64" || true
install_file /etc/apt/apt.conf.d/20auto-upgrades 0644 "$AUTO_UPGRADES_B64" || true
systemctl enable --now unattended-upgrades.service chrony.service qemu-guest-agent.service
log "base-hardening done"
