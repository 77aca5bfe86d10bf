// Deploys PfSenseRules the way `pulumi up` does, with the provider Pulumi would run: the program
// registers its resources through the SDK (so the SDK decides what runs concurrently: independent
// resources at once, dependents after their dependencies), each registration is played against
// the serialized dynamic provider text it carries (loaded once per distinct text, like the
// dynamic provider host), with check → create, or diff → update / replace (create first unless
// the provider asks otherwise); then the deletes: resources the program no longer declares and
// replaced ones, dependents first, independent ones at once. `refresh` reads every resource first,
// as `pulumi up --refresh` does. The state is kept by the caller between deployments.
// Load this file natively (tsx's require), not through vitest's transform: the SDK serializes the
// provider from the modules it finds loaded, as under the Pulumi CLI.
import { createRequire } from "node:module";
import * as vm from "node:vm";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor, setMockOptions, waitForRPCs, wire as rpc } from "../../common/sdk-internals";
import { PfSenseRules } from "../../components/pfsense-rules";
import type { ApiConnection } from "../../providers/rest";
import type { FirewallPlan } from "../../render/firewall-plan";

type Provider = pulumi.dynamic.ResourceProvider;
type Props = Record<string, unknown>;

export interface StateEntry {
  readonly type: string;
  readonly name: string;
  readonly id: string;
  readonly inputs: Props;
  readonly outputs: Props;
  /** The serialized provider the resource was last written with (deletes use it). */
  readonly provider: string;
  /** Names of the resources it depends on. */
  readonly dependencies: readonly string[];
}

export type StackState = ReadonlyMap<string, StateEntry>;

export interface Deployment {
  readonly state: Map<string, StateEntry>;
  /** "create|update|replace|delete|same|read-gone <name>", in the order they finished. */
  readonly steps: string[];
  /** The failed operations' messages, as the engine would report them (error.message). */
  readonly errors: string[];
}

const providers = new Map<string, Provider>();

/** The dynamic provider host's requireFromString(text).handler(), cached by text. */
function providerOf(text: string): Provider {
  let provider = providers.get(text);
  if (!provider) {
    const module = { exports: {} as Record<string, unknown> };
    const load = vm.runInThisContext(`(function (exports, module, require) {\n${text}\n})`) as (
      exports: unknown,
      module: unknown,
      require: NodeJS.Require,
    ) => void;
    load(module.exports, module, createRequire(__filename));
    provider = (module.exports.handler as () => Provider)();
    providers.set(text, provider);
  }
  return provider;
}

/** The engine hands a dynamic provider plain values (it does not accept secrets). */
function unwrap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrap);
  if (value === null || typeof value !== "object") return value;
  const object = value as Props;
  if (object[rpc.specialSigKey] === rpc.specialSecretSig) return unwrap(object.value);
  return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, unwrap(inner)]));
}

const messageOf = (error: unknown) => {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : String(error);
};

class DeployMonitor extends MockMonitor {
  readonly dependencies = new Map<string, string[]>();

  override registerResource(req: never, callback: never): Promise<void> {
    const request = req as { getName(): string; getDependenciesList(): string[] };
    this.dependencies.set(
      request.getName(),
      request.getDependenciesList().map((urn) => urn.split("::").at(-1) ?? urn),
    );
    return super.registerResource(req, callback);
  }
}

/** Resolves once `idle` has held over a few turns of the event loop in a row. */
async function quiet(idle: () => boolean): Promise<void> {
  for (let calm = 0; calm < 5;) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    calm = idle() ? calm + 1 : 0;
  }
}

/**
 * One `pulumi up` of PfSenseRules("pfsense", plan) against `target`, from `state` (a plan of
 * undefined declares nothing: the deletes of a `pulumi destroy`).
 */
