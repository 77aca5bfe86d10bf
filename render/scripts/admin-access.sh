#!/bin/bash
# mailstack admin-access: the admin user (keys only, sudo), sshd without passwords or root.
# Settings: ADMIN_USER, AUTHORIZED_KEYS_B64 (the admins' keys and the deploy key), SUDOERS_B64,
# SSHD_CONFIG_B64. sudoers and sshd settings are checked before they replace anything, so a bad
# file never locks the admins out.

check_sudoers() { visudo -cqf "$1"; }
# The drop-in is read first (Debian's sshd_config includes sshd_config.d/*.conf at its top).
check_sshd() {
  local config status=0
  config=$(mktemp)
  { printf 'Include %s\n' "$1"; grep -v '^Include /etc/ssh/sshd_config.d/' /etc/ssh/sshd_config; } >"$config"
  sshd -t -f "$config" || status=$?
  rm -f "$config"
  return "$status"
}

if ! id -u "$ADMIN_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$ADMIN_USER"
fi
# The docker group is root-equivalent: no human user belongs to it (errata 3.4).
if id -nG "$ADMIN_USER" | tr ' ' '\n' | grep -qx docker; then gpasswd -d "$ADMIN_USER" docker; fi
passwd -l "$ADMIN_USER" >/dev/null
install -d -m 0700 -o "$ADMIN_USER" -g "$ADMIN_USER" "/home/$ADMIN_USER/.ssh"
install_file "/home/$ADMIN_USER/.ssh/authorized_keys" 0600 "$AUTHORIZED_KEYS_B64" || true
chown "$ADMIN_USER:$ADMIN_USER" "/home/$ADMIN_USER/.ssh/authorized_keys"
install_file /etc/sudoers.d/90-mailstack 0440 "$SUDOERS_B64" check_sudoers || true
if install_file /etc/ssh/sshd_config.d/10-mailstack.conf 0644 "$SSHD_CONFIG_B64" check_sshd; then
  sshd -t && systemctl reload ssh
fi
log "admin-access done"
