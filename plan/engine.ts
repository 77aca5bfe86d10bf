// The mock engine shared by `npm run plan` and the tests: runs a Pulumi program in-process
// under the SDK's mock runtime and records every resource registration the way the engine
// sees it (type, name, parent, dependencies, inputs with secret and unknown markers), plus
// the stack outputs.
import * as pulumi from "@pulumi/pulumi";
import {
  MockMonitor,
  RegisterResourceResponse,
  releaseStackResource,
  runtimeOptions,
  Struct as StructClass,
  setMockOptions,
  waitForRPCs,
  wire as rpc,
} from "../common/sdk-internals";
import { generateLocally, generatesLocally, type Generated } from "./local-values";
import { quietSdk } from "./quiet-sdk";

export { isSecret, isUnknown, plain, policyView, redact, SECRET, UNKNOWN, type WireValue } from "./wire";
import type { WireValue } from "./wire";

export interface RecordedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly parent?: string;
  readonly provider?: string;
  readonly dependencies: readonly string[];
  /** Per input property, the resources whose outputs flow into it (the engine's property dependencies). */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  /** Inputs in wire form (see plain() and redact()). */
  readonly inputs: Readonly<Record<string, WireValue>>;
  readonly options: Readonly<Record<string, unknown>>;
  /** Output values that were generated locally (preview key material, random values). */
  readonly generated: boolean;
  /** A component's registered outputs, in wire form. */
  outputs?: Readonly<Record<string, WireValue>>;
}

export interface ProgramRun {
  readonly resources: readonly RecordedResource[];
  /** Stack outputs in wire form. */
  readonly outputs: Readonly<Record<string, WireValue>>;
}

export type CallHandler = (
  inputs: Record<string, unknown>,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface EngineOptions {
  readonly project: string;
  readonly stack: string;
  /** The `namespace:key` → string config map, as the CLI passes it. */
  readonly config: Readonly<Record<string, string>>;
  readonly secretKeys?: readonly string[];
  /** Preview (default) shows provider-computed values as unknown, like `pulumi preview`. */
  readonly preview?: boolean;
  /** Answers for provider functions (invokes) by token; any other token fails the run. */
  readonly calls?: Readonly<Record<string, CallHandler>>;
  /** Generates tls/random values; defaults to fresh values from node:crypto. */
  readonly generate?: LocalGenerator;
  /** Provider-computed outputs for tests that play the provider (e.g. a command's stdout). */
  readonly outputs?: OutputSimulator;
  /**
   * Register local components without their inputs, as the Node SDK does when
   * PULUMI_NODEJS_SKIP_COMPONENT_INPUTS is set (see SKIP_COMPONENT_INPUTS). Undefined leaves the
   * process environment as it is, so the variable works for the plan exactly as for the CLI.
   */
  readonly skipComponentInputs?: boolean;
}

/**
 * The SDK's switch for component inputs: the ComponentResource constructor sends `{}` instead of
 * its args when this variable holds any non-empty value ("false" included), unless the component is
 * remote (@pulumi/pulumi 3.248.0 node_modules/@pulumi/pulumi/resource.js:602-605; upstream
 * sdk/nodejs/resource.ts:1572-1575 at v3.248.0). The mock engine runs the same SDK in-process, so it
 * honours the variable the same way; runProgram only sets or clears it for the run.
 */
export const SKIP_COMPONENT_INPUTS = "PULUMI_NODEJS_SKIP_COMPONENT_INPUTS";

/** Whether the SDK in this process skips component inputs (its own test: a non-empty value). */
export function skipsComponentInputs(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[SKIP_COMPONENT_INPUTS]);
}

export type OutputSimulator = (resource: {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}) => Record<string, unknown> | undefined;

export type LocalGenerator = (type: string, name: string, inputs: Record<string, unknown>) => Promise<Generated>;

export const STACK_TYPE = "pulumi:pulumi:Stack";

/** A protobuf Struct as the SDK hands it over. */
interface Struct {
  toJavaScript(): Record<string, unknown>;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getImportid(): string;
  getObject(): Struct | undefined;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(callback: (value: { getUrnsList(): string[] }, key: string) => void): void };
  getAdditionalsecretoutputsList(): string[];
  getProtect(): boolean | undefined;
  getIgnorechangesList(): string[];
  getReplaceonchangesList(): string[];
  getDeletebeforereplace(): boolean;
  getRetainondelete(): boolean | undefined;
}
interface OutputsRequest {
  getUrn(): string;
  getOutputs(): Struct | undefined;
}
type Callback = (err: unknown, response?: unknown) => void;

function secretWire(value: unknown): Record<string, unknown> {
  return { [rpc.specialSigKey]: rpc.specialSecretSig, value };
}

