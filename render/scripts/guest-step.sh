#!/bin/bash
# mailstack guest-step: runs a bring-up step inside the VM through the QEMU guest agent, on the
# Proxmox node (root there, host key pinned in the config). It does not depend on any SSH identity
# inside the VM, so it can create or repair the one the later steps connect as (the deploy user),
# on a VM deployed before that user existed as on a new one.
# `qm guest exec` (qemu-server 9.2.6 src/PVE/CLI/qm.pm "exec"): --pass-stdin forwards stdin (at
# most 1 MiB) as the agent's input-data; with --timeout N it waits up to N seconds and prints
# {"exitcode", "exited": 1, "out-data", "err-data"} (decoded, QemuServer/Agent.pm
# qemu_exec_status), or only {"pid"} plus "timeout reached, returning pid" when N passed.
# Settings: VM_ID, STEP (for messages), STEP_TIMEOUT (seconds), GUEST_SCRIPT_B64 (run by bash -s).
set -euo pipefail

# result MODE: reads a `qm guest exec` answer (stdin); fails when the command was still running.
# MODE relay: the command's output and exit code become the step's; MODE finished: only that it ended.
result() {
  perl -MJSON::PP -0777 -e '
    my ($mode, $step, $vm, $timeout) = @ARGV;
    my $r = decode_json(<STDIN>);
    if (!$r->{exited}) {
      print STDERR "mailstack $step: still running in VM $vm after $timeout s (pid $r->{pid})\n";
      exit 1;
    }
    exit 0 if $mode eq "finished";
    print STDOUT $r->{"out-data"} // "";
    print STDERR $r->{"err-data"} // "";
    exit($r->{exitcode} // 1);
  ' "$1" "$STEP" "$VM_ID" "$STEP_TIMEOUT"
}

# The agent answers once the VM runs it (a VM that just rebooted may take a while).
for attempt in $(seq 1 60); do
  if qm guest exec "$VM_ID" --timeout 15 -- true >/dev/null 2>&1; then break; fi
  if [ "$attempt" -eq 60 ]; then
    echo "mailstack $STEP: the guest agent of VM $VM_ID does not answer (is qemu-guest-agent running?)" >&2
    exit 1
  fi
  sleep 5
done

# First boot runs the same host scripts: wait until cloud-init is done (at once on a running VM).
# Its outcome (done, error, degraded) is the cloud-init step's to report.
answer=$(qm guest exec "$VM_ID" --timeout "$STEP_TIMEOUT" -- cloud-init status --wait) || {
  echo "mailstack $STEP: qm guest exec failed on VM $VM_ID" >&2
  exit 1
}
result finished <<<"$answer"

answer=$(base64 -d <<<"$GUEST_SCRIPT_B64" | qm guest exec "$VM_ID" --timeout "$STEP_TIMEOUT" --pass-stdin 1 -- bash -s) || {
  echo "mailstack $STEP: qm guest exec failed on VM $VM_ID" >&2
  exit 1
}
result relay <<<"$answer"
