// `npm run plan -- [--stack prod] [--out DIR]`: the offline plan. Runs the program without
// cloud credentials and writes what it would create to out/<stack>/.
// Exit codes: 0 planned, 3 planned but a mandatory policy rule fails (files written), 2 invalid
// configuration or usage (nothing written), 1 other failure.
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../config/load";
import { PreviewKeyCache, stackKey } from "./key-cache";
import { prewarmedPool } from "./prewarm";
import type * as Run from "./run";
import { readStackConfig, StackFileError, type StackConfig } from "./stack-file";
import { writePlanFiles } from "./write";

const USAGE = "usage: npm run plan -- [--stack <name>] [--out <dir>]";

function stacksIn(dir: string): string[] {
  return readdirSync(dir)
    .map((file) => /^Pulumi\.([^.]+)\.yaml$/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

/** The written paths, the first dozen by name (a stack with hundreds of zones writes hundreds of files). */
function shownPaths(paths: readonly string[]): string {
  const shown = paths.slice(0, 12).join(", ");
  return paths.length > 12 ? `${shown}, … and ${paths.length - 12} more` : shown;
}

function fail(code: number, lines: readonly string[]): never {
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exit(code);
}

function main(): Promise<void> | void {
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

  let stackConfig: StackConfig;
  try {
    stackConfig = readStackConfig(dir, stack);
  } catch (error) {
    if (error instanceof StackFileError) {
      fail(2, [`plan: ${error.message}`, `available stacks: ${stacksIn(dir).join(", ") || "none"}`]);
    }
    throw error;
  }
  // The Pulumi SDK records a stack trace for every promise it tracks; mapping each one through
  // source maps costs more than the plan itself. Stack traces show transpiled positions instead.
  process.setSourceMapsEnabled(false);
  // Start the slow RSA key generation now: it runs on other threads while the program loads.
  const keyCache = PreviewKeyCache.fromEnv();
  const keyPool = prewarmedPool(stackConfig.values, stackKey(stackConfig.project, stack), keyCache);
  // Loaded only now (the Pulumi SDK and the program), after the key generation has started.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { planStack, ConfigRunError, summaryLines } = require("./run") as typeof Run;

  return planStack({ dir, stack, stackConfig, keyPool, ...(keyCache ? { keyCache } : {}) }).then(
    (result: Run.PlanResult) => {
      writePlanFiles(outDir, result.files);
      const lines = [
        ...summaryLines(stack, result),
        "",
        `Wrote ${result.files.length} files to ${relative(dir, outDir) || "."}/ (${shownPaths(result.files.map((f) => f.path))})`,
        `Done in ${process.uptime().toFixed(1)} s.`,
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      if (result.policy.mandatory.length > 0) {
        process.stderr.write(
          `plan: ${result.policy.mandatory.length} mandatory policy violation(s): ${[...new Set(result.policy.mandatory.map((f) => f.policy))].join(", ")}\n`,
        );
        process.exitCode = 3;
      }
    },
    (error: unknown) => {
      if (error instanceof ConfigRunError) {
        fail(2, [
          `plan: Pulumi.${stack}.yaml has ${error.problems.length} configuration problem(s); nothing was written:`,
          ...error.problems.map((p) => `  ${formatProblem(p)}`),
        ]);
      }
      throw error;
    },
  );
}

Promise.resolve()
  .then(main)
  .catch((error: unknown) => {
    fail(1, [`plan failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`]);
  });
