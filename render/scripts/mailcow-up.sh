#!/bin/bash
# mailstack mailcow-up: pull and start mailcow, then wait until the UI and the API answer and the
# certificate for the host verifies. Settings: MAILCOW_DIR, MAILCOW_HOSTNAME, MAILCOW_VERSION.

cd "$MAILCOW_DIR" || exit 1
docker compose pull --quiet
docker compose up -d
ready=false
for attempt in $(seq 1 90); do
  ui=$(curl -sk -o /dev/null -w '%{http_code}' --resolve "$MAILCOW_HOSTNAME:443:127.0.0.1" "https://$MAILCOW_HOSTNAME/" || true)
  api=$(curl -sk -o /dev/null -w '%{http_code}' --resolve "$MAILCOW_HOSTNAME:443:127.0.0.1" "https://$MAILCOW_HOSTNAME/api/v1/get/status/version" || true)
  # Without a key the API answers 200 with an empty body (json_api.php:449 at mailcow 2026-07a), a
  # refused key 401: either means it is up.
  if [ "$ui" = 200 ] && { [ "$api" = 401 ] || [ "$api" = 200 ]; }; then
    ready=true
    break
  fi
  sleep 10
done
if [ "$ready" != true ]; then
  echo "mailstack: mailcow $MAILCOW_VERSION did not answer within 15 minutes (UI $ui, API $api)" >&2
  exit 1
fi
log "mailcow $MAILCOW_VERSION answers (UI $ui, API $api) after $attempt checks"
# The API is used with TLS verified: wait for the ACME certificate (same key, so DANE holds).
verified=false
for attempt in $(seq 1 120); do
  if curl -s -o /dev/null --resolve "$MAILCOW_HOSTNAME:443:127.0.0.1" "https://$MAILCOW_HOSTNAME/"; then
    verified=true
    break
  fi
  sleep 10
done
if [ "$verified" != true ]; then
  echo "mailstack: no valid certificate for $MAILCOW_HOSTNAME after 20 minutes: check its A/AAAA records and that port 80 reaches it (ACME HTTP-01)" >&2
  exit 1
fi
log "the certificate for the host verifies"
