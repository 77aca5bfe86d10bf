#!/bin/bash
# A stand-in for cscli in the monitoring lab: `cscli decisions list -o json --limit 0` prints
# $FIXTURES/decisions.json (an array of alerts, each with its decisions and their origin, as
# crowdsec v1.6.8 cmd/crowdsec-cli/clidecision/decisions.go prints them; `null` when there are none).
set -euo pipefail
[ "$*" = "decisions list -o json --limit 0" ] || exit 1
cat "$FIXTURES/decisions.json"
