// Serializes one dynamic provider of test/support/providers.ts the way `pulumi up` does, loads the
// serialized code back like the dynamic provider host, and runs a list of operations on the revived
// provider (read as JSON from stdin: secrets never go on a command line). Prints one JSON line per
// operation: {ok: result} or {error: message, name}, so a test sees what the revived code really did,
// error messages included.
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
  const provider = (await revive(found)).revived as Provider;
  const operations = JSON.parse(await readStdin()) as RevivedOperation[];
  const results: unknown[] = [];
  for (const operation of operations) {
    const earlier = operation.oldsFrom === undefined ? undefined : results[operation.oldsFrom];
    const olds =
      (earlier as { outs?: Record<string, unknown>; props?: Record<string, unknown> } | undefined)?.outs ??
      (earlier as { props?: Record<string, unknown> } | undefined)?.props ??
      operation.olds ??
      {};
    const news = operation.news ?? {};
    const id = operation.id ?? "";
    try {
      const result = await (async () => {
        switch (operation.op) {
          case "check":
            return provider.check?.(olds, news);
          case "create":
            return provider.create(news);
          case "read":
            return provider.read?.(id, olds);
          case "diff":
            return provider.diff?.(id, olds, news);
          case "update":
            return provider.update?.(id, olds, news);
          case "delete":
            return provider.delete?.(id, olds);
        }
      })();
      results.push(result);
      process.stdout.write(`${JSON.stringify({ ok: result ?? null })}\n`);
    } catch (error) {
      results.push(undefined);
      const { message, name } = (error ?? {}) as { message?: unknown; name?: unknown };
      process.stdout.write(
        `${JSON.stringify({
          error: typeof message === "string" ? message : String(error),
          ...(typeof name === "string" ? { name } : {}),
        })}\n`,
      );
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
