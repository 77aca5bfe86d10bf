#!/usr/bin/env bash
# Ensures the Debian packages listed in system-deps.txt are installed. As root it installs
# what is missing with apt-get; otherwise it prints the exact command and fails, so that a
# missing tool never turns into a skipped test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list="${here}/system-deps.txt"

# A command on PATH, or an absolute path to a file (for packages without a command on PATH, such as a
# library module: rsyslog-gnutls ships only lmnsd_gtls.so, mode 0644).
present() {
  if [[ "$1" == /* ]]; then [[ -e "$1" ]]; else command -v "$1" >/dev/null 2>&1; fi
}

missing=()
while read -r command package _; do
  [[ -z "${command}" || "${command}" == \#* ]] && continue
  if ! present "${command}"; then
    missing+=("${package}")
  fi
done <"${list}"

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

# Unique package names, in order.
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
install=(apt-get install -y --no-install-recommends "${packages[@]}")

if [[ "$(id -u)" -ne 0 ]]; then
  echo "system-deps: missing Debian packages: ${packages[*]}" >&2
  echo "system-deps: run: sudo apt-get update && sudo ${install[*]}" >&2
  exit 1
fi

echo "system-deps: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${install[@]}" >/dev/null

still=()
while read -r command package _; do
  [[ -z "${command}" || "${command}" == \#* ]] && continue
  present "${command}" || still+=("${command} (${package})")
done <"${list}"
if [[ ${#still[@]} -gt 0 ]]; then
  echo "system-deps: still missing after install: ${still[*]}" >&2
  exit 1
fi
