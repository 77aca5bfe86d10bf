// Serializes the dynamic providers the way `pulumi up` does (CommonJS, as under the Pulumi CLI;
// vitest's module transform cannot be serialized), loads the serialized code back like the
// dynamic provider host, and runs its `check`. Prints one JSON line per provider.
import * as vm from "node:vm";
import * as pulumi from "@pulumi/pulumi";
import * as providers from "./providers";

interface CheckInput {
  readonly [key: string]: unknown;
}

async function main(): Promise<void> {
  const probe = JSON.parse(process.argv[2] ?? "{}") as Record<string, CheckInput>;
  for (const [name, provider] of Object.entries(providers.all)) {
    const serialized = await pulumi.runtime.serializeFunction(() => provider);
    const module = { exports: {} as Record<string, unknown> };
    const load = vm.runInThisContext(`(function (exports, module, require) {\n${serialized.text}\n})`) as (
      exports: unknown,
      module: unknown,
      require: NodeJS.Require,
    ) => void;
    load(module.exports, module, require);
    const handler = module.exports[serialized.exportName] as () => pulumi.dynamic.ResourceProvider;
    const revived = handler();
    const input = probe[name];
    const check = input && revived.check ? await revived.check(input, input) : undefined;
    process.stdout.write(`${JSON.stringify({ name, text: serialized.text, check })}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
