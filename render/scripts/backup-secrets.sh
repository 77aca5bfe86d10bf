#!/bin/bash
# mailstack backup-secrets: the off-site repository password, the S3 credentials and the PBS key
# file, root only. Travels on SSH stdin only (it holds the secrets). Settings: SECRETS_DIR, PATHS,
# MODES, CONTENTS_B64 (parallel lists).

install -d -m 0700 "$SECRETS_DIR"
for i in "${!PATHS[@]}"; do
  install_file "${PATHS[$i]}" "${MODES[$i]}" "${CONTENTS_B64[$i]}" >/dev/null || true
done
log "backup-secrets done"
