# mailstack tool library: the command line and the log of a tool a timer or an admin runs (not a
# bring-up step); included by the renderer after the tool's settings (render/shell.ts). The tool
# sets TOOL, its name, before it calls these.

# dry_run_requested [ARG]: succeeds for --dry-run, fails without an argument; anything else prints
# the usage and ends the tool with exit code 2.
dry_run_requested() {
  case "${1:-}" in
    "") return 1 ;;
    --dry-run) return 0 ;;
    *)
      echo "usage: $TOOL [--dry-run]" >&2
      exit 2
      ;;
  esac
}

# log MESSAGE…: a line on stdout, prefixed with the tool's name.
log() { echo "$TOOL: $*"; }
