#!/bin/bash
# mailstack sogo-restart: restarts SOGo, which reads its domains only at start.
# Settings: MAILCOW_DIR.

cd "$MAILCOW_DIR" || exit 1
docker compose restart sogo-mailcow
