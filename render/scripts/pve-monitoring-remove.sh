#!/bin/bash
# mailstack pve-monitoring-remove: takes one stack's PBS backup collector off the Proxmox node (the
# delete of the stack's command runs it). node_exporter stays: other stacks may use it. Installed
# next to the collector by monitoring-install.sh; removes itself last. Settings (from the stack):
# TIMER (the collector's timer unit), FILES (every file the stack installed for it, itself included).
set -euo pipefail

systemctl disable --now "$TIMER" 2>/dev/null || true
rm -f "${FILES[@]}"
systemctl daemon-reload
echo "mailstack: removed $TIMER and its files"
