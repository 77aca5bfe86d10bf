#!/bin/bash
# mailstack https-public: 443 for everyone, now that mailcow's admin account is the stack's: the
# marker the firewall step reads, then the firewall again. Settings: HTTPS_PUBLIC_MARKER,
# FIREWALL_SCRIPT.

install -D -m 0644 /dev/null "$HTTPS_PUBLIC_MARKER"
"$FIREWALL_SCRIPT"
log "https-public done"
