#!/bin/bash
# mailstack pve-backup-metrics: the mail VM's vzdump (PBS) backups as metrics for node_exporter's
# textfile collector on the Proxmox node, written atomically to TEXTFILE_DIR/PROM_FILE. Run by a
# systemd timer on the node. Reads every node's task archive through the API (the VM may run on
# any node of an HA group): `pvesh get /nodes/<node>/tasks --typefilter vzdump --vmid <vmid>`
# (pve-manager master 14a22df PVE/API2/Tasks.pm: finished tasks from the index, each with
# starttime, endtime and status "OK", "WARNINGS: n" or the error; PVE/API2/VZDump.pm:175-178 gives
# a single-VM job the vmid as task id, which --vmid matches). Settings (from the stack): VMID,
# STACK, MAIL_HOST, TEXTFILE_DIR, PROM_FILE, STATE_DIR.
set -uo pipefail
umask 022

now=$(date +%s)
tmp=$(mktemp "$TEXTFILE_DIR/.$PROM_FILE.XXXXXX")
trap 'rm -f "$tmp"' EXIT
label() {
  local value=${1//\\/\\\\}
  value=${value//\"/\\\"}
  printf '%s' "${value//$'\n'/\\n}"
}
labels="stack=\"$(label "$STACK")\",mail_host=\"$(label "$MAIL_HOST")\",kind=\"pbs\",vmid=\"$VMID\""
family() { printf '# HELP %s %s\n# TYPE %s gauge\n' "$1" "$2" "$1" >>"$tmp"; }

if [ ! -s "$STATE_DIR/pbs-monitored-since" ]; then
  install -d -m 0755 "$STATE_DIR"
  echo "$now" >"$STATE_DIR/pbs-monitored-since"
fi

tasks="[]"
ok=1
if nodes=$(pvesh get /nodes --output-format json 2>/dev/null | jq -r '.[] | select(.status == "online") | .node'); then
  for node in $nodes; do
    if found=$(pvesh get "/nodes/$node/tasks" --typefilter vzdump --vmid "$VMID" --limit 50 --output-format json 2>/dev/null); then
      tasks=$(jq -s 'add' <(printf '%s' "$tasks") <(printf '%s' "$found"))
    else
      ok=0
    fi
  done
else
  ok=0
fi

# The newest finished task decides the result; the newest good one (OK or only warnings) the age.
last=$(jq -r 'map(select(.endtime != null)) | max_by(.starttime) // empty | [.endtime, .status] | @tsv' <<<"$tasks")
success=$(jq -r '[.[] | select(.endtime != null and ((.status // "") | test("^(OK|WARNINGS: [0-9]+)$"))) | .endtime] | max // 0' <<<"$tasks")

family mailstack_backup_configured_timestamp_seconds "Since when the VM's PBS backup is watched."
echo "mailstack_backup_configured_timestamp_seconds{$labels} $(cat "$STATE_DIR/pbs-monitored-since")" >>"$tmp"
family mailstack_backup_last_success_timestamp_seconds "When the VM's last good vzdump ended (0: none in the task archive)."
echo "mailstack_backup_last_success_timestamp_seconds{$labels} $success" >>"$tmp"
if [ -n "$last" ]; then
  IFS=$'\t' read -r ended status <<<"$last"
  family mailstack_backup_last_run_timestamp_seconds "When the VM's last vzdump ended."
  echo "mailstack_backup_last_run_timestamp_seconds{$labels} $ended" >>"$tmp"
  family mailstack_backup_last_run_success "1 when the VM's last vzdump succeeded; error is its status."
  if [[ "$status" =~ ^(OK|WARNINGS:\ [0-9]+)$ ]]; then
    echo "mailstack_backup_last_run_success{$labels} 1" >>"$tmp"
  else
    echo "mailstack_backup_last_run_success{$labels,error=\"$(label "${status:0:200}")\"} 0" >>"$tmp"
  fi
fi
family mailstack_metrics_section_success "1 when the collector could read the section."
echo "mailstack_metrics_section_success{stack=\"$(label "$STACK")\",mail_host=\"$(label "$MAIL_HOST")\",section=\"pbs\"} $ok" >>"$tmp"
family mailstack_metrics_last_run_timestamp_seconds "When the collector last ran."
echo "mailstack_metrics_last_run_timestamp_seconds{stack=\"$(label "$STACK")\",mail_host=\"$(label "$MAIL_HOST")\"} $now" >>"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$TEXTFILE_DIR/$PROM_FILE"
trap - EXIT
