#!/bin/bash
# mailstack tls-key: puts the stack's TLS key (the key the TLSA record pins) everywhere mailcow
# serves TLS from, keeps it there across Let's Encrypt renewals, and switches every copy at a key
# rollover. Settings (from the stack): MAILCOW_DIR, MAILCOW_HOSTNAME, TLS_KEY_B64 (the PEM, base64;
# this script travels only as a secret on SSH stdin).
#
# How mailcow's ACME container treats these files (mailcow-dockerized 2026-07a):
# - data/Dockerfiles/acme/acme.sh:110-130 skips ACME for good unless ssl/cert.pem's issuer contains
#   "Let's Encrypt", "mailcow" or "Fake LE Intermediate": our interim certificate is issued by
#   O=mailcow, like mailcow's own (generate_config.sh:466), so ACME runs and issues for our key.
# - acme.sh:169-174 generates acme/key.pem only when it is missing: ours is kept.
# - obtain-certificate.sh:76-81 copies acme/key.pem to ssl/<cert-name>/key.pem only when that file
#   is missing, and renews with the per-certificate key afterwards; acme.sh:388-393 copies that pair
#   over ssl/cert.pem and ssl/key.pem on every loop. So a new key must replace every per-certificate
#   copy too: a per-certificate directory holding another key is moved out of the way (to
#   ssl/backups/, where acme.sh:442-456 moves unused ones too), and ACME issues it again.
# - Postfix and Dovecot also serve ssl/<name>/ directories by SNI (postfix.sh:27-43, dovecot
#   docker-entrypoint.sh:152-165): once moved, only the new key is served.
# - Dovecot needs ssl/dhparams.pem at start (data/conf/dovecot/dovecot.conf:46); generate_config.sh
#   (:463-468) and update.sh (:469-470) copy it from ssl-example with `cp -n`, as we do here.
set -euo pipefail
umask 077

log() { echo "mailstack: $*"; }

ssl="$MAILCOW_DIR/data/assets/ssl"
install -d -m 0755 "$ssl"
install -d -m 0700 "$ssl/acme"
key=$(mktemp)
trap 'rm -f "$key" "$key.pub"' EXIT
base64 -d >"$key" <<<"$TLS_KEY_B64"
openssl pkey -in "$key" -pubout -out "$key.pub"

# same_key FILE: FILE holds a private or public key (or a certificate) for our key.
same_key() {
  local file=$1
  [ -s "$file" ] || return 1
  case "$(head -c 64 "$file")" in
    *CERTIFICATE*) cmp -s <(openssl x509 -in "$file" -noout -pubkey 2>/dev/null) "$key.pub" ;;
    *) cmp -s <(openssl pkey -in "$file" -pubout 2>/dev/null) "$key.pub" ;;
  esac
}

changed=0
# install_key PATH: our key at PATH (0600) unless it is there already.
install_key() {
  if ! cmp -s "$key" "$1"; then
    install -m 0600 "$key" "$1"
    log "changed $1"
    changed=1
  fi
}

install_key "$ssl/acme/key.pem"
install_key "$ssl/key.pem"

# Every per-certificate directory must hold our key; one with another key (the previous one after a
# rollover) is moved aside, so ACME issues it again from acme/key.pem.
stamp=$(date -u +%Y%m%dT%H%M%SZ)
for dir in "$ssl"/*/; do
  name=$(basename "$dir")
  case "$name" in acme | acme-sh | backups) continue ;; esac
  if [ -e "$dir/key.pem" ] && ! same_key "$dir/key.pem"; then
    install -d -m 0700 "$ssl/backups"
    mv "$dir" "$ssl/backups/mailstack-$stamp-$name"
    log "moved $dir (another key) to $ssl/backups/mailstack-$stamp-$name"
    changed=1
  fi
done

# Until ACME has issued for our key, a self-signed certificate for it (issuer O=mailcow, see above):
# DANE 3 1 1 matches from the first handshake on. A certificate for our key (Let's Encrypt's) stays.
if ! same_key "$ssl/cert.pem"; then
  openssl req -x509 -new -key "$key" -days 90 -out "$ssl/cert.pem.new" \
    -subj "/O=mailcow/OU=mailstack/CN=$MAILCOW_HOSTNAME" -addext "subjectAltName=DNS:$MAILCOW_HOSTNAME"
  chmod 0644 "$ssl/cert.pem.new"
  mv -f "$ssl/cert.pem.new" "$ssl/cert.pem"
  log "changed $ssl/cert.pem (self-signed for the stack's key until ACME issues)"
  changed=1
fi

if [ ! -e "$ssl/dhparams.pem" ] && [ -e "$MAILCOW_DIR/data/assets/ssl-example/dhparams.pem" ]; then
  cp -n "$MAILCOW_DIR/data/assets/ssl-example/dhparams.pem" "$ssl/dhparams.pem"
  chmod 0644 "$ssl/dhparams.pem"
  log "changed $ssl/dhparams.pem (from ssl-example, as generate_config.sh does)"
  changed=1
fi

# A restarted acme-mailcow runs its loop at once (otherwise only daily); the services reload the key.
if [ "$changed" -eq 1 ] && [ -n "$(cd "$MAILCOW_DIR" && docker compose ps -q 2>/dev/null)" ]; then
  (cd "$MAILCOW_DIR" && docker compose restart acme-mailcow postfix-mailcow dovecot-mailcow nginx-mailcow)
fi
log "tls-key done"
