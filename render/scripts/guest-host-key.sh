#!/bin/bash
# mailstack guest-host-key: prints the VM's SSH host key, read on the Proxmox node through the
# guest agent (`qm guest exec` answers JSON with out-data and exitcode), so the bring-up pins the
# key it connects to. Settings: VM_ID.
set -euo pipefail

for attempt in $(seq 1 120); do
  if out=$(qm guest exec "$VM_ID" --timeout 15 -- cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null); then
    key=$(printf '%s' "$out" | perl -MJSON::PP -0777 -ne 'my $r = decode_json($_); print $r->{"out-data"} if ($r->{exitcode} // 1) == 0')
    if [ -n "$key" ]; then
      printf '%s\n' "$key"
      exit 0
    fi
  fi
  sleep 5
done
echo "mailstack: no SSH host key from VM $VM_ID after $attempt attempts (guest agent not running?)" >&2
exit 1
