// The SDK internals mailstack relies on (common/sdk-internals.ts) are where and what they were:
// an upgrade of @pulumi/pulumi or @pulumi/policy that moves or reshapes one fails here, by name,
// before the mock engine or the pack's runner fails somewhere less obvious.
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  isConfigSecret,
  MockMonitor,
  policyProxy,
  RegisterResourceResponse,
  runtimeOptions,
  setMockOptions,
  Struct,
  waitForRPCs,
  wire,
} from "../common/sdk-internals";

describe("the SDK internals in common/sdk-internals.ts", () => {
  it("keep the wire markers of the Pulumi protocol (sdk/nodejs/runtime/rpc.ts)", () => {
    expect(wire.specialSigKey).toBe("4dabf18193072939515e22adb298388d");
    expect(wire.specialSecretSig).toBe("1b47061264138c4ac30d75fd1eb44270");
    expect(wire.specialOutputValueSig).toBe("d0e6a833031e9bbcd3f4e8bde6ca49a4");
    expect(wire.specialResourceSig).toBe("5cf8f73096256a8f31e491e813e4eb8e");
    expect(wire.unknownValue).toBe("04da6b54-80e4-46f7-96ec-b56ff0331ba9");
    for (const fn of [wire.serializeProperty, wire.serializeProperties, wire.deserializeProperties])
      expect(fn).toBeTypeOf("function");
  });

  it("read a registration's secret and unknown values as the mock engine records them", () => {
    const struct = Struct.fromJavaScript({
      password: { [wire.specialSigKey]: wire.specialSecretSig, value: "x" },
      later: wire.unknownValue,
    });
    const read = wire.deserializeProperties(struct as never, true) as Record<string, Record<string, unknown>>;
    expect(read.password).toEqual({ [wire.specialSigKey]: wire.specialSecretSig, value: "x" });
    expect(read.later).toBeDefined();
  });

  it("keep the mock monitor, the registration response and the run options", () => {
    for (const method of ["registerResource", "registerResourceOutputs"])
      expect(typeof (MockMonitor.prototype as unknown as Record<string, unknown>)[method], method).toBe("function");
    expect(typeof (new RegisterResourceResponse() as unknown as Record<string, unknown>).setUrn).toBe("function");
    expect(setMockOptions).toBeTypeOf("function");
    expect(waitForRPCs).toBeTypeOf("function");
    expect(runtimeOptions()).toBeTypeOf("object");
  });

  it("tell a secret config value from a plain one", () => {
    pulumi.runtime.setAllConfig({ "mailstack:plain": "a", "mailstack:hidden": "b" }, ["mailstack:hidden"]);
    expect(isConfigSecret("mailstack:hidden")).toBe(true);
    expect(isConfigSecret("mailstack:plain")).toBe(false);
  });

  it("keep the policy SDK's unknown-checking proxy: reading an unknown throws UnknownValueError", () => {
    const props = policyProxy.unknownCheckingProxy({ known: 1, later: wire.unknownValue });
    expect(props.known).toBe(1);
    expect(() => props.later).toThrow(policyProxy.UnknownValueError);
  });
});
