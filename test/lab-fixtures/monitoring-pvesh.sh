#!/bin/bash
# A stand-in for pvesh in the monitoring lab: answers the two reads pve-backup-metrics makes with
# fixture JSON in pvesh's `--output-format json` shapes (pve-manager PVE/API2/Nodes.pm index:
# [{node, status, …}]; PVE/API2/Tasks.pm node_tasks: [{upid, node, type, id, starttime, endtime,
# status, …}], only finished tasks carry endtime and status).
#   $FIXTURES/nodes.json          GET /nodes
#   $FIXTURES/tasks-<node>.json   GET /nodes/<node>/tasks (the filter arguments are recorded)
set -euo pipefail
echo "pvesh $*" >>"$FIXTURES/calls.log"
[ "${1:-}" = get ] || exit 1
case ${2:-} in
/nodes) cat "$FIXTURES/nodes.json" ;;
/nodes/*/tasks)
  node=${2#/nodes/}
  node=${node%/tasks}
  [ -f "$FIXTURES/tasks-$node.json" ] || {
    echo "no such node '$node'" >&2
    exit 2
  }
  cat "$FIXTURES/tasks-$node.json"
  ;;
*) exit 1 ;;
esac
