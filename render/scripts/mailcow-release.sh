#!/bin/bash
# mailstack mailcow-release: mailcow-dockerized at the pinned release. A new host gets a clone at
# the release; a host at an older release is upgraded to it through mailcow's own update.sh, after
# a fresh backup. Settings (from the stack): MAILCOW_DIR, REPOSITORY, TAG, COMMIT (the tag's commit,
# verified after every fetch), BACKUP_DIR (local pre-upgrade backups), OFFSITE_BACKUP_TOOL,
# UNATTENDED_STATE (optional: where mailstack-mailcow-update records an unattended upgrade).
# mailstack-mailcow-update runs this same script for a newer release than the rendered one, with
# MAILSTACK_RELEASE_TAG and MAILSTACK_RELEASE_COMMIT (both or neither) in the environment.
#
# What update.sh does with git (mailcow-dockerized 2026-07a, update.sh):
# - :20 takes the branch from `git rev-parse --abbrev-ref HEAD`; on a detached tag checkout that is
#   "HEAD", and the merge at :441 dies "fatal: No current branch" after :395-403 stopped mailcow.
# - :43-44 and :350-351 fetch origin and check out _modules and update.sh from origin/<branch>; if
#   _modules changed it exits 2 ("Please restart the update script", :52-56).
# - :430-441 commits local changes of tracked files, fetches origin and merges @{upstream}
#   (merge.defaultToUpstream) with -Xtheirs; it cannot target a tag, it follows the branch tip.
# So the host runs on the branch master, and origin/master is made to be the pinned release: the
# remote's fetch refspec maps refs/tags/<TAG> to refs/remotes/origin/master and master's upstream is
# that tag. update.sh then fetches, checks out and merges exactly the release (mailcow's tags are
# plain commits on master).
set -euo pipefail
umask 022

log() { echo "mailstack: $*"; }
fail() {
  echo "mailstack: $*" >&2
  exit 1
}

git_() { git -C "$MAILCOW_DIR" "$@"; }

if [ -n "${MAILSTACK_RELEASE_TAG:-}" ] || [ -n "${MAILSTACK_RELEASE_COMMIT:-}" ]; then
  [[ "${MAILSTACK_RELEASE_TAG:-}" =~ ^[0-9]{4}-[0-9]{2}[a-z]?$ ]] || fail "MAILSTACK_RELEASE_TAG must be a release tag such as 2026-07a"
  [[ "${MAILSTACK_RELEASE_COMMIT:-}" =~ ^[0-9a-f]{40}$ ]] || fail "MAILSTACK_RELEASE_COMMIT must be the tag's 40-digit commit"
  RELEASE_TAG=$MAILSTACK_RELEASE_TAG
  RELEASE_COMMIT=$MAILSTACK_RELEASE_COMMIT
else
  RELEASE_TAG=$TAG
  RELEASE_COMMIT=$COMMIT
fi
readonly RELEASE_TAG RELEASE_COMMIT

# pin_release: origin/master and master's upstream are the release; the tag must be the commit the
# stack pins (a moved tag is refused).
pin_release() {
  git_ config remote.origin.url "$REPOSITORY"
  git_ config --replace-all remote.origin.fetch "+refs/tags/$RELEASE_TAG:refs/remotes/origin/master"
  git_ config remote.origin.tagOpt --no-tags
  git_ config branch.master.remote origin
  git_ config branch.master.merge "refs/tags/$RELEASE_TAG"
  git_ fetch --quiet origin
  git_ fetch --quiet origin "+refs/tags/$RELEASE_TAG:refs/tags/$RELEASE_TAG"
  local fetched
  fetched=$(git_ rev-parse "refs/remotes/origin/master^{commit}")
  [ "$fetched" = "$RELEASE_COMMIT" ] || fail "the tag $RELEASE_TAG of $REPOSITORY is commit $fetched, not the pinned $RELEASE_COMMIT: it moved; check the release and set mailstack:mailcow.commit"
}

current_commit() { git_ rev-parse HEAD 2>/dev/null || true; }

if [ ! -d "$MAILCOW_DIR/.git" ]; then
  log "installing mailcow $RELEASE_TAG ($RELEASE_COMMIT)"
  git clone --quiet --no-checkout "$REPOSITORY" "$MAILCOW_DIR"
  pin_release
  git_ checkout --quiet -B master "$RELEASE_COMMIT"
  log "mailcow $RELEASE_TAG installed"
  exit 0
fi

if [ "$(current_commit)" = "$RELEASE_COMMIT" ] && [ "$(git_ rev-parse --abbrev-ref HEAD)" = master ]; then
  pin_release
  log "mailcow is at $RELEASE_TAG"
  exit 0
fi

