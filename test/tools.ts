// Tests that need a system tool call requireTool: a missing tool fails the test loudly
// (scripts/system-deps.sh installs them); it never turns into a skipped test.
import { execFileSync } from "node:child_process";

const checked = new Map<string, boolean>();

export function requireTool(command: string): void {
  let present = checked.get(command);
  if (present === undefined) {
    try {
      // A command on PATH, or an absolute path to an executable.
      execFileSync("sh", ["-c", 'case "$1" in /*) test -x "$1" ;; *) command -v "$1" ;; esac', "sh", command], {
        stdio: "ignore",
      });
      present = true;
    } catch {
      present = false;
    }
    checked.set(command, present);
  }
  if (!present) {
    throw new Error(
      `${command} is not installed; run scripts/system-deps.sh (it installs the packages in system-deps.txt)`,
    );
  }
}
