#!/bin/bash
# mailstack install-and-run: installs a bring-up step's script where the host can run it again by
# itself, and runs it. Settings: SCRIPT_PATH, SCRIPT_B64 (base64, so no content can end anything).
set -euo pipefail
umask 077

install -d -m 0755 "$(dirname "$SCRIPT_PATH")"
base64 -d >"$SCRIPT_PATH.new" <<<"$SCRIPT_B64"
chmod 0700 "$SCRIPT_PATH.new"
mv -f "$SCRIPT_PATH.new" "$SCRIPT_PATH"
exec "$SCRIPT_PATH"
