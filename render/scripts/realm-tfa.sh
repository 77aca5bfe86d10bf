#!/bin/bash
# mailstack realm-tfa: the Proxmox realm REALM requires a second factor of TFA_TYPE (oath or
# yubico): `pveum realm modify`, then domains.cfg (DOMAINS_CFG) is read back to prove it. Users of
# the realm enrol TOTP/YubiKey before their next login.
set -euo pipefail

pveum realm modify "$REALM" --tfa "type=$TFA_TYPE"
# domains.cfg: "<type>: <realm>" opens a section, its properties are indented "key value" lines.
if ! awk -v realm="$REALM" -v type="$TFA_TYPE" '
  $1 ~ /:$/ { current = $2 }
  current == realm && $1 == "tfa" && index($2, "type=" type) == 1 { found = 1 }
  END { exit !found }' "$DOMAINS_CFG"; then
  echo "mailstack: realm $REALM does not require $TFA_TYPE after pveum realm modify (see $DOMAINS_CFG)" >&2
  exit 1
fi
echo "mailstack: realm $REALM requires $TFA_TYPE"
