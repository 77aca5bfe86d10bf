// The pull request review (.github/workflows/policy.yml), as commands that run the same here and in
// CI. The workflow runs them from the BASE branch's copy of this file, plan/ and policies/, so a
// change cannot rewrite its own judge:
//
//   plan   --stack S --out DIR --values FILE
//       The offline plan of the program in the current directory, judged by the pack in this
//       script's tree. Generated keys and random values come from FILE (created when missing, kept
//       by resource name), so two plans of the same stack (base and head) differ only where the
//       programs differ. Writes the plan files to DIR; exit 0, 3 (mandatory finding) or 2 (config).
//   fixtures --stack S --head-pack DIR --values FILE --out FILE
//       For a change to policies/: every per-rule fixture (policies/fixtures.ts of either side) on
//       the head program's plan, judged by this tree's pack and by the head's pack in DIR; writes
//       the verdicts as JSON for the report.
//   report --stack S --base DIR --head DIR [--pack-diff FILE] [--run-url URL] --out FILE
//       The comment a reviewer reads: the verdict (from the head plan's policy.md, written by the
//       base pack), the plan diff of base vs head (added/changed/removed resources), and, when the
//       change touches policies/, which per-rule fixtures the head's pack judges differently.
//
// Usage: node --require tsx/cjs scripts/policy-review.ts <plan|report> …
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { FixtureRun, RuleFixture } from "../policies/fixtures";
import type * as Args from "../policies/args";
import type * as Fixtures from "../policies/fixtures";
import type * as Rules from "../policies/rules";
import type * as Load from "../config/load";
import type * as LocalValues from "../plan/local-values";
import type * as Write from "../plan/write";
import type { ProgramRun } from "../plan/engine";
import type { PlanDocument, PlanResource } from "../plan/document";
import type * as Policy from "../plan/policy";
import type * as Run from "../plan/run";

const USAGE =
  "usage: policy-review.ts plan --stack S --out DIR --values FILE | report --stack S --base DIR --head DIR [--pack-diff FILE] [--run-url URL] --out FILE | fixtures --stack S --head-pack DIR --values FILE --out FILE";

function fail(code: number, message: string): never {
  process.stderr.write(`policy-review: ${message}\n`);
  process.exit(code);
}

// ---- plan ---------------------------------------------------------------------------------

/** Generated values by type and resource name, shared by the base and the head plan. */
function cachedGenerator(file: string, generate: Run.PlanOptions["generate"] & object) {
  const cache = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, LocalValues.Generated>)
    : {};
  return {
    generate: async (type: string, name: string, inputs: Record<string, unknown>) => {
      const key = `${type}::${name}::${JSON.stringify(inputs)}`;
      cache[key] ??= await generate(type, name, inputs);
      return cache[key];
    },
    // Preview-only keys (never deployed): kept in the runner's temp directory, mode 0600.
    save: () => writeFileSync(file, JSON.stringify(cache), { mode: 0o600 }),
  };
}

async function plan(stack: string, out: string, values: string): Promise<void> {
  process.setSourceMapsEnabled(false);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const run = require("../plan/run") as typeof Run;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { generateLocally } = require("../plan/local-values") as typeof LocalValues;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { writePlanFiles } = require("../plan/write") as typeof Write;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { formatProblem } = require("../config/load") as typeof Load;
  const cache = cachedGenerator(values, (type, _name, inputs) => generateLocally(type, inputs));
  let result: Run.PlanResult;
  try {
    result = await run.planStack({ dir: process.cwd(), stack, generate: cache.generate });
  } catch (error) {
    if (error instanceof run.ConfigRunError) {
      const lines = error.problems.map((p) => `- ${formatProblem(p)}`);
      writePlanFiles(out, [
        {
          path: "policy.md",
          content: `### Stack \`${stack}\`: ❌ invalid configuration, nothing planned\n\n${lines.join("\n")}\n`,
        },
      ]);
      fail(2, `Pulumi.${stack}.yaml:\n${lines.join("\n")}`);
    }
    throw error;
  }
  cache.save();
  writePlanFiles(out, result.files);
  process.stdout.write(`${run.summaryLines(stack, result).join("\n")}\n`);
  if (result.policy.mandatory.length > 0) process.exitCode = 3;
}

// ---- report -------------------------------------------------------------------------------

interface PlanDiff {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
}