/** A MockMonitor that also records what the engine would see of every registration. */
class RecordingMonitor extends MockMonitor {
  readonly recorded = new Map<string, RecordedResource>();
  readonly stackOutputs = new Map<string, Record<string, unknown>>();

  constructor(
    mocks: pulumi.runtime.Mocks,
    private readonly preview: boolean,
    private readonly generate: LocalGenerator,
  ) {
    super(mocks);
  }

  private urnFor(parent: string, type: string, name: string): string {
    // The engine prefixes a type with its parent's qualified type, except under the root stack.
    const parentQualified = parent ? (parent.split("::")[2] ?? "") : STACK_TYPE;
    const qualified = parentQualified === STACK_TYPE ? type : `${parentQualified}$${type}`;
    return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${qualified}::${name}`;
  }

  // Replaces MockMonitor.registerResource to see the whole request.
  override async registerResource(req: RegisterRequest, callback: Callback): Promise<void> {
    try {
      const type = req.getType();
      const name = req.getName();
      const wireInputs = req.getObject()?.toJavaScript() ?? {};
      const custom = req.getCustom();
      const urn = this.urnFor(req.getParent(), type, name);
      const generated = custom && generatesLocally(type);

      let id: string | undefined;
      let state: Record<string, unknown>;
      if (generated) {
        const values = await this.generate(type, name, rpc.deserializeProperties(req.getObject() as never));
        const secretOutputs = new Set(req.getAdditionalsecretoutputsList());
        state = { ...wireInputs };
        for (const [key, value] of Object.entries(values))
          state[key] = secretOutputs.has(key) ? secretWire(value) : value;
        id = `${name}-preview`;
      } else {
        const result = await this.mocks.newResource({
          type,
          name,
          inputs: rpc.deserializeProperties(req.getObject() as never, true),
          provider: req.getProvider(),
          custom,
          id: req.getImportid(),
        });
        id = result.id;
        state = (await rpc.serializeProperties("", result.state)) as Record<string, unknown>;
      }

      const provider = req.getProvider();
      const options: Record<string, unknown> = {};
      if (req.getProtect()) options.protect = true;
      if (req.getIgnorechangesList().length) options.ignoreChanges = req.getIgnorechangesList();
      if (req.getReplaceonchangesList().length) options.replaceOnChanges = req.getReplaceonchangesList();
      if (req.getDeletebeforereplace()) options.deleteBeforeReplace = true;
      if (req.getRetainondelete()) options.retainOnDelete = true;
      if (req.getAdditionalsecretoutputsList().length)
        options.additionalSecretOutputs = req.getAdditionalsecretoutputsList();
      const propertyDependencies: Record<string, string[]> = {};
      req.getPropertydependenciesMap().forEach((value, key) => {
        const urns = [...new Set(value.getUrnsList())].sort();
        if (urns.length > 0) propertyDependencies[key] = urns;
      });
      this.recorded.set(urn, {
        urn,
        type,
        name,
        custom,
        parent: req.getParent() || undefined,
        provider: provider ? provider.split("::").slice(0, -1).join("::") : undefined,
        dependencies: [...new Set(req.getDependenciesList())].sort(),
        propertyDependencies,
        inputs: wireInputs,
        options,
        generated,
      });
      this.resources.set(urn, { urn, id: id ?? null, state });

      const response = new RegisterResourceResponse();
      response.setUrn(urn);
      // In a preview, a resource being created has no id yet.
      response.setId(this.preview && custom && !generated ? "" : (id ?? ""));
      response.setObject(StructClass.fromJavaScript(state) as never);
      callback(null, response);
    } catch (err) {
      callback(err);
    }
  }

  // Replaces MockMonitor.registerResourceOutputs, which keeps the request's protobuf Struct as the
  // resource's state (@pulumi/pulumi 3.248.0 runtime/mocks.js:117-129; upstream
  // pulumi/pulumi@v3.248.0 sdk/nodejs/runtime/mocks.ts:221-227): here the state is the same outputs
  // in wire form, one object shared with the recording.
  override registerResourceOutputs(req: OutputsRequest, callback: Callback): void {
    const urn = req.getUrn();
    const registered = this.resources.get(urn);
    if (!registered) {
      callback(new Error(`unknown resource ${urn}`));
      return;
    }
    const outputs = req.getOutputs()?.toJavaScript() ?? {};
    if (urn.split("::")[2] === STACK_TYPE) this.stackOutputs.set(urn, outputs);
    const recorded = this.recorded.get(urn);
    if (recorded) recorded.outputs = outputs;
    registered.state = outputs;
    callback(null, {});
  }
}

/**
 * Runs `program` as the Pulumi CLI would (inside a root Stack resource whose outputs are the
 * program's result) against the mock engine, and returns what was registered.
 */
export async function runProgram(program: () => unknown, options: EngineOptions): Promise<ProgramRun> {
  const preview = options.preview ?? true;
  pulumi.runtime.setAllConfig({ ...options.config }, [...(options.secretKeys ?? [])]);
  const mocks: pulumi.runtime.Mocks = {
    newResource: (args) => ({
      id: preview ? undefined : `${args.name}-id`,
      // Inputs come back as outputs; everything else a provider computes stays unknown in a preview.
      state: {
        ...(args.inputs as Record<string, unknown>),
        ...options.outputs?.({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> }),
      },
    }),
    call: async (args) => {
      const handler = options.calls?.[args.token];
      if (!handler) {
        // The SDK reports a failed invoke with the error's gRPC `details`.
        const message = `no offline answer for provider function ${args.token}; add one to the plan's call table`;
        throw Object.assign(new Error(message), { details: message });
      }
      return handler(args.inputs as Record<string, unknown>);
    },
  };
  // setMocks configures the runtime's feature flags; the monitor is then swapped for ours.
  await pulumi.runtime.setMocks(mocks, options.project, options.stack, preview);
  const monitor = new RecordingMonitor(
    mocks,
    preview,
    options.generate ?? ((type, _name, inputs) => generateLocally(type, inputs)),
  );
  setMockOptions(monitor, options.project, options.stack, preview);
  // As under the CLI (caching is its default since 3.0): serialize each dynamic provider once.
  runtimeOptions().cacheDynamicProviders = true;

  const restoreSdk = quietSdk();
  const errorsBefore = errorCount();
  // Like the CLI's program runner, the run owns the promise rejections that happen during it:
  // a failed output (an invoke without answer, an apply or renderer that throws) fails the run at
  // once. Waiting for the registrations instead would wait forever: a registration whose input
  // failed never completes, the event loop drains, and the SDK's leak detector replaces the
  // error with "N promises were still active" at exit.
  const rejections: unknown[] = [];
  let abort: (reason: unknown) => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    abort = reject;
  });
  aborted.catch(() => undefined);
  const collect = (reason: unknown) => {
    rejections.push(reason);
    abort(reason);
  };
  // Nothing left to run while the program is still waiting: a value that never resolves.
  const stalled = () =>
    abort(new Error("the program stopped with registrations still waiting for values that never resolved"));
  const others = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", collect);
  process.on("beforeExit", stalled);
  const skipBefore = process.env[SKIP_COMPONENT_INPUTS];
  if (options.skipComponentInputs === true) process.env[SKIP_COMPONENT_INPUTS] = "true";
  else if (options.skipComponentInputs === false) delete process.env[SKIP_COMPONENT_INPUTS];
  let programError: { error: unknown } | undefined;
  let failedEarly = false;
  try {
    await Promise.race([
      pulumi.runtime.runInPulumiStack(async () => {
        try {
          return (await program()) as never;
        } catch (error) {
          // Kept and rethrown once the registrations already started have settled.
          programError = { error };
          return {} as never;
        }
      }),
      aborted,
    ]);
  } catch (error) {
    failedEarly = rejections.length > 0 || programError === undefined;
    programError ??= { error };
  } finally {
    // After a failed value some registrations never complete: do not wait for them.
    if (!failedEarly) await Promise.race([waitForRPCs().catch(() => undefined), aborted.catch(() => undefined)]);
    await new Promise((resolve) => setImmediate(resolve));
    // The run is recorded: let the SDK's objects go (about 23 KiB per resource, see README Scale).
    releaseStackResource();
    process.off("beforeExit", stalled);
    process.off("unhandledRejection", collect);
    for (const listener of others) process.on("unhandledRejection", listener);
    restoreSdk();
    if (skipBefore === undefined) delete process.env[SKIP_COMPONENT_INPUTS];
    else process.env[SKIP_COMPONENT_INPUTS] = skipBefore;
  }
  if (programError) throw programError.error;
  if (rejections.length > 0) throw rejections[0] instanceof Error ? rejections[0] : new Error(String(rejections[0]));
  if (errorCount() > errorsBefore) throw new Error("the program logged errors (see above)");

  const stackUrn = [...monitor.stackOutputs.keys()][0];
  return {
    resources: [...monitor.recorded.values()].sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0)),
    outputs: stackUrn ? (monitor.stackOutputs.get(stackUrn) ?? {}) : {},
  };
}

function errorCount(): number {
  return (pulumi.log as unknown as { errcnt?: number }).errcnt ?? 0;
}
