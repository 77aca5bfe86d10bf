// Writes the plan's files into the output directory, replacing it as a whole: a failed run
// leaves the previous plan untouched and never a mix of two runs.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";

export interface PlanFile {
  /** Path relative to the output directory, with "/" separators (e.g. "dns/example.org.zone"). */
  readonly path: string;
  readonly content: string;
}

function checkedPath(path: string): string {
  const normalized = normalize(path);
  if (isAbsolute(path) || normalized.split(sep).includes("..") || normalized === ".") {
    throw new Error(`plan file path must stay inside the output directory: ${path}`);
  }
  return normalized;
}

export function writePlanFiles(outDir: string, files: readonly PlanFile[]): void {
  const target = resolve(outDir);
  const seen = new Set<string>();
  for (const file of files) {
    const path = checkedPath(file.path);
    if (seen.has(path)) throw new Error(`two plan files at ${file.path}`);
    seen.add(path);
  }
  mkdirSync(dirname(target), { recursive: true });
  const staging = mkdtempSync(`${target}.tmp-`);
  try {
    for (const file of files) {
      const path = join(staging, checkedPath(file.path));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
    }
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}
