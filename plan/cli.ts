// `npm run plan -- [--stack prod] [--out DIR]`: the offline plan. Runs the program without
// cloud credentials and writes what it would create to out/<stack>/.
// Exit codes: 0 planned, 2 invalid configuration or usage (nothing written), 1 other failure.
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../config/load";
import { ConfigRunError } from "../config/pulumi";
import { countByType } from "./document";
import { redact } from "./engine";
import { planStack } from "./run";
import { StackFileError } from "./stack-file";
import { writePlanFiles } from "./write";

const USAGE = "usage: npm run plan -- [--stack <name>] [--out <dir>]";

function stacksIn(dir: string): string[] {
  return readdirSync(dir)
    .map((file) => /^Pulumi\.([^.]+)\.yaml$/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

function fail(code: number, lines: readonly string[]): never {
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        stack: { type: "string", short: "s", default: "prod" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    fail(2, [(error as Error).message, USAGE]);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const dir = process.cwd();
  const stack = args.stack ?? "prod";
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) fail(2, [`invalid stack name: ${stack}`, USAGE]);
  const outDir = resolve(args.out ?? join("out", stack));

  let result;
  try {
    result = await planStack({ dir, stack });
  } catch (error) {
    if (error instanceof ConfigRunError) {
      fail(2, [
        `plan: Pulumi.${stack}.yaml has ${error.problems.length} configuration problem(s); nothing was written:`,
        ...error.problems.map((p) => `  ${formatProblem(p)}`),
      ]);
    }
    if (error instanceof StackFileError) {
      fail(2, [`plan: ${error.message}`, `available stacks: ${stacksIn(dir).join(", ") || "none"}`]);
    }
    throw error;
  }
  writePlanFiles(outDir, result.files);

  const out = (line = "") => process.stdout.write(`${line}\n`);
  const counts = countByType(result.run);
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  out(`mailstack plan for stack "${stack}" (offline preview, no cloud credentials used)`);
  out();
  out(`Resources: ${total}`);
  for (const [type, n] of counts) out(`  ${String(n).padStart(4)}  ${type}`);
  out();
  out("Outputs:");
  for (const [key, value] of Object.entries(redact(result.run.outputs) as Record<string, unknown>)) {
    const text = JSON.stringify(value);
    out(`  ${key}: ${text.length > 110 ? `${text.slice(0, 107)}...` : text}`);
  }
  out();
  for (const note of result.document.notes) out(`Note: ${note}`);
  out();
  out(
    `Wrote ${result.files.length} files to ${relative(dir, outDir) || "."}/ (${result.files.map((f) => f.path).join(", ")})`,
  );
  out(`Done in ${process.uptime().toFixed(1)} s.`);
}

main().catch((error: unknown) => {
  fail(1, [`plan failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`]);
});
