// Files components show in the plan (components/plan-files.ts; paths relative to out/<stack>/,
// e.g. files/<host>/<path> or firewall.md), serialized the way the engine would see them and
// redacted again in case a real secret slipped through.
import { wire as rpc } from "../common/sdk-internals";
import { takeShownFiles } from "../components/plan-files";
import { redact } from "./engine";
import type { PlanFile } from "./write";

export async function componentFiles(): Promise<PlanFile[]> {
  const shown = takeShownFiles();
  const wire = (await rpc.serializeProperty("planFiles", shown, new Set())) as unknown;
  return (redact(wire) as PlanFile[][]).flat();
}