export async function deploy(
  plan: FirewallPlan | undefined,
  target: ApiConnection,
  state: StackState,
  options: { refresh?: boolean } = {},
): Promise<Deployment> {
  const next = new Map(state);
  const steps: string[] = [];
  const errors: string[] = [];
  const fail = (name: string, error: unknown) => {
    errors.push(`${name}: ${messageOf(error)}`);
    throw error;
  };

  if (options.refresh) {
    await Promise.all(
      [...next.values()].map(async (entry) => {
        const read = providerOf(entry.provider).read;
        if (!read) return;
        const result = await read(entry.id, entry.outputs).catch((error: unknown) => fail(entry.name, error));
        if (!result.props) {
          next.delete(entry.name);
          steps.push(`read-gone ${entry.name}`);
        } else next.set(entry.name, { ...entry, outputs: { ...(result.props as Props), __provider: entry.provider } });
      }),
    );
  }

  const registered = new Set<string>();
  let running = 0;
  const replaced: StateEntry[] = [];
  const mocks: pulumi.runtime.Mocks = {
    newResource: async (args) => {
      registered.add(args.name);
      if (!args.custom) return { id: undefined, state: args.inputs as Props };
      running++;
      const news = unwrap(args.inputs) as Props;
      const text = String(news.__provider);
      const provider = providerOf(text);
      const old = next.get(args.name);
      const dependencies = monitor.dependencies.get(args.name) ?? [];
      try {
        const checked = provider.check ? await provider.check(old?.inputs ?? {}, news) : { inputs: news };
        if (checked.failures && checked.failures.length > 0)
          throw new Error(checked.failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
        const inputs = (checked.inputs ?? news) as Props;
        const create = async (step: string) => {
          const result = await provider.create(inputs);
          const entry = {
            type: args.type,
            name: args.name,
            id: result.id,
            inputs,
            outputs: { ...(result.outs as Props), __provider: text },
            provider: text,
            dependencies,
          };
          next.set(args.name, entry);
          steps.push(`${step} ${args.name}`);
          return entry;
        };
        let entry: StateEntry;
        if (!old) entry = await create("create");
        else {
          const diff = provider.diff ? await provider.diff(old.id, old.outputs, inputs) : { changes: true };
          if (diff.replaces && diff.replaces.length > 0) {
            if (diff.deleteBeforeReplace) {
              await providerOf(old.provider).delete?.(old.id, old.outputs);
              entry = await create("replace");
            } else {
              replaced.push(old);
              entry = await create("replace");
            }
          } else if (diff.changes !== false) {
            const result = provider.update ? await provider.update(old.id, old.outputs, inputs) : { outs: inputs };
            entry = {
              ...old,
              inputs,
              outputs: { ...(result.outs as Props), __provider: text },
              provider: text,
              dependencies,
            };
            next.set(args.name, entry);
            steps.push(`update ${args.name}`);
          } else {
            entry = { ...old, inputs, dependencies };
            next.set(args.name, entry);
            steps.push(`same ${args.name}`);
          }
        }
        const { __provider: _text, ...outputs } = entry.outputs;
        return { id: entry.id, state: outputs };
      } catch (error) {
        return fail(args.name, error);
      } finally {
        running--;
      }
    },
    call: () => Promise.reject(new Error("no provider functions here")),
  };

  await pulumi.runtime.setMocks(mocks, "mailstack", "lab", false);
  const monitor = new DeployMonitor(mocks);
  setMockOptions(monitor, "mailstack", "lab", false);
  const rejections: unknown[] = [];
  const collect = (reason: unknown) => rejections.push(reason);
  const others = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", collect);
  try {
    await pulumi.runtime.runInPulumiStack(() => {
      if (plan) new PfSenseRules("pfsense", { plan, connection: { ...target } });
      return Promise.resolve({});
    });
  } catch (error) {
    errors.push(messageOf(error));
  } finally {
    // After a failed registration the SDK's mock runtime never settles its RPC count (its
    // resolveOutputs rethrows before `done`): then the deployment is over once nothing runs.
    await Promise.race([waitForRPCs().catch(() => undefined), quiet(() => errors.length > 0 && running === 0)]);
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", collect);
    for (const listener of others) process.on("unhandledRejection", listener);
  }

  // Deletes: what the program no longer declares and what was replaced, once the rest succeeded
  // (a failed deployment keeps replaced resources for a later one, as pending deletes).
  if (errors.length > 0) {
    for (const old of replaced) next.set(`${old.name}#replaced`, old);
    return { state: next, steps, errors };
  }
  const doomed = [...[...next.values()].filter((entry) => !registered.has(entry.name)), ...replaced];
  for (const entry of doomed) if (!registered.has(entry.name)) next.delete(entry.name);
  const remaining = new Set(doomed);
  while (remaining.size > 0) {
    const ready = [...remaining].filter(
      (entry) => ![...remaining].some((other) => other !== entry && other.dependencies.includes(entry.name)),
    );
    if (ready.length === 0) throw new Error("dependency cycle among deletes");
    for (const entry of ready) remaining.delete(entry);
    await Promise.all(
      ready.map(async (entry) => {
        try {
          await providerOf(entry.provider).delete?.(entry.id, entry.outputs);
          steps.push(`delete ${entry.name}`);
        } catch (error) {
          errors.push(`${entry.name}: ${messageOf(error)}`);
          if (!next.has(entry.name)) next.set(entry.name, entry);
        }
      }),
    );
  }
  return { state: next, steps, errors };
}
