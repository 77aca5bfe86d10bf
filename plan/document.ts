// Turns a recorded program run into the plan's documents (pure).
import { sha256Hex } from "../render/hash";
import { redact, STACK_TYPE, UNKNOWN, type ProgramRun, type RecordedResource } from "./engine";
import type { PlanFile } from "./write";

export interface PlanResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent: string | null;
  readonly provider?: string;
  readonly dependencies: readonly string[];
  readonly inputs: unknown;
  readonly options?: Readonly<Record<string, unknown>>;
  /** Output values of this resource were generated locally for the plan. */
  readonly previewValues?: true;
}

export interface PlanDocument {
  readonly project: string;
  readonly stack: string;
  readonly preview: true;
  readonly notes: readonly string[];
  readonly resources: readonly PlanResource[];
}

export const PREVIEW_NOTE =
  "Keys and random values of @pulumi/tls and @pulumi/random resources (previewValues: true) were generated " +
  "locally for this plan, so that records and hashes derived from them are real; `pulumi up` generates its own.";
export const UNKNOWN_NOTE = `"${UNKNOWN}" marks values a provider only knows after apply; "[secret]" marks secrets.`;

/** Inputs as the plan shows them: a dynamic provider's serialized code only by size and hash. */
function shownInputs(resource: RecordedResource): unknown {
  const inputs = redact(resource.inputs) as Record<string, unknown>;
  const code = inputs.__provider;
  if (typeof code !== "string") return inputs;
  const digest = sha256Hex(code).slice(0, 16);
  return { ...inputs, __provider: `[dynamic provider: ${code.length} bytes, sha256 ${digest}…]` };
}

export function planResource(resource: RecordedResource): PlanResource {
  return {
    urn: resource.urn,
    type: resource.type,
    name: resource.name,
    parent: resource.parent ?? null,
    ...(resource.provider ? { provider: resource.provider } : {}),
    dependencies: resource.dependencies,
    inputs: shownInputs(resource),
    ...(Object.keys(resource.options).length > 0 ? { options: resource.options } : {}),
    ...(resource.generated ? { previewValues: true as const } : {}),
  };
}

export function planDocument(project: string, stack: string, run: ProgramRun, notes: readonly string[]): PlanDocument {
  return {
    project,
    stack,
    preview: true,
    notes: [PREVIEW_NOTE, UNKNOWN_NOTE, ...notes],
    resources: run.resources.map(planResource),
  };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The files every plan writes; components add their own renderings beside these. */
export function planFiles(document: PlanDocument, run: ProgramRun): PlanFile[] {
  return [
    { path: "plan.json", content: json(document) },
    { path: "outputs.json", content: json(redact(run.outputs)) },
  ];
}

/** Resource counts by type, without the root stack. */
export function countByType(run: ProgramRun): [string, number][] {
  const counts = new Map<string, number>();
  for (const resource of run.resources) {
    if (resource.type === STACK_TYPE) continue;
    counts.set(resource.type, (counts.get(resource.type) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : 1));
}
