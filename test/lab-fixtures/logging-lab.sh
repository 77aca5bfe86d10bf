#!/bin/bash
# The logging lab's host side, run inside a network namespace and a private mount namespace: a
# journald of its own with the rendered drop-in, rsyslogd with each rendered configuration (one per
# receiver), two journal lines (one ordinary, one that looks like it carries a secret), then waits
# until the receivers got what they will get. Environment: LAB_DIR (configs and outputs),
# LAB_DROP_IN (journald drop-in), LAB_CONFIGS (rsyslog configurations, space separated),
# LAB_RECEIVED (the receivers' output files, space separated, same order), LAB_MARK (the unique
# word in both lines), LAB_PFSENSE (optional: "<listen> <port> <pfSense address> <stranger address>", UDP
# syslog lines sent as pfSense's syslogd does, from both addresses).
set -euo pipefail

# `ip netns exec` mounts a fresh /sys without cgroups, which journald needs to start.
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
for dir in /run/systemd /run/log/journal /var/log/journal /etc/systemd/journald.conf.d; do
  mkdir -p "$dir"
  mount -t tmpfs tmpfs "$dir"
done
mkdir -p /run/systemd/journal
cp "$LAB_DROP_IN" /etc/systemd/journald.conf.d/90-mailstack.conf
/lib/systemd/systemd-journald >"$LAB_DIR/journald.log" 2>&1 &
journald=$!
pids=("$journald")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
# journald accepts stream clients once it is listening: probe until one is taken.
for _ in $(seq 1 100); do
  echo probe | systemd-cat -t mailstack-lab-probe 2>/dev/null && break
  sleep 0.1
done

# What systemd-journal-flush.service does at boot: from here on the persistent journal is used.
journalctl --flush
read -r -a configs <<<"$LAB_CONFIGS"
read -r -a received <<<"$LAB_RECEIVED"
index=0
for config in "${configs[@]}"; do
  rsyslogd -n -f "$config" -i "$LAB_DIR/rsyslog-$index.pid" >"$LAB_DIR/rsyslog-$index.log" 2>&1 &
  pids+=("$!")
  index=$((index + 1))
done
sleep 1
echo "ordinary line $LAB_MARK from the journal" | systemd-cat -t mailstack-lab
echo "login failed for bob password=hunter2-$LAB_MARK" | systemd-cat -t mailstack-lab
if [[ -n "${LAB_PFSENSE:-}" ]]; then
  read -r listen port pfsense stranger <<<"$LAB_PFSENSE"
  # pfSense's syslogd: one RFC 3164 datagram per line, from the address it binds (-b).
  for from in "$pfsense" "$stranger"; do
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(sys.argv[4].encode(), (sys.argv[2], int(sys.argv[3])))' \
      "$from" "$listen" "$port" "<134>Dec  1 12:00:00 pfSense filterlog[4242]: 9,,,1000000103,vtnet0,match,block,in,4 from-$from $LAB_MARK"
  done
fi
echo "after $LAB_MARK" | systemd-cat -t mailstack-lab

# The first receiver gets the lines it will get; then the others had as long.
for _ in $(seq 1 300); do
  grep -q "after $LAB_MARK" "${received[0]}" 2>/dev/null && break
  sleep 0.1
done
sleep 2
journalctl --no-pager -q -t mailstack-lab >"$LAB_DIR/journal.txt"
# journald's own account of its bounds ("System Journal (…) is …, max …").
journalctl --no-pager -q -t systemd-journald >"$LAB_DIR/journald-limits.txt"
