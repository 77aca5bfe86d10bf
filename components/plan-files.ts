// Files a component shows in the offline plan (out/<stack>/files/…, firewall.md): what it renders,
// handed to the plan directly and never registered as outputs, so none of it is written to the
// state of a real `pulumi up` (it would be tens of kilobytes on every update). Under the real
// engine nobody reads them.
import type * as pulumi from "@pulumi/pulumi";

export interface ShownFile {
  /** Relative to out/<stack>/, "/" separated (e.g. files/<host>/<path>). */
  readonly path: string;
  readonly content: string;
}

// One list per process, whichever copy of this module a loader made (the plan and its tests load
// the program through different loaders).
const SINK = Symbol.for("mailstack.planFiles");
type Sink = { [SINK]?: pulumi.Input<readonly pulumi.Input<ShownFile>[]>[] };

/** Shows files in the offline plan. */
export function showInPlan(files: pulumi.Input<readonly pulumi.Input<ShownFile>[]>): void {
  const sink = globalThis as Sink;
  (sink[SINK] ??= []).push(files);
}

/** The files shown since the last call (the plan takes them after the program ran). */
export function takeShownFiles(): pulumi.Input<readonly pulumi.Input<ShownFile>[]>[] {
  const sink = globalThis as Sink;
  const files = sink[SINK] ?? [];
  sink[SINK] = [];
  return files;
}
