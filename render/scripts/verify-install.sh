# shellcheck shell=bash
# The end of the verify-install host script (render/verify-schedule.ts puts the settings and the
# files before it): Node.js, the bundle the stack copied, the timer, and a first run.
: "${VERIFY_BUNDLE:?}" "${VERIFY_PACKED_SHA256:?}" "${VERIFY_STAGED:?}" "${VERIFY_SSH_USER:?}"
: "${VERIFY_TEXTFILE_DIR:?}" "${VERIFY_TRUST_ANCHOR:?}" "${VERIFY_RELOAD:?}"

if ! command -v node >/dev/null 2>&1; then
  log "installing Node.js"
  apt-get update -q >/dev/null
  apt-get install -y -q nodejs >/dev/null
fi
# verify validates the DNSSEC chain from the root key itself (Debian's dns-root-data).
if [ ! -r "$VERIFY_TRUST_ANCHOR" ]; then
  log "installing dns-root-data"
  apt-get install -y -q dns-root-data >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "mailstack: verify needs Node.js 20 or newer, this host has $(node --version): install a newer nodejs (Debian 13 has 20) and run pulumi up again" >&2
  exit 1
fi

# The bundle arrives by SFTP in the SSH user's home, gzipped and base64-encoded; only a copy with
# the expected digest is unpacked.
home=$(getent passwd "$VERIFY_SSH_USER" | cut -d: -f6)
staged="$home/$VERIFY_STAGED"
if ! echo "$VERIFY_PACKED_SHA256  $staged" | sha256sum --check --status; then
  echo "mailstack: $staged is not the bundle the stack copied (sha256 $VERIFY_PACKED_SHA256); run pulumi up again" >&2
  exit 1
fi
install -d -m 0755 "$(dirname "$VERIFY_BUNDLE")"
unpacked=$(mktemp "$(dirname "$VERIFY_BUNDLE")/.mailstack-verify.XXXXXX")
if ! base64 -d <"$staged" | gunzip >"$unpacked"; then
  rm -f "$unpacked"
  echo "mailstack: $staged does not unpack (base64, then gzip); run pulumi up again" >&2
  exit 1
fi
if cmp -s "$unpacked" "$VERIFY_BUNDLE"; then
  rm -f "$unpacked"
else
  chmod 0644 "$unpacked"
  mv -f "$unpacked" "$VERIFY_BUNDLE"
  log "installed $VERIFY_BUNDLE"
fi
install -d -m 0755 "$VERIFY_TEXTFILE_DIR"

if [ "$VERIFY_RELOAD" -eq 1 ]; then systemctl daemon-reload; fi
systemctl enable --now mailstack-verify.timer
# A first run now, in the background: right after `pulumi up`, DNS may still be propagating.
systemctl start --no-block mailstack-verify.service
