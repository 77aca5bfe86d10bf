// Files components ask the plan to write: any component output `planFiles: [{path, content}]`
// (paths relative to out/<stack>/, e.g. files/<host>/<path> or firewall.md). Redacted again in
// case a real secret slipped through.
import { redact, type ProgramRun } from "./engine";
import type { PlanFile } from "./write";

export function componentFiles(run: ProgramRun): PlanFile[] {
  return run.resources.flatMap((resource) => {
    const files = resource.outputs?.planFiles;
    return files === undefined ? [] : (redact(files) as PlanFile[]);
  });
}
