// Serializes one dynamic provider of test/support/providers.ts the way `pulumi up` does, loads the
// serialized code back like the dynamic provider host, and runs a list of operations on the revived
// provider (read as JSON from stdin: secrets never go on a command line). Prints one JSON line per
// operation: {ok: result} or {error: message, name}, so a test sees what the revived code really did,
// error messages included. With a number of copies (argv[3]), the provider is serialized and loaded
// that many times, as the host does for each provider text, and the operations all start at once,
// spread round-robin over the copies (as the engine runs independent resources; no `oldsFrom`).
import type * as pulumi from "@pulumi/pulumi";
import * as providers from "./providers";
import { revive } from "./revive";

export interface RevivedOperation {
  readonly op: "check" | "create" | "read" | "diff" | "update" | "delete";
  readonly id?: string;
  readonly olds?: Record<string, unknown>;
  readonly news?: Record<string, unknown>;
  /** Use the outputs of an earlier operation (its index) as `olds`. */
  readonly oldsFrom?: number;
}

type Provider = pulumi.dynamic.ResourceProvider<Record<string, unknown>, Record<string, unknown>>;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? "";
  const found = (providers.all as Record<string, unknown>)[name];
  if (!found) throw new Error(`no provider ${name} in test/support/providers.ts`);
  const copies = Number(process.argv[3] ?? 0);
  const operations = JSON.parse(await readStdin()) as RevivedOperation[];
  if (copies > 0) {
    const revived: Provider[] = [];
    for (let i = 0; i < copies; i++) revived.push((await revive(found)).revived as Provider);
    const lines = await Promise.all(
      operations.map((operation, i) => runOne(revived[i % copies] as Provider, operation, {}).then(line)),
    );
    for (const text of lines) process.stdout.write(text);
    return;
  }
  const provider = (await revive(found)).revived as Provider;
  const results: unknown[] = [];
  for (const operation of operations) {
    const earlier = operation.oldsFrom === undefined ? undefined : results[operation.oldsFrom];
    const olds =
      (earlier as { outs?: Record<string, unknown>; props?: Record<string, unknown> } | undefined)?.outs ??
      (earlier as { props?: Record<string, unknown> } | undefined)?.props ??
      operation.olds ??
      {};
    const outcome = await runOne(provider, operation, olds);
    results.push("ok" in outcome ? outcome.ok : undefined);
    process.stdout.write(line(outcome));
  }
}

type Outcome = { readonly ok: unknown } | { readonly error: unknown };

async function runOne(
  provider: Provider,
  operation: RevivedOperation,
  olds: Record<string, unknown>,
): Promise<Outcome> {
  const news = operation.news ?? {};
  const id = operation.id ?? "";
  try {
    switch (operation.op) {
      case "check":
        return { ok: await provider.check?.(olds, news) };
      case "create":
        return { ok: await provider.create(news) };
      case "read":
        return { ok: await provider.read?.(id, olds) };
      case "diff":
        return { ok: await provider.diff?.(id, olds, news) };
      case "update":
        return { ok: await provider.update?.(id, olds, news) };
      case "delete":
        return { ok: await provider.delete?.(id, olds) };
    }
  } catch (error) {
    return { error };
  }
}

function line(outcome: Outcome): string {
  if ("ok" in outcome) return `${JSON.stringify({ ok: outcome.ok ?? null })}\n`;
  const { message, name } = (outcome.error ?? {}) as { message?: unknown; name?: unknown };
  return `${JSON.stringify({
    error: typeof message === "string" ? message : String(outcome.error),
    ...(typeof name === "string" ? { name } : {}),
  })}\n`;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
