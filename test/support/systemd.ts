// systemd-analyze verify over rendered units (written to a directory first).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool } from "../tools";
import { run } from "./exec";

export async function systemdVerify(
  dir: string,
  units: readonly { readonly name: string; readonly content: string }[],
): Promise<{ status: number | null; stderr: string }> {
  requireTool("systemd-analyze");
  const paths = units.map((unit) => {
    const path = join(dir, unit.name);
    writeFileSync(path, unit.content);
    return path;
  });
  const result = await run("systemd-analyze", ["verify", "--man=no", ...paths]);
  return { status: result.status, stderr: result.stderr };
}
