// Serializes a dynamic provider the way `pulumi up` does (CommonJS, as under the Pulumi CLI:
// vitest's module transform cannot be serialized) and loads the code back like the dynamic
// provider host. Used by the scripts in this folder, run with `node --require tsx/cjs`.
import * as vm from "node:vm";
import * as pulumi from "@pulumi/pulumi";

export async function revive(provider: unknown): Promise<{ text: string; revived: pulumi.dynamic.ResourceProvider }> {
  const serialized = await pulumi.runtime.serializeFunction(() => provider);
  const module = { exports: {} as Record<string, unknown> };
  const load = vm.runInThisContext(`(function (exports, module, require) {\n${serialized.text}\n})`) as (
    exports: unknown,
    module: unknown,
    require: NodeJS.Require,
  ) => void;
  load(module.exports, module, require);
  const handler = module.exports[serialized.exportName] as () => pulumi.dynamic.ResourceProvider;
  return { text: serialized.text, revived: handler() };
}
