#!/bin/bash
# mailstack pve-snippet: a cloud-init snippet on the Proxmox node, written in place (never deleted
# and re-created while a VM refers to it). Settings (from the stack): VOLID (storage:snippets/file),
# CONTENT_B64. `pvesm path` gives the file's path on any storage type.
set -euo pipefail
umask 022

path=$(pvesm path "$VOLID")
dir=$(dirname "$path")
install -d -m 0755 "$dir"
tmp=$(mktemp "$dir/.mailstack.XXXXXX")
trap 'rm -f "$tmp"' EXIT
base64 -d >"$tmp" <<<"$CONTENT_B64"
chmod 0644 "$tmp"
if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
  echo "mailstack: $VOLID unchanged"
  exit 0
fi
mv -f "$tmp" "$path"
echo "mailstack: wrote $VOLID ($path)"
