// Serializes the dynamic providers the way `pulumi up` does (CommonJS, as under the Pulumi CLI;
// vitest's module transform cannot be serialized), loads the serialized code back like the
// dynamic provider host, and runs its `check`. Prints one JSON line per provider.
import * as providers from "./providers";
import { revive } from "./revive";

interface CheckInput {
  readonly [key: string]: unknown;
}

async function main(): Promise<void> {
  const probe = JSON.parse(process.argv[2] ?? "{}") as Record<string, CheckInput>;
  for (const [name, provider] of Object.entries(providers.all)) {
    const { text, revived } = await revive(provider);
    const input = probe[name];
    const check = input && revived.check ? await revived.check(input, input) : undefined;
    process.stdout.write(`${JSON.stringify({ name, text, check })}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
