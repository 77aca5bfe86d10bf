#!/usr/bin/env bash
# Builds the tree the pull request review judges: the head's program (everything the change
# touches) with the BASE branch's judge in place of the head's: common/ (the rule catalog with the
# stacks' relaxations, resource types, allow-list arithmetic: the pack imports it), policies/
# (rules, fixtures), plan/ (the offline engine and the policy runner) and scripts/.
# A change to any of these is then judged by the base's copy, never by its own.
# Usage: scripts/policy-review-tree.sh BASE_DIR HEAD_DIR OUT_DIR
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 BASE_DIR HEAD_DIR OUT_DIR" >&2
  exit 2
fi
base="$(cd "$1" && pwd)"
head="$(cd "$2" && pwd)"
out="$3"

judge=(common policies plan scripts)
for dir in "${judge[@]}"; do
  if [[ ! -d "${base}/${dir}" ]]; then
    echo "$0: the base tree ${base} has no ${dir}/" >&2
    exit 2
  fi
done

rm -rf "${out}"
mkdir -p "${out}"
# The head's files as git tracks them (nothing the checkout added: node_modules, out/).
(cd "${head}" && git ls-files -z) | (cd "${head}" && xargs -0 cp --parents -t "${out}" --)
for dir in "${judge[@]}"; do
  rm -rf "${out:?}/${dir}"
  (cd "${base}" && git ls-files -z -- "${dir}") | (cd "${base}" && xargs -0 cp --parents -t "${out}" --)
done
# The head's dependencies (its package-lock.json): the review runs the head's program.
if [[ -d "${head}/node_modules" ]]; then
  ln -s "${head}/node_modules" "${out}/node_modules"
fi
echo "review tree: ${out} (program from ${head}; ${judge[*]} from ${base})"
