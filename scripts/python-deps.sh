#!/usr/bin/env bash
# Installs the Python tools the lab tests cross-check verify with, each in its own virtualenv
# (their pins conflict: sslyze needs cryptography < 47, checkdmarc >= 50) with every package
# pinned in scripts/python/<tool>.txt. Idempotent: a venv whose packages already match its
# list is left alone. Needs python3 with venv (Debian: python3-venv; installed when root).
#
#   scripts/python-deps.sh          install what is missing (into .tools/python/<tool>/)
#   scripts/python-deps.sh --dir    print the directory the venvs live in
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${MAILSTACK_PYTHON_TOOLS:-${here}/.tools/python}"
if [[ "${1:-}" == "--dir" ]]; then
  echo "${dir}"
  exit 0
fi

python=/usr/bin/python3
[[ -x "${python}" ]] || python="$(command -v python3 || true)"
if [[ -z "${python}" ]]; then
  echo "python-deps: python3 is missing; run scripts/system-deps.sh" >&2
  exit 1
fi
if ! "${python}" -c 'import ensurepip, venv' 2>/dev/null; then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "python-deps: ${python} has no venv module; run: sudo apt-get install -y python3-venv" >&2
    exit 1
  fi
  echo "python-deps: installing python3-venv" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null
fi

# install TOOL: the venv for TOOL from scripts/python/TOOL.txt, unless it already matches.
install() {
  local tool=$1 list="${here}/scripts/python/$1.txt" venv="${dir}/$1"
  if [[ -x "${venv}/bin/python" ]] &&
    diff -q <(sort -f "${list}") <("${venv}/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | sort -f) >/dev/null; then
    return 0
  fi
  echo "python-deps: installing ${tool} into ${venv}" >&2
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
  # Every dependency is pinned in the list, so nothing unlisted is resolved.
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "${list}"
}

mkdir -p "${dir}"
pids=()
for tool in sslyze checkdmarc; do
  install "${tool}" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "${pid}" || status=1; done
if [[ ${status} -ne 0 ]]; then
  echo "python-deps: an install failed (see above)" >&2
  exit 1
fi
