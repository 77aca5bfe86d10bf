// Serializes the dynamic providers the way `pulumi up` does (CommonJS, as under the Pulumi CLI;
// vitest's module transform cannot be serialized), loads the serialized code back like the
// dynamic provider host, and runs its `check`. Prints one JSON line per provider, then one per
// provider error class, built in serialized code: its `message` is all `pulumi up` shows
// (sdk/nodejs/cmd/dynamic-provider/index.ts grpcResponseFromError).
import { MailcowError } from "../../providers/mailcow/client";
import { RestError } from "../../providers/rest";
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
  for (const [name, make] of Object.entries({
    RestError: () => new RestError("probe: HTTP 401: Authentication failed. (AUTH_AUTHENTICATION_FAILED)", 401),
    MailcowError: () => new MailcowError("mailcow add/domain: probe", "probe_key"),
  })) {
    const built = ((await revive(make)).revived as unknown as () => Error)();
    const error = { message: (built as { message?: unknown }).message, text: String(built) };
    process.stdout.write(`${JSON.stringify({ name, text: "", error })}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
