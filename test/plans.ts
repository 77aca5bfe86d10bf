// Plans of the example stacks for tests. Key material is generated once per test file and
// reused by every plan in it (RSA 4096 takes about a second), by resource type and name.
import { resolve } from "node:path";
import { generateLocally, type Generated } from "../plan/local-values";
import { planStack, type PlanResult } from "../plan/run";

export const root = resolve(__dirname, "..");

const generated = new Map<string, Promise<Generated>>();

export interface TestPlan {
  readonly result: PlanResult;
  /** Generated values (private and public keys, random values) by resource name. */
  readonly keys: ReadonlyMap<string, Generated>;
}

export async function planWithKeys(
  overrides: Record<string, string> = {},
  options: { stack?: string; preview?: boolean } = {},
): Promise<TestPlan> {
  const result = await planStack({
    dir: root,
    stack: options.stack ?? "prod",
    overrides,
    preview: options.preview ?? true,
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
