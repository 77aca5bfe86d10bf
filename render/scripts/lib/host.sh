# mailstack host script library: included by the renderer after a script's settings (render/shell.ts).
set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive

log() { echo "mailstack: $*"; }

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
