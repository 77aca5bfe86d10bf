#!/usr/bin/env bash
# A stand-in for mailcow's update.sh (mailcow-dockerized 2026-07a), committed into the lab's
# "upstream" repository as update.sh. It does what the real script does with git and with
# mailcow.conf, in the same order; Docker calls go to the lab's docker stand-in. Lines cited are
# update.sh's unless noted.
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f "${PWD}/mailcow.conf" ] || { echo "mailcow.conf not found in current directory" >&2; exit 1; } # :9-19
BRANCH="$(cd "${SCRIPT_DIR}" && git rev-parse --abbrev-ref HEAD)" # :20
MODULE_DIR="${SCRIPT_DIR}/_modules"
# :33-57: _modules from origin/<branch>; a change ends the run with exit 2.
MODULES_HASH_BEFORE=$(find "${MODULE_DIR}" -type f -exec sha256sum {} \; 2>/dev/null | sort | sha256sum | awk '{print $1}')
git fetch origin "${BRANCH}"
git checkout "origin/${BRANCH}" -- _modules
MODULES_HASH_AFTER=$(find "${MODULE_DIR}" -type f -exec sha256sum {} \; 2>/dev/null | sort | sha256sum | awk '{print $1}')
if [[ "${MODULES_HASH_BEFORE}" != "${MODULES_HASH_AFTER}" ]]; then
  echo "_modules have been updated. Please restart the update script."
  exit 2
fi
# shellcheck source=/dev/null
source _modules/scripts/core.sh
set -o pipefail # :88
while (($#)); do # :107-197 (the flags the stack passes)
  case "${1}" in
    -f | --force) FORCE=y ;;
    --skip-start) SKIP_START=y ;;
    --skip-ping-check) ;; # the check is curl to github.com (core.sh:108-116); nothing to check here
    *) echo "unexpected flag ${1}" >&2; exit 1 ;;
  esac
  shift
done
[ "$FORCE" = y ] || { echo "Are you sure you want to update mailcow: dockerized? [y/N]" >&2; read -r answer; [ "$answer" = y ] || exit 0; }
# shellcheck source=/dev/null
source mailcow.conf # :202
git fetch origin # :350-351: the update script itself from origin/<branch>
git checkout "origin/${BRANCH}" -- update.sh
docker compose down # :395-403
# :405 configure_ipv6 without IPv6 connectivity (ipv6_controller.sh:211-223) and :407-408
# migrate_config_options/adapt_new_options (new_options.sh: a key this release knows and the file lacks).
sed -i 's/^ENABLE_IPV6=.*/ENABLE_IPV6=false/' mailcow.conf
lab_new_options
# :411-428 the origin URL must be mailcow's (a lab points it at its own repository instead)
# :430-441 commit local changes, fetch, merge @{upstream}
[[ -z "$(git config user.name)" ]] && git config user.name moo
[[ -z "$(git config user.email)" ]] && git config user.email moo@cow.moo
git add -u
git commit -am "Before update on lab" >/dev/null
git fetch origin
git config merge.defaultToUpstream true
git merge -X"${MERGE_STRATEGY:-theirs}" -Xpatience -m "After update on lab"
MERGE_RETURN=$?
if [[ ${MERGE_RETURN} == 128 ]]; then # :442-459
  echo -e "\nOh no, what happened?\n=> You most likely added files to your local mailcow instance that were now added to the official mailcow repository."
  exit 1
elif [[ ${MERGE_RETURN} != 0 ]]; then
  echo "Oh no, something went wrong." >&2
  exit 1
fi
docker compose pull # :465
cp -n -d data/assets/ssl-example/*.pem data/assets/ssl/ # :469-470
if [[ ${SKIP_START} != "y" ]]; then docker compose up -d --remove-orphans; fi # :543-549
[ -z "${LAB_UPDATE_FAIL:-}" ] || { echo "lab: update.sh fails after the merge" >&2; exit 1; }
exit 0
