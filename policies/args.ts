// Runs a rule outside the policy server, the way the Pulumi engine's analyzer does: props behind
// the SDK's unknown-checking proxy, `isType` by Pulumi type token, `notApplicable` that throws.
// The offline plan evaluates the pack with it; the tests call rules with fabricated resources.
import type {
  PolicyResource,
  PolicyResourceOptions,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { policyProxy as sdk } from "../common/sdk-internals";
import { isPromiseLike, runInOrder } from "./lib";

/** A resource as a rule sees it: type, name, props (inputs; outputs for stack rules). */
export interface ResourceView {
  readonly type: string;
  readonly name: string;
  readonly urn?: string;
  readonly props: Record<string, unknown>;
  readonly protect?: boolean;
  readonly parent?: string;
  /** URNs of the resources it depends on (stack rules). */
  readonly dependencies?: readonly string[];
}

export interface Violation {
  readonly message: string;
  readonly urn: string;
}

export interface RuleOutcome {
  readonly violations: Violation[];
  /** Set when the rule touched a value a preview cannot know (the SDK reports it as advisory). */
  readonly unknown?: string;
}

export class NotApplicableError extends Error {}

const urnOf = (resource: ResourceView) =>
  resource.urn ?? `urn:pulumi:test::mailstack::${resource.type}::${resource.name}`;

const isTypeOf = (type: string) => (resourceClass: unknown) =>
  (resourceClass as { __pulumiType?: string }).__pulumiType === type;

function options(resource: ResourceView): PolicyResourceOptions {
  return {
    protect: resource.protect ?? false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
    ...(resource.parent ? { parent: resource.parent } : {}),
  };
}

const notApplicable = (reason?: string): never => {
  throw new NotApplicableError(reason ?? "not applicable");
};

export function resourceArgs(resource: ResourceView, config: object = {}): ResourceValidationArgs {
  const props = sdk.unknownCheckingProxy({ ...resource.props });
  return {
    type: resource.type,
    props,
    urn: urnOf(resource),
    name: resource.name,
    opts: options(resource),
    stackTags: new Map(),
    isType: isTypeOf(resource.type),
    asType: ((resourceClass: unknown) =>
      isTypeOf(resource.type)(resourceClass) ? props : undefined) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => config as T,
    notApplicable,
  };
}

export function stackArgs(resources: readonly ResourceView[], config: object = {}): StackValidationArgs {
  const byUrn = new Map<string, PolicyResource>();
  const views = resources.map((resource) => {
    const props = sdk.unknownCheckingProxy({ ...resource.props });
    const view: PolicyResource = {
      type: resource.type,
      props,
      urn: urnOf(resource),
      name: resource.name,
      opts: options(resource),
      dependencies: [],
      propertyDependencies: {},
      isType: isTypeOf(resource.type),
      asType: ((resourceClass: unknown) =>
        isTypeOf(resource.type)(resourceClass) ? props : undefined) as PolicyResource["asType"],
    };
    byUrn.set(view.urn, view);
    return view;
  });
  resources.forEach((resource, index) => {
    const view = views[index];
    if (!view) return;
    view.dependencies = (resource.dependencies ?? []).flatMap((urn) => byUrn.get(urn) ?? []);
    const parent = resource.parent ? byUrn.get(resource.parent) : undefined;
    if (parent) view.parent = parent;
  });
  return { resources: views, stackTags: new Map(), getConfig: <T extends object>() => config as T, notApplicable };
}

/** A rule's outcome once it threw: not applicable, a value a preview cannot know, or a failure. */
function failed(violations: Violation[], error: unknown): RuleOutcome | undefined {
  if (error instanceof NotApplicableError) return undefined;
  if (error instanceof sdk.UnknownValueError) return { violations, unknown: error.message };
  throw error;
}

/**
 * Runs one rule's validations on its args and collects what they report: synchronously when they
 * are synchronous, as a promise when one returns a promise.
 */
function collect<A>(
  validations: readonly ((args: A, report: ReportViolation) => Promise<void> | void)[],
  args: A,
  defaultUrn: string,
): RuleOutcome | undefined | Promise<RuleOutcome | undefined> {
  const violations: Violation[] = [];
  const report = (message: string, urn?: string) => {
    violations.push({ message, urn: urn ?? defaultUrn });
  };
  try {
    const running = runInOrder(validations, args, report);
    if (running)
      return running.then(
        () => ({ violations }),
        (error: unknown) => failed(violations, error),
      );
  } catch (error) {
    return failed(violations, error);
  }
  return { violations };
}

/**
 * Runs resource rules on one resource, in order; one outcome per rule (undefined when the rule
 * declares itself not applicable). The resource's args are built once and every rule reads the
 * same ones: rules only read their args, and building them per rule made the plan pay
 * rules × resources copies and proxies (issue 19). The policy server builds them per rule
 * (@pulumi/policy 1.21.0 server.js makeAnalyzeRpcFun); what a rule sees is the same.
 */
export async function checkResourceRules(
  policies: readonly ResourceValidationPolicy[],
  resource: ResourceView,
  config?: object,
): Promise<(RuleOutcome | undefined)[]> {
  const args = resourceArgs(resource, config);
  const outcomes: (RuleOutcome | undefined)[] = [];
  for (const policy of policies) {
    const validate = policy.validateResource;
    const validations = validate === undefined ? [] : Array.isArray(validate) ? validate : [validate];
    const outcome = collect(validations, args, args.urn);
    outcomes.push(isPromiseLike(outcome) ? await outcome : outcome);
  }
  return outcomes;
}

/** Runs a resource rule on one resource; undefined when the rule declares itself not applicable. */
export async function checkResource(
  policy: ResourceValidationPolicy,
  resource: ResourceView,
  config?: object,
): Promise<RuleOutcome | undefined> {
  return (await checkResourceRules([policy], resource, config))[0];
}

/**
 * Runs stack rules over the resources of a stack, in order; one outcome per rule. The stack's
 * args (a view of every resource) are built once for all of them, as checkResourceRules does for
 * a resource (the policy server builds them per rule, @pulumi/policy 1.21.0 server.js
 * makeAnalyzeStackRpcFun).
 */
export async function checkStackRules(
  policies: readonly StackValidationPolicy[],
  resources: readonly ResourceView[],
  config?: object,
): Promise<(RuleOutcome | undefined)[]> {
  const args = stackArgs(resources, config);
  const stackUrn = args.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.urn ?? "";
  const outcomes: (RuleOutcome | undefined)[] = [];
  for (const policy of policies) {
    const outcome = collect([policy.validateStack], args, stackUrn);
    outcomes.push(isPromiseLike(outcome) ? await outcome : outcome);
  }
  return outcomes;
}

/** Runs a stack rule over the resources of a stack. */
export async function checkStack(
  policy: StackValidationPolicy,
  resources: readonly ResourceView[],
  config?: object,
): Promise<RuleOutcome | undefined> {
  return (await checkStackRules([policy], resources, config))[0];
}
