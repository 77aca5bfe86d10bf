#!/bin/bash
# mailstack-report: what an incident responder needs first, in one redacted text: versions, the
# containers' states, the mail queue, recent authentication failures (mail and SSH), CrowdSec's
# decisions, the last backup and pending updates. Anything that looks like a secret (password=,
# token:, API keys, private keys) is replaced by [redacted] before it is printed; mailcow.conf and
# the stack's secret files are never read. The report still holds personal data (addresses, IPs):
# hand it on as the retention policy in the README says.
#
#   mailstack-report [--since "24 hours ago"] [--output FILE]
#
# Settings (from the stack): MAILCOW_DIR, BACKUP_TOOL, UPDATE_METRICS (the release check's textfile).
set -uo pipefail
umask 077

readonly TOOL=mailstack-report
since="24 hours ago"
output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --since)
      since=${2:?--since needs a time}
      shift 2
      ;;
    --output)
      output=${2:?--output needs a file}
      shift 2
      ;;
    *)
      echo "usage: $TOOL [--since TIME] [--output FILE]" >&2
      exit 2
      ;;
  esac
done

# redact: secret-looking values become [redacted]; private keys disappear whole.
redact() {
  sed -E \
    -e '/-----BEGIN [A-Z ]*PRIVATE KEY-----/,/-----END [A-Z ]*PRIVATE KEY-----/c\[redacted private key]' \
    -e 's/((pass(word|wd|phrase)?|secret|token|api[_-]?key|authorization|credentials?)[^[:alnum:][:space:]]?[[:space:]]*[:=][[:space:]]*)("[^"]*"|[^[:space:],;]+)/\1[redacted]/Ig' \
    -e 's/(bearer[[:space:]]+)[A-Za-z0-9._~+\/-]+/\1[redacted]/Ig'
}

section() { printf '\n==== %s ====\n' "$1"; }
# run_part TITLE COMMAND...: the command's output (or why there is none), limited in length.
run_part() {
  local title=$1
  shift
  section "$title"
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "($1 is not installed)"
    return
  fi
  "$@" 2>&1 | tail -n 200 || true
}
compose() { (cd "$MAILCOW_DIR" && docker compose "$@"); }
mail_auth_failures() {
  compose logs --no-color --since "$(date -d "$since" +%s)" dovecot-mailcow postfix-mailcow 2>&1 |
    grep -iE 'auth(entication)? failed|password mismatch|sasl.*fail|unknown user' | tail -n 100
}

report() {
  section "mailstack incident report"
  echo "host: $(hostname -f 2>/dev/null || hostname)"
  echo "created: $(date -Is)"
  echo "since: $since"
  section "versions"
  echo "kernel: $(uname -r)"
  echo "os: $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')"
  echo "docker: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)"
  echo "compose: $(docker compose version --short 2>/dev/null || echo unknown)"
  echo "mailcow: $(git -C "$MAILCOW_DIR" describe --tags --always 2>/dev/null || echo unknown)"
  if [ -e /var/run/reboot-required ]; then echo "reboot required: yes"; else echo "reboot required: no"; fi
  if [ -r "$UPDATE_METRICS" ]; then grep -E '^mailstack_mailcow_(update_available|release_info)' "$UPDATE_METRICS"; fi
  section "containers"
  compose ps --all --format 'table {{.Service}}\t{{.State}}\t{{.Status}}' 2>&1 | tail -n 50
  section "mail queue"
  compose exec -T postfix-mailcow postqueue -p 2>&1 | tail -n 30
  section "mail authentication failures since $since"
  mail_auth_failures
  run_part "SSH authentication failures since $since" journalctl --no-pager -q -u ssh.service --since "$since" --grep 'Failed|Invalid user|authentication failure'
  run_part "CrowdSec decisions" cscli decisions list -o human
  run_part "CrowdSec alerts" cscli alerts list --since 24h -o human
  run_part "firewall" ufw status verbose
  run_part "last backup" "$BACKUP_TOOL" status
  run_part "disk" df -h / /var/lib/docker
  run_part "failed units" systemctl --failed --no-legend --no-pager
}

if [ -n "$output" ]; then
  report | redact >"$output"
  echo "$TOOL: report written to $output (root only; it holds personal data)"
else
  report | redact
fi
