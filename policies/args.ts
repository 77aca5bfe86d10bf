// Runs a rule outside the policy server, the way the Pulumi engine's analyzer does: props behind
// the SDK's unknown-checking proxy, `isType` by Pulumi type token, `notApplicable` that throws.
// The offline plan evaluates the pack with it; the tests call rules with fabricated resources.
import type {
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { policyProxy as sdk } from "../common/sdk-internals";

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

async function collect(
  run: (report: (message: string, urn?: string) => void) => Promise<void> | void,
  defaultUrn: string,
): Promise<RuleOutcome | undefined> {
  const violations: Violation[] = [];
  try {
    await run((message, urn) => violations.push({ message, urn: urn ?? defaultUrn }));
  } catch (error) {
    if (error instanceof NotApplicableError) return undefined;
    if (error instanceof sdk.UnknownValueError) return { violations, unknown: error.message };
    throw error;
  }
  return { violations };
}

/** Runs a resource rule on one resource; undefined when the rule declares itself not applicable. */
export function checkResource(
  policy: ResourceValidationPolicy,
  resource: ResourceView,
  config?: object,
): Promise<RuleOutcome | undefined> {
  const args = resourceArgs(resource, config);
  const validations = policy.validateResource ? [policy.validateResource].flat() : [];
  return collect(async (report) => {
    for (const validate of validations) await validate(args, report);
  }, args.urn);
}

/** Runs a stack rule over the resources of a stack. */
export function checkStack(
  policy: StackValidationPolicy,
  resources: readonly ResourceView[],
  config?: object,
): Promise<RuleOutcome | undefined> {
  const args = stackArgs(resources, config);
  const stackUrn = args.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.urn ?? "";
  return collect((report) => policy.validateStack(args, report), stackUrn);
}
