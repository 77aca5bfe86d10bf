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
 * A policy pack as the plan runs it: its rules and its own runners (policies/args.ts), which run
 * a list of rules on one resource (resource rules) or on the stack (stack rules), building each
 * view of a resource once for all of them. The pull request review loads a second copy (the
 * head's) beside this one (scripts/policy-review.ts, through packOf).
 */
export interface Pack {
  readonly policies: readonly (ResourceValidationPolicy | StackValidationPolicy)[];
  readonly checkResourceRules: typeof args.checkResourceRules;
  readonly checkStackRules: typeof args.checkStackRules;
}

/**
 * The pack of a tree's policies/: its rules and the runners of its args.ts. A tree from before the
 * runners took a list of rules (a pull request's head branched earlier) has only the one-rule
 * runners; they run the rules one by one then (same outcomes, a view per rule and resource).
 */
export function packOf(
  policies: Pack["policies"],
  runners: Partial<Pick<Pack, "checkResourceRules" | "checkStackRules">> &
    Pick<typeof args, "checkResource" | "checkStack">,
): Pack {
  return {
    policies,
    checkResourceRules:
      runners.checkResourceRules ??
      ((rules, resource, config) => Promise.all(rules.map((rule) => runners.checkResource(rule, resource, config)))),
    checkStackRules:
      runners.checkStackRules ??
      ((rules, resources, config) => Promise.all(rules.map((rule) => runners.checkStack(rule, resources, config)))),
  };
}

/** The pack in this tree's policies/. */
export const THIS_PACK: Pack = packOf(thisPack, args);

/**
 * Runs every enabled rule of the pack: one pass over the resources for the resource rules (each
 * resource's view is built once, then every resource rule runs on it) and one view of the stack
 * for all stack rules. Findings come in the pack's rule order, then in resource order.
 */
export async function evaluatePolicies(
  run: ProgramRun,
  levels: Readonly<Record<string, EnforcementLevel>>,
  pack: Pack = THIS_PACK,
): Promise<PolicyReport> {
  const { policies, checkResourceRules, checkStackRules } = pack;
  const { inputs, state } = views(run);
  const enabled = policies.flatMap((policy) => {
    const level = levels[policy.name] ?? policy.enforcementLevel ?? "advisory";
    return level === "disabled" ? [] : [{ policy, level, severity: policy.severity ?? "medium" }];
  });
  const resourceRules: ResourceValidationPolicy[] = [];
  const stackRules: StackValidationPolicy[] = [];
  for (const { policy } of enabled) {
    if (isStackPolicy(policy)) stackRules.push(policy);
    else resourceRules.push(policy);
  }
  // [resource][resource rule] and [stack rule].
  const byResource =
    resourceRules.length > 0
      ? await Promise.all(inputs.map((resource) => checkResourceRules(resourceRules, resource)))
      : [];
  const byStackRule = stackRules.length > 0 ? await checkStackRules(stackRules, state) : [];
  const findings: PolicyFinding[] = [];
  let resourceIndex = 0;
  let stackIndex = 0;
  for (const { policy, level, severity } of enabled) {
    let outcomes: (args.RuleOutcome | undefined)[];
    if (isStackPolicy(policy)) outcomes = [byStackRule[stackIndex++]];
    else {
      const index = resourceIndex++;
      outcomes = byResource.map((outcome) => outcome[index]);
    }
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
  const reported = new Set(findings.map((f) => f.policy));
  const remediation: Record<string, string> = {};
  for (const policy of policies)
    if (policy.remediationSteps && reported.has(policy.name)) remediation[policy.name] = policy.remediationSteps;
  return {
    pack: PACK_NAME,
    levels,
    findings,
    mandatory: findings.filter((f) => f.enforcementLevel === "mandatory"),
    remediation,
  };
}
