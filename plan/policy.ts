// The policy pack on the planned stack, as `pulumi preview --policy-pack policies` would run it:
// resource rules see each resource's inputs (components: their args), stack rules see every
// resource's state (inputs of custom resources, registered outputs of components, the stack's
// outputs on the root). Findings carry the enforcement level the stack's config gives the rule.
import type { EnforcementLevel, ResourceValidationPolicy, Severity, StackValidationPolicy } from "@pulumi/policy";
import * as args from "../policies/args";
import type { ResourceView } from "../policies/args";
import { policies as thisPack } from "../policies/rules";
import { policyView, STACK_TYPE, type ProgramRun } from "./engine";

export interface PolicyFinding {
  readonly policy: string;
  readonly enforcementLevel: EnforcementLevel;
  readonly severity: Severity;
  readonly urn: string;
  readonly message: string;
}

export interface PolicyReport {
  readonly pack: string;
  readonly levels: Readonly<Record<string, EnforcementLevel>>;
  readonly findings: readonly PolicyFinding[];
  /** Mandatory findings: the plan (and `pulumi preview`) fails on them. */
  readonly mandatory: readonly PolicyFinding[];
  /** How to fix each rule that has findings (the rule's remediation steps). */
  readonly remediation: Readonly<Record<string, string>>;
}

export const PACK_NAME = "mailstack-security";

const isStackPolicy = (policy: ResourceValidationPolicy | StackValidationPolicy): policy is StackValidationPolicy =>
  "validateStack" in policy;

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {};

function views(run: ProgramRun): { inputs: ResourceView[]; state: ResourceView[] } {
  const inputs: ResourceView[] = [];
  const state: ResourceView[] = [];
  for (const resource of run.resources) {
    const base = {
      type: resource.type,
      name: resource.name,
      urn: resource.urn,
      protect: resource.options.protect === true,
      dependencies: resource.dependencies,
      ...(resource.parent ? { parent: resource.parent } : {}),
    };
    const input = record(policyView(resource.inputs));
    inputs.push({ ...base, props: input });
    const props =
      resource.type === STACK_TYPE
        ? record(policyView(run.outputs))
        : resource.custom
          ? input
          : record(policyView(resource.outputs ?? {}));
    state.push({ ...base, props });
  }
  return { inputs, state };
}

/**
 * A policy pack as the plan runs it: its rules and its own runners (policies/args.ts). The pull
 * request review loads a second copy (the head's) beside this one (scripts/policy-review.ts).
 */
export interface Pack {
  readonly policies: readonly (ResourceValidationPolicy | StackValidationPolicy)[];
  readonly checkResource: typeof args.checkResource;
  readonly checkStack: typeof args.checkStack;
}

/** The pack in this tree's policies/. */
export const THIS_PACK: Pack = {
  policies: thisPack,
  checkResource: args.checkResource,
  checkStack: args.checkStack,
};

export async function evaluatePolicies(
  run: ProgramRun,
  levels: Readonly<Record<string, EnforcementLevel>>,
  pack: Pack = THIS_PACK,
): Promise<PolicyReport> {
  const { policies, checkResource, checkStack } = pack;
  const { inputs, state } = views(run);
  const findings: PolicyFinding[] = [];
  for (const policy of policies) {
    const level = levels[policy.name] ?? policy.enforcementLevel ?? "advisory";
    if (level === "disabled") continue;
    const severity = policy.severity ?? "medium";
    const outcomes = isStackPolicy(policy)
      ? [await checkStack(policy, state)]
      : await Promise.all(inputs.map((resource) => checkResource(policy, resource)));
    for (const outcome of outcomes) {
      if (!outcome) continue;
      for (const { urn, message } of outcome.violations) {
        findings.push({ policy: policy.name, enforcementLevel: level, severity, urn, message });
      }
      if (outcome.unknown) {
        findings.push({
          policy: policy.name,
          enforcementLevel: "advisory",
          severity,
          urn: "",
          message: `can't run policy '${policy.name}' during preview: ${outcome.unknown}`,
        });
      }
    }
  }
  const remediation: Record<string, string> = {};
  for (const policy of policies)
    if (policy.remediationSteps && findings.some((f) => f.policy === policy.name))
      remediation[policy.name] = policy.remediationSteps;
  return {
    pack: PACK_NAME,
    levels,
    findings,
    mandatory: findings.filter((f) => f.enforcementLevel === "mandatory"),
    remediation,
  };
}
