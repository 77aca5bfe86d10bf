// Plans a stack offline: reads its config like the CLI, runs the program on the mock engine
// and builds the plan documents. Shared by `npm run plan` and the tests.
import mailstack from "../index";
import { NAMESPACE } from "../config/load";
import { keySchemas, OPTIONAL_SECRETS, secretKeys, type SecretKey } from "../config/schema";
import { enforcementLevels } from "../common/policy-catalog";
import { planDocument, planFiles, type PlanDocument } from "./document";
import { runProgram, type LocalGenerator, type OutputSimulator, type ProgramRun } from "./engine";
import type { KeyPool } from "./local-values";
import { previewGenerator, stackKey, type PreviewKeyCache } from "./key-cache";
import { readStackConfig, SECRET_PLACEHOLDER, type StackConfig } from "./stack-file";
import { componentFiles } from "./component-files";
import { takeShownFiles } from "../components/plan-files";
import { evaluatePolicies, type PolicyReport } from "./policy";
import { zoneFiles } from "./zone-files";
import type { PlanFile } from "./write";

export { ConfigRunError } from "../config/pulumi";
export { summaryLines } from "./summary";
import { policyMarkdown } from "./summary";

export interface PlanOptions {
  /** Directory holding Pulumi.yaml and the stack files. */
  readonly dir: string;
  readonly stack: string;
  /** Config values to set or replace (`mailstack:key` → string as the CLI passes it). */
  readonly overrides?: Readonly<Record<string, string>>;
  /** Secret config values to set (as `pulumi config set --secret` would). */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Defaults to true, like `pulumi preview`. */
  readonly preview?: boolean;
  /** Replaces the generation of preview key material (tests use it to compare runs). */
  readonly generate?: LocalGenerator;
  /** Provider-computed outputs, for tests that play the provider. */
  readonly outputs?: OutputSimulator;
  /** Keys generated ahead of need (see KeyPool). */
  readonly keyPool?: KeyPool;
  /** Preview keys kept between runs (plan/key-cache.ts); none: fresh keys. */
  readonly keyCache?: PreviewKeyCache;
  /** The stack's config when the caller has read it already. */
  readonly stackConfig?: StackConfig;
  /**
   * Register components without their inputs, as the SDK does with PULUMI_NODEJS_SKIP_COMPONENT_INPUTS
   * set (plan/engine.ts SKIP_COMPONENT_INPUTS); undefined: as the environment says.
   */
  readonly skipComponentInputs?: boolean;
}

export interface PlanResult {
  readonly stackConfig: StackConfig;
  /** Secret keys not in the stack file; the plan used placeholders, `pulumi up` needs them. */
  readonly missingSecrets: readonly string[];
  readonly run: ProgramRun;
  readonly document: PlanDocument;
  /** The mailstack-security pack evaluated on the plan. */
  readonly policy: PolicyReport;
  readonly files: readonly PlanFile[];
}

/** The rules the stack lowers to advisory (`mailstack:policy.advisory`; validated by the program). */
function advisoryRules(values: Readonly<Record<string, string>>): string[] {
  const raw = values[`${NAMESPACE}:policy`];
  const parsed = keySchemas.policy.safeParse(raw === undefined ? undefined : (JSON.parse(raw) as unknown));
  return parsed.success ? parsed.data.advisory : [];
}

export async function planStack(options: PlanOptions): Promise<PlanResult> {
  const stackConfig = options.stackConfig ?? readStackConfig(options.dir, options.stack);
  const values: Record<string, string> = { ...stackConfig.values, ...options.overrides, ...options.secrets };
  const secret = new Set([...stackConfig.secretKeys, ...Object.keys(options.secrets ?? {})]);
  const missingSecrets: string[] = [];
  for (const key of Object.keys(secretKeys)) {
    const fullKey = `${NAMESPACE}:${key}`;
    if (values[fullKey] !== undefined || OPTIONAL_SECRETS.has(key as SecretKey)) continue;
    values[fullKey] = SECRET_PLACEHOLDER;
    secret.add(fullKey);
    missingSecrets.push(fullKey);
  }
  void takeShownFiles(); // files of an earlier run in this process are not this plan's
  const run = await runProgram(mailstack, {
    project: stackConfig.project,
    stack: options.stack,
    config: values,
    secretKeys: [...secret],
    preview: options.preview ?? true,
    ...(options.outputs ? { outputs: options.outputs } : {}),
    ...(options.skipComponentInputs !== undefined ? { skipComponentInputs: options.skipComponentInputs } : {}),
    generate:
      options.generate ??
      previewGenerator(stackKey(stackConfig.project, options.stack), options.keyCache, options.keyPool),
  });
  // Taken at once: each shown file is an Output, and one Output keeps its resources, their parents
  // up to the root Stack and through the Stack's children every resource of the run (about 23 KiB
  // each) alive for as long as it is held.
  const shownFiles = await componentFiles();
  const notes = [
    ...stackConfig.warnings,
    ...(stackConfig.encrypted.length > 0
      ? [`Encrypted values were not decrypted offline (placeholders used): ${stackConfig.encrypted.join(", ")}.`]
      : []),
    ...(missingSecrets.length > 0
      ? [
          `Secrets not set in Pulumi.${options.stack}.yaml (placeholders used; \`pulumi up\` needs them): ${missingSecrets.join(", ")}.`,
        ]
      : []),
  ];
  const document = planDocument(stackConfig.project, options.stack, run, notes);
  const policy = await evaluatePolicies(run, enforcementLevels(advisoryRules(values), options.stack));
  const policyFiles = [
    { path: "policy.json", content: `${JSON.stringify(policy.findings, null, 2)}\n` },
    // For `pulumi preview --policy-pack policies --policy-pack-config <this file>`.
    { path: "policy-config.json", content: `${JSON.stringify(policy.levels, null, 2)}\n` },
    { path: "policy.md", content: policyMarkdown(options.stack, policy) },
  ];
  return {
    stackConfig,
    missingSecrets,
    run,
    document,
    policy,
    files: [...planFiles(document, run), ...policyFiles, ...zoneFiles(run, options.stack), ...shownFiles],
  };
}
