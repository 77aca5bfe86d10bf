#!/bin/bash
# mailstack pfsense-backup-key: the private key of the pfSense backup user, root only. Travels on
# SSH stdin only (it is the secret). Settings: KEY_FILE, KEY_B64.

install -d -m 0700 "$(dirname "$KEY_FILE")"
install_file "$KEY_FILE" 0600 "$KEY_B64" >/dev/null || true
log "pfsense-backup-key done"
