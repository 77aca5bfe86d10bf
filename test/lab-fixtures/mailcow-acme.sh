#!/bin/bash
# A stand-in for one loop of mailcow's ACME container (mailcow-dockerized 2026-07a,
# data/Dockerfiles/acme/acme.sh and obtain-certificate.sh), for the TLS key lab: the file handling
# the stack relies on, with a local CA in place of Let's Encrypt (no network here).
#   acme.sh:108          cp -n ssl-example/dhparams.pem ssl/
#   acme.sh:110-130      an ssl/cert.pem issued by neither "Let's Encrypt", "mailcow" nor "Fake LE
#                        Intermediate" makes the container skip ACME (exit 3 here, "sleep 3650d" there)
#   acme.sh:169-174      acme/key.pem is generated only when missing
#   obtain-certificate.sh:49-54, 76-81   (re)issue when the domains file, cert or key is missing or
#                        force_renew exists; the per-certificate key is copied from acme/key.pem only
#                        when missing, and the CSR is made from the per-certificate key
#   obtain-certificate.sh:114            the new certificate must match the per-certificate key
#   acme.sh:388-393      the per-certificate pair is copied over ssl/cert.pem and ssl/key.pem
# Usage: mailcow-acme.sh MAILCOW_DIR CERT_NAME CA_DIR
set -euo pipefail
mailcow=$1 name=$2 ca=$3
ssl="$mailcow/data/assets/ssl"

[ -f "$ssl/dhparams.pem" ] || cp -n "$mailcow/data/assets/ssl-example/dhparams.pem" "$ssl/dhparams.pem"

if [ -s "$ssl/cert.pem" ] && [ -s "$ssl/key.pem" ]; then
  issuer=$(openssl x509 -in "$ssl/cert.pem" -noout -issuer)
  if [[ $issuer != *"Let's Encrypt"* && $issuer != *"mailcow"* && $issuer != *"Fake LE Intermediate"* ]]; then
    echo "Found certificate with issuer other than mailcow snake-oil CA and Let's Encrypt, skipping ACME client..."
    exit 3
  fi
fi

[ -f "$ssl/acme/key.pem" ] || openssl genrsa -out "$ssl/acme/key.pem" 2048 2>/dev/null

dir="$ssl/$name"
mkdir -p "$dir"
if [ -f "$dir/domains" ] && [ -f "$dir/cert.pem" ] && [ -f "$dir/key.pem" ] && [ ! -f "$ssl/force_renew" ]; then
  echo "certificate for $name is current"
else
  [ -f "$dir/key.pem" ] || cp "$ssl/acme/key.pem" "$dir/key.pem"
  openssl req -new -key "$dir/key.pem" -subj "/CN=$name" -out "$dir/csr.pem"
  openssl x509 -req -in "$dir/csr.pem" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial -days 90 \
    -extfile <(printf 'subjectAltName=DNS:%s\n' "$name") -out "$dir/cert.pem" 2>/dev/null
  cmp -s <(openssl x509 -in "$dir/cert.pem" -noout -pubkey) <(openssl pkey -in "$dir/key.pem" -pubout) ||
    { echo "Certificate was successfully requested, but key and certificate have non-matching hashes" >&2; exit 1; }
  echo "$name" >"$dir/domains"
  rm -f "$ssl/force_renew" "$dir/csr.pem"
  echo "issued a certificate for $name"
fi
cp "$dir/cert.pem" "$ssl/cert.pem"
cp "$dir/key.pem" "$ssl/key.pem"
