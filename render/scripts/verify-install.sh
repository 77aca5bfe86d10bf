#!/bin/bash
# mailstack verify-install: scheduled verify of the mail stack on a host that is not the mail VM:
# Node.js (when missing), the bundle the stack copied (checked against its digest, unpacked), the
# files (outputs, settings, wrapper, units) and the timer, then a first run. With the argument
# `uninstall` it removes them instead. Settings: VERIFY_BUNDLE, VERIFY_PACKED_SHA256,
# VERIFY_STAGED, VERIFY_SSH_USER, VERIFY_TEXTFILE_DIR, VERIFY_TRUST_ANCHOR, VERIFY_WRAPPER,
# VERIFY_CONFIG_DIR, VERIFY_UNIT_DIR, VERIFY_PROMETHEUS_FILE, PATHS, MODES, CONTENTS_B64
# (parallel lists of the files).

# `bash -s -- uninstall` is the stack's `delete` command: when mailstack:verify goes, when its
# host or SSH user changes and before an install is replaced. pulumi-command runs `delete` with
# the connection and the stdin kept in the state, so the old host gets the old script
# (pulumi-command v1.2.1 provider/pkg/provider/remote/commandController.go Delete; commandOutputs.go
# run sets stdin for every command). Node.js, dns-root-data and the SFTP copy in the SSH user's
# home stay: the copy may already be the next one, copied before the old install is deleted.
if [ "${1:-}" = uninstall ]; then
  if [ -e "$VERIFY_UNIT_DIR/mailstack-verify.timer" ]; then
    systemctl disable --now mailstack-verify.timer
  fi
  if [ -e "$VERIFY_UNIT_DIR/mailstack-verify.service" ]; then
    # A run in progress would write the metrics again after they are removed.
    systemctl stop mailstack-verify.service
  fi
  rm -f "$VERIFY_UNIT_DIR/mailstack-verify.timer" "$VERIFY_UNIT_DIR/mailstack-verify.service"
  systemctl daemon-reload
  # Without the metrics file node_exporter stops reporting the last run as if it were current.
  rm -f "$VERIFY_WRAPPER" "$VERIFY_PROMETHEUS_FILE"
  rm -rf "$(dirname "$VERIFY_BUNDLE")" "$VERIFY_CONFIG_DIR"
  log "removed the scheduled verify"
  exit 0
fi

if ! command -v node >/dev/null 2>&1; then
  log "installing Node.js"
  apt-get update -q >/dev/null
  apt-get install -y -q nodejs >/dev/null
fi
# verify validates the DNSSEC chain from the root key itself (Debian's dns-root-data).
if [ ! -r "$VERIFY_TRUST_ANCHOR" ]; then
  log "installing dns-root-data"
  apt-get install -y -q dns-root-data >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "mailstack: verify needs Node.js 20 or newer, this host has $(node --version): install a newer nodejs (Debian 13 has 20) and run pulumi up again" >&2
  exit 1
fi

reload=0
for i in "${!PATHS[@]}"; do
  if install_file "${PATHS[$i]}" "${MODES[$i]}" "${CONTENTS_B64[$i]}" && [[ "${PATHS[$i]}" == "$VERIFY_UNIT_DIR"/* ]]; then
    reload=1
  fi
done

# The bundle arrives by SFTP in the SSH user's home, gzipped and base64-encoded; only a copy with
# the expected digest is unpacked.
home=$(getent passwd "$VERIFY_SSH_USER" | cut -d: -f6)
staged="$home/$VERIFY_STAGED"
if ! echo "$VERIFY_PACKED_SHA256  $staged" | sha256sum --check --status; then
  echo "mailstack: $staged is not the bundle the stack copied (sha256 $VERIFY_PACKED_SHA256); run pulumi up again" >&2
  exit 1
fi
install -d -m 0755 "$(dirname "$VERIFY_BUNDLE")"
unpacked=$(mktemp "$(dirname "$VERIFY_BUNDLE")/.mailstack-verify.XXXXXX")
if ! base64 -d <"$staged" | gunzip >"$unpacked"; then
  rm -f "$unpacked"
  echo "mailstack: $staged does not unpack (base64, then gzip); run pulumi up again" >&2
  exit 1
fi
if cmp -s "$unpacked" "$VERIFY_BUNDLE"; then
  rm -f "$unpacked"
else
  chmod 0644 "$unpacked"
  mv -f "$unpacked" "$VERIFY_BUNDLE"
  log "installed $VERIFY_BUNDLE"
fi
install -d -m 0755 "$VERIFY_TEXTFILE_DIR"

if [ "$reload" -eq 1 ]; then systemctl daemon-reload; fi
systemctl enable --now mailstack-verify.timer
# A first run now, in the background: right after `pulumi up`, DNS may still be propagating.
systemctl start --no-block mailstack-verify.service
log "verify-install done"
