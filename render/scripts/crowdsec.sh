#!/bin/bash
# mailstack crowdsec: CrowdSec reading mailcow's container logs, with the nftables firewall bouncer.
# Settings: ACQUISITION_B64, COLLECTIONS, NFT_PATH, NFT_B64 (the tables that drop banned sources on
# input and forward), BOUNCER_DROPIN_B64, BOUNCER_SETTINGS_B64.

apt-get install -y -q crowdsec crowdsec-firewall-bouncer nftables >/dev/null
install_file /etc/crowdsec/acquis.d/mailstack.yaml 0644 "$ACQUISITION_B64" || true
cscli hub update
for collection in "${COLLECTIONS[@]}"; do
  cscli collections install "$collection"
done
install_file "$NFT_PATH" 0644 "$NFT_B64" || true
if install_file /etc/systemd/system/crowdsec-firewall-bouncer.service.d/mailstack.conf 0644 "$BOUNCER_DROPIN_B64"; then
  systemctl daemon-reload
fi
# Without a bouncer CrowdSec only detects: register one with its own key (the key stays on the host).
readonly BOUNCER_LOCAL=/etc/crowdsec/bouncers/crowdsec-firewall-bouncer.yaml.local
key=''
if [[ -f "$BOUNCER_LOCAL" ]] && cscli bouncers list -o raw | grep -q '^mailstack-firewall,'; then
  key=$(sed -n 's/^api_key: //p' "$BOUNCER_LOCAL")
fi
if [[ -z "$key" ]]; then
  cscli bouncers delete mailstack-firewall >/dev/null 2>&1 || true
  key=$(cscli bouncers add mailstack-firewall -o raw)
fi
umask 077
{
  base64 -d <<<"$BOUNCER_SETTINGS_B64"
  printf 'api_key: %s\n' "$key"
} >"$BOUNCER_LOCAL.new"
mv "$BOUNCER_LOCAL.new" "$BOUNCER_LOCAL"
umask 022
systemctl enable crowdsec crowdsec-firewall-bouncer
systemctl restart crowdsec crowdsec-firewall-bouncer
# A bouncer that does not start leaves every ban without effect: fail the bring-up instead.
systemctl is-active --quiet crowdsec-firewall-bouncer
log "crowdsec done"
