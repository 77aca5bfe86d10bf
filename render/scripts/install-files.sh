#!/bin/bash
# mailstack install-files: installs files into mailcow's directory and restarts only what reads
# them (the contents travel base64-encoded in this script, so a secret stays in the script that
# travels on SSH stdin). Settings: ROOT, PATHS, MODES, CONTENTS_B64 (parallel lists), ON_CHANGE ("up"
# recreates with `docker compose up -d`; "restart" restarts RESTART).

changed=0
for i in "${!PATHS[@]}"; do
  if install_file "${PATHS[$i]}" "${MODES[$i]}" "${CONTENTS_B64[$i]}"; then changed=1; fi
done
if [ "$changed" -eq 1 ] && [ -n "$(cd "$ROOT" && docker compose ps -q 2>/dev/null)" ]; then
  if [ "$ON_CHANGE" = up ]; then
    (cd "$ROOT" && docker compose up -d)
  else
    (cd "$ROOT" && docker compose restart "${RESTART[@]}")
  fi
fi
log "install-files done"
