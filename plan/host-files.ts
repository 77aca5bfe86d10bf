// files/<host>/<path> for every rendered file a component reports in its `renderedFiles` output
// (secrets already stand-ins; redacted again in case a real one slipped through).
import { redact, type ProgramRun } from "./engine";
import type { PlanFile } from "./write";

interface RenderedFile {
  host: string;
  path: string;
  content: string;
}

export function hostFiles(run: ProgramRun): PlanFile[] {
  return run.resources.flatMap((resource) => {
    const files = resource.outputs?.renderedFiles;
    if (files === undefined) return [];
    return (redact(files) as RenderedFile[]).map((file) => ({
      path: `files/${file.host}/${file.path.replace(/^\/+/, "")}`,
      content: file.content,
    }));
  });
}