function readPlan(dir: string): PlanDocument | undefined {
  const file = join(dir, "plan.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as PlanDocument) : undefined;
}

/** Resources added, changed (inputs or options) and removed from base to head, by URN. */
export function planDiff(base: PlanDocument, head: PlanDocument): PlanDiff {
  const key = (r: PlanResource) => JSON.stringify([r.inputs, r.options ?? {}, r.parent]);
  const before = new Map(base.resources.map((r) => [r.urn, key(r)]));
  const after = new Map(head.resources.map((r) => [r.urn, key(r)]));
  return {
    added: [...after.keys()].filter((urn) => !before.has(urn)),
    changed: [...after].filter(([urn, k]) => before.has(urn) && before.get(urn) !== k).map(([urn]) => urn),
    removed: [...before.keys()].filter((urn) => !after.has(urn)),
  };
}

/** "`Type` name" of a URN (urn:pulumi:<stack>::<project>::<parent$type>::<name>). */
const shortUrn = (urn: string) => {
  const [, , type = urn, name = ""] = urn.split("::");
  return `\`${type.split("$").at(-1) ?? type}\` ${name}`.trim();
};

function diffMarkdown(diff: PlanDiff | undefined): string[] {
  if (!diff) return ["#### Plan diff against the base branch", "", "The base branch's plan is not available."];
  const section = (title: string, urns: readonly string[]) =>
    urns.length === 0
      ? []
      : [
          `<details><summary>${title}: ${urns.length}</summary>`,
          "",
          ...urns.map((u) => `- ${shortUrn(u)}`),
          "",
          "</details>",
        ];
  const total = diff.added.length + diff.changed.length + diff.removed.length;
  return [
    "#### Plan diff against the base branch",
    "",
    total === 0
      ? "No resource is added, changed or removed."
      : `${diff.added.length} added, ${diff.changed.length} changed, ${diff.removed.length} removed.`,
    ...section("Added", diff.added),
    ...section("Changed", diff.changed),
    ...section("Removed", diff.removed),
  ];
}

export interface FixtureVerdict {
  readonly fixture: string;
  readonly rule: string;
  /** Whether each pack refuses the fixture's change (undefined: the pack has no such fixture). */
  readonly base: boolean | undefined;
  readonly head: boolean | undefined;
}

/** Loads the pack of a tree (its rules, runners and fixtures) through tsx. */
function loadPack(dir: string): { pack: Policy.Pack; fixtures: readonly RuleFixture[] } {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const rules = require(resolve(dir, "rules.ts")) as typeof Rules;
  const args = require(resolve(dir, "args.ts")) as typeof Args;
  const { packOf } = require("../plan/policy") as typeof Policy;
  const fixtures = existsSync(resolve(dir, "fixtures.ts"))
    ? (require(resolve(dir, "fixtures.ts")) as typeof Fixtures).FIXTURES
    : [];
  /* eslint-enable @typescript-eslint/no-require-imports */
  return {
    pack: packOf(rules.policies, args),
    fixtures,
  };
}

/**
 * Every fixture of either pack, applied to `run` and judged by both packs at full enforcement:
 * the rows where the two packs disagree are the behaviour the change to policies/ alters.
 */
export async function compareFixtures(run: ProgramRun, baseDir: string, headDir: string): Promise<FixtureVerdict[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { evaluatePolicies } = require("../plan/policy") as typeof Policy;
  const base = loadPack(baseDir);
  const head = loadPack(headDir);
  const byName = new Map<string, RuleFixture>();
  for (const fixture of [...base.fixtures, ...head.fixtures])
    if (!byName.has(fixture.name)) byName.set(fixture.name, fixture);
  const refuses = async (pack: Policy.Pack, rule: string, changed: FixtureRun) => {
    const levels = Object.fromEntries(pack.policies.map((p) => [p.name, "mandatory" as const]));
    const report = await evaluatePolicies(changed as unknown as ProgramRun, levels, pack);
    return report.mandatory.some((f) => f.policy === rule);
  };
  const verdicts: FixtureVerdict[] = [];
  for (const fixture of byName.values()) {
    const changed = fixture.change(run as unknown as FixtureRun);
    if (!changed) continue;
    const known = (pack: typeof base) => pack.pack.policies.some((p) => p.name === fixture.rule);
    verdicts.push({
      fixture: fixture.name,
      rule: fixture.rule,
      base: known(base) ? await refuses(base.pack, fixture.rule, changed) : undefined,
      head: known(head) ? await refuses(head.pack, fixture.rule, changed) : undefined,
    });
  }
  return verdicts;
}

function packMarkdown(verdicts: readonly FixtureVerdict[] | undefined): string[] {
  if (!verdicts) return [];
  const differ = verdicts.filter((v) => v.base !== v.head);
  const show = (value: boolean | undefined) =>
    value === undefined ? "no such rule" : value ? "refused" : "**passes**";
  return [
    "#### ⚠️ This change edits the policy pack (`policies/`)",
    "",
    "The verdict above is the base branch's pack; the head's pack is not used to judge this change. " +
      `Per-rule fixtures run under both: ${verdicts.length} fixtures, ${differ.length} judged differently.`,
    ...(differ.length === 0
      ? []
      : [
          "",
          "| Fixture | Rule | Base pack | Head pack |",
          "| --- | --- | --- | --- |",
          ...differ.map((v) => `| \`${v.fixture}\` | \`${v.rule}\` | ${show(v.base)} | ${show(v.head)} |`),
        ]),
  ];
}

function report(options: {
  stack: string;
  base: string;
  head: string;
  packDiff?: string;
  runUrl?: string;
  out: string;
}): void {
  const verdict = existsSync(join(options.head, "policy.md"))
    ? readFileSync(join(options.head, "policy.md"), "utf8").trimEnd()
    : `### Stack \`${options.stack}\`: the plan did not run`;
  const base = readPlan(options.base);
  const head = readPlan(options.head);
  const fixtures =
    options.packDiff !== undefined
      ? (JSON.parse(readFileSync(options.packDiff, "utf8")) as FixtureVerdict[])
      : undefined;
  const lines = [
    verdict,
    "",
    ...packMarkdown(fixtures),
    ...(fixtures ? [""] : []),
    ...(head ? diffMarkdown(base ? planDiff(base, head) : undefined) : []),
    "",
    options.runUrl
      ? `Plan artefacts: [plan-${options.stack}](${options.runUrl}) (plan.json, zone files, rendered host files).`
      : "",
  ];
  writeFileSync(options.out, `${lines.join("\n").trimEnd()}\n`);
}

// ---- fixtures (the head pack's behaviour on the head's plan) -------------------------------

async function fixtures(stack: string, headPack: string, out: string, values: string): Promise<void> {
  process.setSourceMapsEnabled(false);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const run = require("../plan/run") as typeof Run;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { generateLocally } = require("../plan/local-values") as typeof LocalValues;
  const cache = cachedGenerator(values, (type, _name, inputs) => generateLocally(type, inputs));
  const result = await run.planStack({
    dir: process.cwd(),
    stack,
    generate: cache.generate,
    skipComponentInputs: true,
  });
  cache.save();
  const verdicts = await compareFixtures(result.run, resolve(__dirname, "..", "policies"), headPack);
  writeFileSync(out, `${JSON.stringify(verdicts, null, 2)}\n`);
  const differ = verdicts.filter((v) => v.base !== v.head);
  process.stdout.write(`${verdicts.length} fixtures, ${differ.length} judged differently by the head's pack\n`);
  for (const v of differ) process.stdout.write(`  ${v.fixture}: base ${String(v.base)}, head ${String(v.head)}\n`);
}

function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  let values;
  try {
    values = parseArgs({
      args: rest,
      options: {
        stack: { type: "string" },
        out: { type: "string" },
        values: { type: "string" },
        base: { type: "string" },
        head: { type: "string" },
        "head-pack": { type: "string" },
        "pack-diff": { type: "string" },
        "run-url": { type: "string" },
      },
      strict: true,
    }).values;
  } catch (error) {
    fail(2, `${(error as Error).message}\n${USAGE}`);
  }
  const need = (name: keyof typeof values): string => values[name] ?? fail(2, `--${name} is required\n${USAGE}`);
  if (command === "plan") return plan(need("stack"), resolve(need("out")), resolve(need("values")));
  if (command === "fixtures")
    return fixtures(need("stack"), resolve(need("head-pack")), resolve(need("out")), resolve(need("values")));
  if (command === "report")
    return Promise.resolve().then(() =>
      report({
        stack: need("stack"),
        base: resolve(need("base")),
        head: resolve(need("head")),
        ...(values["pack-diff"] !== undefined ? { packDiff: resolve(values["pack-diff"]) } : {}),
        ...(values["run-url"] !== undefined ? { runUrl: values["run-url"] } : {}),
        out: resolve(need("out")),
      }),
    );
  fail(2, USAGE);
}

if (require.main === module)
  main().catch((error: unknown) => fail(1, error instanceof Error ? (error.stack ?? error.message) : String(error)));