# ---- upgrade --------------------------------------------------------------------------------------
previous=$(current_commit)
previous_tag=$(git_ describe --tags --exact-match "$previous" 2>/dev/null || echo "$previous")
# An unattended upgrade (mailstack-mailcow-update) moved the host past the stack's pin: nothing is
# downgraded; the operator records the release in the stack's configuration.
if [ -n "${UNATTENDED_STATE:-}" ] && [ -f "$UNATTENDED_STATE" ] &&
  [ "$(sed -n 's/^commit=//p' "$UNATTENDED_STATE")" = "$previous" ]; then
  fail "mailcow was upgraded unattended to $previous_tag ($previous) on $(sed -n 's/^date=//p' "$UNATTENDED_STATE"); the stack pins $RELEASE_TAG: set mailstack:mailcow.version to $previous_tag (and mailstack:mailcow.commit to $previous if mailstack does not know that release yet), then run pulumi up again"
fi
git_ merge-base --is-ancestor "$previous" "$RELEASE_COMMIT" 2>/dev/null || {
  pin_release
  git_ merge-base --is-ancestor "$previous" "$RELEASE_COMMIT" ||
    fail "mailcow is at $previous_tag, which is not an ancestor of $RELEASE_TAG: a downgrade or another branch; restore a backup of that release instead"
}
log "upgrading mailcow $previous_tag -> $RELEASE_TAG"

# 1. A fresh backup first: the off-site one when it is installed, mailcow's own locally otherwise.
if [ -x "$OFFSITE_BACKUP_TOOL" ]; then
  "$OFFSITE_BACKUP_TOOL" run || fail "the backup before the upgrade failed; mailcow stays at $previous_tag"
else
  install -d -m 0700 "$BACKUP_DIR"
  stage="$BACKUP_DIR/before-$RELEASE_TAG"
  # backup_and_restore.sh wants its location readable by others (helper-scripts/backup_and_restore.sh:45).
  install -d -m 0755 "$stage"
  (cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$stage" THREADS="${THREADS:-2}" \
    helper-scripts/backup_and_restore.sh backup all </dev/null) ||
    fail "mailcow's backup before the upgrade failed; mailcow stays at $previous_tag"
  log "backup before the upgrade in $stage"
fi

# 2. On failure from here on, mailcow goes back to the release it ran (no data was migrated yet:
#    the database schema moves only when the new php-fpm starts).
cp -p "$MAILCOW_DIR/mailcow.conf" "$MAILCOW_DIR/mailcow.conf.before-$RELEASE_TAG"
upgraded=0
rollback() {
  local status=$?
  [ "$status" -ne 0 ] && [ "$upgraded" -eq 0 ] || return 0
  echo "mailstack: the upgrade to $RELEASE_TAG failed; restarting mailcow $previous_tag" >&2
  git_ checkout --quiet -f -B master "$previous" || true
  cp -p "$MAILCOW_DIR/mailcow.conf.before-$RELEASE_TAG" "$MAILCOW_DIR/mailcow.conf" || true
  (cd "$MAILCOW_DIR" && docker compose up -d --remove-orphans) || true
  exit "$status"
}
trap rollback EXIT

# Tracked files the containers rewrite (postfix.sh rewrites data/conf/postfix/main.cf) would be
# committed by update.sh and turn its fast-forward into a merge; they are saved and reset (the
# containers write them again at start).
if ! git_ diff --quiet; then
  install -d -m 0700 "$MAILCOW_DIR/update_diffs"
  git_ diff >"$MAILCOW_DIR/update_diffs/mailstack-before-$RELEASE_TAG.diff"
  git_ checkout --quiet -- .
fi
[ "$(git_ rev-parse --abbrev-ref HEAD)" = master ] || git_ checkout --quiet -B master "$previous"
pin_release

# 3. mailcow's update.sh, without questions (--force), without starting mailcow (the stack writes
#    mailcow.conf and starts it next). It exits 2 when it updated _modules: run it again.
status=2
for attempt in 1 2 3; do
  set +e
  (cd "$MAILCOW_DIR" && ./update.sh --force --skip-ping-check --skip-start </dev/null)
  status=$?
  set -e
  [ "$status" -eq 2 ] || break
  log "update.sh updated itself (attempt $attempt); running it again"
done
[ "$status" -eq 0 ] || fail "mailcow's update.sh failed (exit $status); see its output above"

# 4. update.sh's commit of the files it checked out leaves a merge whose tree is the release's:
#    master is set to the release itself. Any other difference is an error.
if [ "$(current_commit)" != "$RELEASE_COMMIT" ]; then
  git_ diff --quiet "$RELEASE_COMMIT" HEAD -- || fail "after update.sh the tree differs from $RELEASE_TAG: $(git_ diff --stat "$RELEASE_COMMIT" HEAD -- | tail -n 1)"
  git_ update-ref refs/heads/master "$RELEASE_COMMIT"
fi
[ "$(current_commit)" = "$RELEASE_COMMIT" ] || fail "mailcow is not at $RELEASE_TAG after the upgrade"
upgraded=1
rm -f "$MAILCOW_DIR/mailcow.conf.before-$RELEASE_TAG"
log "mailcow upgraded to $RELEASE_TAG"
