# shellcheck shell=bash
# The start of the verify-install host script (render/verify-schedule.ts puts the settings before
# it). Run as `bash -s -- uninstall`, it removes the scheduled verify and stops: the stack's
# `delete` command does that when mailstack:verify goes, when its host or SSH user changes and
# before an install is replaced. pulumi-command runs `delete` with the connection and the stdin
# kept in the state, so the old host gets the old script (pulumi-command v1.2.1
# provider/pkg/provider/remote/commandController.go Delete; commandOutputs.go run sets stdin for
# every command). Node.js, dns-root-data and the SFTP copy in the SSH user's home stay: the copy
# may already be the next one, copied before the old install is deleted.
: "${VERIFY_BUNDLE:?}" "${VERIFY_WRAPPER:?}" "${VERIFY_CONFIG_DIR:?}" "${VERIFY_UNIT_DIR:?}"
: "${VERIFY_PROMETHEUS_FILE:?}"

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
