#!/bin/bash
# mailstack firewall: UFW default-deny, the public mail ports, SSH from the admin networks, and the
# same policy for Docker-published ports in DOCKER-USER (they bypass UFW's input rules).
# Settings: UFW_RULES_B64 (the rules, one per line, as `ufw show added` prints them),
# DOCKER_USER_B64, DOCKER_USER6_B64 (iptables-restore blocks kept in after.rules/after6.rules),
# and their _EARLY_ variants, used until HTTPS_PUBLIC_MARKER exists (443 only for the admin and
# API networks).
#
# The firewall converges without ever being open: ufw is never reset, reloaded or disabled. ufw
# 0.36.2 (Debian 13) stops and starts the whole firewall, every policy ACCEPT in between, for each
# of those and for a default-policy change (ufw/frontend.py set_enabled, set_default_policy;
# /usr/lib/ufw/ufw-init-functions flush_builtins); rules and DOCKER-USER change in place.

readonly BEGIN_MARK="# BEGIN mailstack DOCKER-USER" END_MARK="# END mailstack DOCKER-USER"

apt-get install -y -q ufw >/dev/null
active=false
if ufw status | grep -qx 'Status: active'; then active=true; fi

# ---- defaults and logging, only when they differ -----------------------------------------------
policy() { sed -n "s/^$1=\"\{0,1\}\([A-Z]*\)\"\{0,1\}$/\1/p" /etc/default/ufw; }
if [ "$(policy DEFAULT_INPUT_POLICY)" != DROP ]; then ufw default deny incoming; fi
if [ "$(policy DEFAULT_OUTPUT_POLICY)" != ACCEPT ]; then ufw default allow outgoing; fi
if [ "$(policy DEFAULT_FORWARD_POLICY)" != DROP ]; then ufw default deny routed; fi
# Blocked connections log with "logging low"; every allowed rule logs with its own "log".
if [ "$(sed -n 's/^LOGLEVEL=//p' /etc/ufw/ufw.conf)" != low ]; then ufw logging low; fi

# ---- rules: add what is missing, then delete what is no longer wanted ---------------------------
mapfile -t wanted < <(base64 -d <<<"$UFW_RULES_B64" | sed '/^$/d')
# A rule's words; the comments carry no spaces, so quotes can simply go.
words() { read -r -a rule <<<"${1//\'/}"; }
for line in "${wanted[@]}"; do
  if [[ ! "$line" =~ ^ufw\ (allow|limit)\  ]]; then
    echo "mailstack: not a ufw rule: $line" >&2
    exit 1
  fi
  words "$line"
  # ufw skips a rule it has; on a running firewall a new one is live at once.
  "${rule[@]}" >/dev/null
done
mapfile -t listed < <(ufw show added | grep '^ufw ' || true)
listed_has() {
  local item
  for item in "${listed[@]}"; do [ "$item" = "$1" ] && return 0; done
  return 1
}
wanted_has() {
  local item
  for item in "${wanted[@]}"; do [ "$item" = "$1" ] && return 0; done
  return 1
}
# Nothing is deleted unless ufw lists every wanted rule exactly as rendered (else a rule it
# normalized, such as an IPv4 network with host bits, would look unwanted and be removed).
for line in "${wanted[@]}"; do
  if ! listed_has "$line"; then
    echo "mailstack: ufw lists no rule \"$line\" (it rewrote it: see ufw show added); nothing was removed" >&2
    exit 1
  fi
done
for line in "${listed[@]}"; do
  if ! wanted_has "$line"; then
    words "$line"
    ufw --force delete "${rule[@]:1}" >/dev/null
    log "removed $line"
  fi
done

# ---- DOCKER-USER: the block in after.rules, and the running chain when it changed ----------------
if [ -f "$HTTPS_PUBLIC_MARKER" ]; then
  v4=$DOCKER_USER_B64 v6=$DOCKER_USER6_B64
else
  v4=$DOCKER_USER_EARLY_B64 v6=$DOCKER_USER6_EARLY_B64
fi
# with_block FILE BLOCK_B64: FILE's content with its mailstack block replaced by BLOCK.
with_block() {
  awk -v begin="$BEGIN_MARK" -v end="$END_MARK" '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$1"
  base64 -d <<<"$2"
}
apply_block() {
  local file=$1 block=$2 restore=$3
  if install_file "$file" 0640 "$(with_block "$file" "$block" | base64 -w0)" && [ "$active" = true ]; then
    # One table transaction: the chain is flushed and refilled atomically.
    base64 -d <<<"$block" | "$restore" --noflush
  fi
}
apply_block /etc/ufw/after.rules "$v4" iptables-restore
apply_block /etc/ufw/after6.rules "$v6" ip6tables-restore

if [ "$active" != true ]; then
  # First run: start the firewall with everything above in place.
  ufw --force enable >/dev/null
fi
log "firewall done"
