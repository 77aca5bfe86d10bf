#!/bin/bash
# A stand-in for Proxmox's `qm guest exec` on a node, for the guest-step lab: the "guest" is a
# mount namespace (FAKE_QM_GUEST: the pid of a process in it), the agent's exec runs the command
# there as root with a minimal environment, like qemu-ga.
# Upstream source: proxmox/qemu-server@9.2.6 src/PVE/CLI/qm.pm (exec: --timeout, --pass-stdin,
# the result printed as pretty canonical JSON) and src/PVE/QemuServer/Agent.pm (qemu_exec_status:
# out-data and err-data decoded, booleans as 1/0). QEMU's guest-exec-status leaves out-data and
# err-data out when empty. Simplified: never times out, one VM, only `guest exec`.
# Every call is appended to FAKE_QM_LOG as "VMID COMMAND...".
set -euo pipefail

if [ "${1:-} ${2:-}" != "guest exec" ]; then
  echo "fake qm: only 'qm guest exec' is modelled" >&2
  exit 2
fi
vmid=$3
shift 3
pass_stdin=0
while [ "${1:-}" != "--" ]; do
  case ${1:-} in
    --timeout) shift 2 ;;
    --pass-stdin) pass_stdin=$2; shift 2 ;;
    *) echo "fake qm: unknown option ${1:-}" >&2; exit 2 ;;
  esac
done
shift
echo "$vmid $*" >>"$FAKE_QM_LOG"

input=/dev/null
if [ "$pass_stdin" = 1 ]; then input=/dev/stdin; fi
out=$(mktemp)
err=$(mktemp)
status=0
nsenter -t "$FAKE_QM_GUEST" -m -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
  <"$input" >"$out" 2>"$err" || status=$?
python3 - "$status" "$out" "$err" <<'PY'
import json, sys
status, out, err = sys.argv[1:]
result = {"exited": 1, "exitcode": int(status)}
for key, path in (("out-data", out), ("err-data", err)):
    data = open(path, encoding="utf-8", errors="replace").read()
    if data:
        result[key] = data
print(json.dumps(result, indent=3, sort_keys=True))
PY
rm -f "$out" "$err"
