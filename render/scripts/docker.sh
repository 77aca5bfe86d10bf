#!/bin/bash
# mailstack docker: Docker CE and the Compose plugin from Docker's repository (signing key pinned),
# the journald log driver with a bounded cache, no TCP socket. Settings: DOCKER_KEY_FINGERPRINT, DAEMON_JSON_B64.

readonly KEYRING=/etc/apt/keyrings/docker.gpg
if ! docker compose version >/dev/null 2>&1; then
  apt-get install -y -q ca-certificates curl gnupg >/dev/null
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --proto "=https" --tlsv1.2 https://download.docker.com/linux/debian/gpg -o "$tmp/docker.asc"
  only_key "$tmp/docker.asc" "$DOCKER_KEY_FINGERPRINT" || exit 1
  install -d -m 0755 /etc/apt/keyrings
  gpg --batch --yes --dearmor -o "$KEYRING" "$tmp/docker.asc"
  chmod 0644 "$KEYRING"
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  echo "deb [arch=$(dpkg --print-architecture) signed-by=$KEYRING] https://download.docker.com/linux/debian $codename stable" >/etc/apt/sources.list.d/docker.list
  apt-get update -q
  apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
fi
if install_file /etc/docker/daemon.json 0644 "$DAEMON_JSON_B64"; then
  systemctl restart docker
fi
# The API stays on the Unix socket only.
if ss -ltn | grep -qE ':(2375|2376)\b'; then
  echo "mailstack: dockerd listens on TCP; remove -H tcp:// from its configuration" >&2
  exit 1
fi
systemctl enable --now docker
log "docker done"
