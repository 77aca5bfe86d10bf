#!/bin/bash
# mailstack-verify: checks the deployed mail stack from outside with the settings the stack
# installed (/etc/mailstack-verify/verify.env) and writes the results for node_exporter's
# textfile collector. Installed by the stack's VerifySchedule; run by mailstack-verify.timer.
# Extra arguments go to verify (e.g. `mailstack-verify --only dane tls`).
# Exit codes are verify's: 0 nothing failed, 1 a check failed, 2 bad usage or unreadable outputs.
set -euo pipefail

config=${MAILSTACK_VERIFY_CONFIG:-/etc/mailstack-verify/verify.env}
if [ ! -r "$config" ]; then
  echo "mailstack-verify: cannot read $config (installed by the stack's VerifySchedule)" >&2
  exit 2
fi
# shellcheck source=/dev/null
. "$config"

args=(--outputs "$VERIFY_OUTPUTS" --prometheus "$VERIFY_PROMETHEUS_FILE")
if [ -n "${VERIFY_RESOLVER:-}" ]; then args+=(--resolver "$VERIFY_RESOLVER"); fi
if [ -n "${VERIFY_TRUST_ANCHOR:-}" ]; then args+=(--trust-anchor "$VERIFY_TRUST_ANCHOR"); fi
exec "${VERIFY_NODE:-node}" "$VERIFY_BUNDLE" "${args[@]}" "$@"
