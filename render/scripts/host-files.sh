#!/bin/bash
# mailstack host-files: installs files on the host (each atomically, only when it changed: lib/host.sh's
# install_file), reloads systemd when a unit changed and enables the listed timers. Settings (from
# the stack): STEP (the step's name), FILE_PATHS, FILE_MODES, FILE_B64 (parallel arrays: path, mode,
# base64 content), TIMERS (units to enable and start), REMOVE_PATHS (files an earlier
# configuration installed).

if [ "${#FILE_PATHS[@]}" -ne "${#FILE_MODES[@]}" ] || [ "${#FILE_PATHS[@]}" -ne "${#FILE_B64[@]}" ]; then
  echo "mailstack: $STEP: the file lists differ in length" >&2
  exit 1
fi

units_changed=0
for index in "${!FILE_PATHS[@]}"; do
  path=${FILE_PATHS[$index]}
  if install_file "$path" "${FILE_MODES[$index]}" "${FILE_B64[$index]}"; then
    case "$path" in /etc/systemd/*) units_changed=1 ;; esac
  fi
done
for path in "${REMOVE_PATHS[@]}"; do
  if [ -e "$path" ]; then
    case "$path" in *.timer) systemctl disable --now "$(basename "$path")" >/dev/null 2>&1 || true ;; esac
    rm -f "$path"
    log "removed $path"
    case "$path" in /etc/systemd/*) units_changed=1 ;; esac
  fi
done
if [ "$units_changed" -eq 1 ]; then systemctl daemon-reload; fi
if [ "${#TIMERS[@]}" -gt 0 ]; then systemctl enable --now "${TIMERS[@]}" >/dev/null; fi
log "$STEP done"
