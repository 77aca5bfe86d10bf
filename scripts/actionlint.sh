#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint (a Go module, built once from the Go module proxy at
# the pinned version and cached), with shellcheck on their run: blocks.
# Usage: scripts/actionlint.sh [workflow files…]   (default: .github/workflows/*.yml)
set -euo pipefail

version="v1.7.12"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${XDG_CACHE_HOME:-${HOME}/.cache}/mailstack/actionlint-${version}"
binary="${cache}/actionlint"

if [[ ! -x "${binary}" ]]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "$0: go is not installed; actionlint ${version} is built with it (go install github.com/rhysd/actionlint/cmd/actionlint@${version})" >&2
    exit 1
  fi
  mkdir -p "${cache}"
  GOBIN="${cache}" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@${version}"
fi

cd "${here}"
if [[ $# -eq 0 ]]; then
  set -- .github/workflows/*.yml
fi
exec "${binary}" -shellcheck "$(command -v shellcheck || true)" "$@"
