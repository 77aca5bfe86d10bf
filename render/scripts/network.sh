#!/bin/bash
# mailstack network: the VM's addresses, routes and resolvers (netplan), applied when they change.
# cloud-init applies the network config only at first boot; this writes the same (version 2)
# document as netplan's file. Settings: NETPLAN_FILE, NETPLAN_B64.

if ! command -v netplan >/dev/null; then
  echo "mailstack: netplan is missing: this image does not render its network with netplan; apply network changes from the console" >&2
  exit 1
fi
if install_file "$NETPLAN_FILE" 0600 "$NETPLAN_B64"; then
  netplan generate && netplan apply
fi
log "network done"
