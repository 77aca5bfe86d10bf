#!/bin/bash
# mailstack admin-access: the admin user (keys only, sudo with the stack's password, set by the
# admin-password step), the deploy user (the stack's key only, restricted, sudo only for
# `bash -s`), sshd without passwords, root or forwarding for the deploy user.
# Settings: ADMIN_USER, AUTHORIZED_KEYS_B64 (the admins' keys), DEPLOY_USER, DEPLOY_KEYS_B64 (the
# deploy key with restrict and from=), SUDOERS_B64, SSHD_CONFIG_B64. sudoers and sshd settings are
# checked before they replace anything, so a bad file never locks the admins out.

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

# user NAME KEYS_B64: the account (created when missing), never in the docker group (it is
# root-equivalent, errata 3.4), with exactly these authorized keys.
user() {
  local name=$1 keys=$2
  if ! id -u "$name" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$name"
  fi
  if id -nG "$name" | tr ' ' '\n' | grep -qx docker; then gpasswd -d "$name" docker; fi
  install -d -m 0700 -o "$name" -g "$name" "/home/$name/.ssh"
  install_file "/home/$name/.ssh/authorized_keys" 0600 "$keys" || true
  chown "$name:$name" "/home/$name/.ssh/authorized_keys"
}

# The admin's password is left alone: the admin-password step sets it (sudo asks for it); sshd
# never accepts passwords.
user "$ADMIN_USER" "$AUTHORIZED_KEYS_B64"
user "$DEPLOY_USER" "$DEPLOY_KEYS_B64"
passwd -l "$DEPLOY_USER" >/dev/null
install_file /etc/sudoers.d/90-mailstack 0440 "$SUDOERS_B64" check_sudoers || true
if install_file /etc/ssh/sshd_config.d/10-mailstack.conf 0644 "$SSHD_CONFIG_B64" check_sshd; then
  sshd -t && systemctl reload ssh
fi
log "admin-access done"
