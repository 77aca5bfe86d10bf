# mailstack host script library: included by the renderer after a script's settings (render/shell.ts).
set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive

log() { echo "mailstack: $*"; }

# only_key FILE FINGERPRINT: succeeds when the OpenPGP key file holds exactly one primary key and it
# is FINGERPRINT (its own subkeys allowed); `gpg --dearmor` would import every key in the file, so a
# second key appended by a compromised mirror must not pass because the first one matches.
only_key() {
  local primaries
  primaries=$(gpg --batch --show-keys --with-colons "$1" | awk -F: '$1 == "pub" { want = 1; next } $1 == "fpr" && want { print $10; want = 0 }')
  if [ "$primaries" != "$2" ]; then
    echo "mailstack: $1 holds the keys [$(echo "$primaries" | paste -sd' ')], not exactly the pinned $2" >&2
    return 1
  fi
}

# write_file PATH MODE [CHECK] < content: installs the content atomically; succeeds only when it
# changed. A directory that exists keeps its mode (only a missing one is created, 0755). CHECK, a
# function name, is called with the new file's temporary path before it replaces anything; when it
# fails, the old file stays and the script ends.
write_file() {
  local path=$1 mode=$2 check=${3:-} dir tmp
  dir=$(dirname "$path")
  [ -d "$dir" ] || install -d -m 0755 "$dir"
  tmp=$(mktemp "$dir/.mailstack.XXXXXX") || exit 1
  cat >"$tmp" || exit 1
  chmod "$mode" "$tmp" || exit 1
  if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$tmp")" = "$(stat -c %a "$path")" ]; then
    rm -f "$tmp"
    return 1
  fi
  if [ -n "$check" ] && ! "$check" "$tmp"; then
    rm -f "$tmp"
    echo "mailstack: the new $path does not pass $check; the old one stays" >&2
    exit 1
  fi
  mv -f "$tmp" "$path" || exit 1
  echo "changed $path"
}

# install_file PATH MODE BASE64 [CHECK]: write_file with the decoded content (in this shell, so a
# failed check ends the script).
install_file() {
  write_file "$1" "$2" "${4:-}" < <(base64 -d <<<"$3")
}
