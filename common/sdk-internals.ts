// Every piece of @pulumi/pulumi and @pulumi/policy that mailstack uses beyond their public API, in
// one place (pinned: @pulumi/pulumi 3.248.0, @pulumi/policy 1.21.0). The mock engine (plan/),
// the config reader (config/pulumi.ts) and the pack's offline runner (policies/args.ts) import
// them from here; test/sdk-internals.test.ts fails on an SDK upgrade that moves or reshapes one.
import { createRequire } from "node:module";
import { RegisterResourceResponse } from "@pulumi/pulumi/proto/resource_pb";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";

export { MockMonitor, RegisterResourceResponse };

/** The wire format's markers and (de)serializers (runtime/rpc.js). */
export const wire = {
  specialSigKey: rpc.specialSigKey,
  specialSecretSig: rpc.specialSecretSig,
  specialOutputValueSig: rpc.specialOutputValueSig,
  specialResourceSig: rpc.specialResourceSig,
  specialAssetSig: rpc.specialAssetSig,
  specialArchiveSig: rpc.specialArchiveSig,
  unknownValue: rpc.unknownValue,
  serializeProperty: rpc.serializeProperty,
  serializeProperties: rpc.serializeProperties,
  deserializeProperties: rpc.deserializeProperties,
} as const;

/** Points the SDK at a mock monitor (runtime/settings.js). */
export const setMockOptions = settings.setMockOptions;

/** Resolves once every outstanding registration has completed (runtime/settings.js, not exported in the types). */
export const waitForRPCs = (settings as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;

/**
 * The SDK's promise leak tracker (runtime/debuggable.js): every call site reads
 * `debuggable_1.debuggablePromise` from this module object when it runs, so replacing the export
 * takes effect everywhere (the module object itself: an `import *` namespace only has getters).
 */
export const promiseTracking = createRequire(require.resolve("@pulumi/pulumi"))("./runtime/debuggable") as {
  debuggablePromise: <T>(promise: Promise<T>, context: unknown) => Promise<T>;
};

/**
 * Drops the SDK's root Stack resource (runtime/state.js setStackResource: the module's store and
 * `globalThis.stackResource`; upstream pulumi/pulumi@v3.248.0 sdk/nodejs/runtime/state.ts:338-341).
 * The Stack keeps every resource of the run through its `__childResources` Set (resource.js:209-210;
 * upstream sdk/nodejs/resource.ts:501), and with them each resource's outputs, promises and
 * closures, until the next run replaces it.
 */
export function releaseStackResource(): void {
  const state = createRequire(require.resolve("@pulumi/pulumi"))("./runtime/state") as {
    setStackResource: (stack: undefined) => void;
  };
  state.setStackResource(undefined);
}

/** Whether the CLI passed config `key` as a secret (runtime/config.js, not in the types). */
export const isConfigSecret = (runtimeConfig as unknown as { isConfigSecret: (key: string) => boolean }).isConfigSecret;

/** The SDK's run options (runtime/state.js; they have no public setter). */
export function runtimeOptions(): Record<string, unknown> {
  const state = createRequire(require.resolve("@pulumi/pulumi"))("./runtime/state") as {
    getStore: () => { settings: { options: Record<string, unknown> } };
  };
  return state.getStore().settings.options;
}

/** google-protobuf's Struct, resolved the way the SDK resolves it (a dependency of the SDK, not ours). */
export const Struct = (
  createRequire(require.resolve("@pulumi/pulumi"))("google-protobuf/google/protobuf/struct_pb") as {
    Struct: { fromJavaScript(value: Record<string, unknown>): { toJavaScript(): Record<string, unknown> } };
  }
).Struct;

interface PolicyProxy {
  unknownCheckingProxy<T extends object>(props: T): T;
  UnknownValueError: new (...args: never[]) => Error;
}
/**
 * The policy SDK's unknown-checking proxy (proxy.js, not in its type declarations): a rule that
 * reads a value a preview cannot know throws UnknownValueError, as under the CLI's analyzer.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const policyProxy = require("@pulumi/policy/proxy") as PolicyProxy;
