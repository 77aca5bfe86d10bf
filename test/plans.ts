// Plans of the example stacks for tests. Key material is generated once per test file and
// reused by every plan in it (RSA 4096 takes about a second), by resource type and name.
import { resolve } from "node:path";
import { require as tsxRequire } from "tsx/cjs/api";
import type { OutputSimulator } from "../plan/engine";
import type { Generated } from "../plan/local-values";
import type * as Run from "../plan/run";
import type * as LocalValues from "../plan/local-values";
import type { PlanOptions, PlanResult } from "../plan/run";

export const root = resolve(__dirname, "..");

// The program is loaded by Node's own CommonJS loader (with tsx for TypeScript), as under the
// Pulumi CLI: vitest's module transform would make the dynamic providers unserializable.
const run = tsxRequire("../plan/run", __filename) as typeof Run;
const { generateLocally } = tsxRequire("../plan/local-values", __filename) as typeof LocalValues;

let queue: Promise<unknown> = Promise.resolve();

/** planStack, run from the natively loaded program; one plan at a time (the SDK's runtime is global). */
export function planStack(options: PlanOptions): Promise<PlanResult> {
  const next = queue.then(() => run.planStack(options));
  queue = next.catch(() => undefined);
  return next;
}

const generated = new Map<string, Promise<Generated>>();

/** The VM host key the Proxmox node "reads" through the guest agent in applied (non-preview) plans. */
export const VM_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICViTJDwxU3/M06rz0oh3EZcEUKvsiqB+aQUQd25ubW";

/** Plays the providers whose outputs the program reads: the node's answer to the host key command. */
export const playProviders: OutputSimulator = ({ type, name }) =>
  type === "command:remote:Command" && name.endsWith("-host-key")
    ? { stdout: `${VM_HOST_KEY} root@mail\n` }
    : undefined;

export interface TestPlan {
  readonly result: PlanResult;
  /** Generated values (private and public keys, random values) by resource name. */
  readonly keys: ReadonlyMap<string, Generated>;
}

export async function planWithKeys(
  overrides: Record<string, string> = {},
  options: {
    stack?: string;
    preview?: boolean;
    outputs?: OutputSimulator;
    secrets?: Record<string, string>;
    skipComponentInputs?: boolean;
  } = {},
): Promise<TestPlan> {
  const result = await planStack({
    dir: root,
    stack: options.stack ?? "prod",
    overrides,
    preview: options.preview ?? true,
    ...(options.secrets ? { secrets: options.secrets } : {}),
    ...(options.skipComponentInputs !== undefined ? { skipComponentInputs: options.skipComponentInputs } : {}),
    // Commands have run only outside a preview.
    ...(options.outputs || options.preview === false ? { outputs: options.outputs ?? playProviders } : {}),
    generate: (type, name, inputs) => {
      const key = `${type}::${name}`;
      let values = generated.get(key);
      if (!values) {
        values = generateLocally(type, inputs);
        generated.set(key, values);
      }
      return values;
    },
  });
  const keys = new Map<string, Generated>();
  for (const [key, values] of generated) keys.set(key.slice(key.indexOf("::") + 2), await values);
  return { result, keys };
}

/** Every URN a resource depends on, directly or through its dependencies. */
export function dependencyClosure(run: PlanResult["run"], urn: string): Set<string> {
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const visit = (current: string) => {
    for (const dependency of byUrn.get(current)?.dependencies ?? []) {
      if (!seen.has(dependency)) {
        seen.add(dependency);
        visit(dependency);
      }
    }
  };
  visit(urn);
  return seen;
}
