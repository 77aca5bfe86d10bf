// The SDK's debugging aids the offline engine turns off for a run (plan/quiet-sdk.ts) are off
// while it runs, back afterwards, and kept when MAILSTACK_STACK_TRACES=1 asks for them.
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { promiseTracking } from "../common/sdk-internals";
import { quietSdk } from "../plan/quiet-sdk";

const callsites = () => (pulumi.Resource as unknown as { callsites: () => unknown[] }).callsites();

describe("quietSdk", () => {
  it("hands promises back untracked and takes no stack traces until restored", () => {
    const tracker = promiseTracking.debuggablePromise;
    const limit = Error.stackTraceLimit;
    const restore = quietSdk({});
    try {
      const promise = Promise.resolve(1);
      expect(promiseTracking.debuggablePromise(promise, "ctx")).toBe(promise);
      expect(Error.stackTraceLimit).toBe(0);
      expect(callsites()).toEqual([]);
    } finally {
      restore();
    }
    expect(promiseTracking.debuggablePromise).toBe(tracker);
    expect(Error.stackTraceLimit).toBe(limit);
    const promise = Promise.resolve(2);
    // The SDK's own tracker wraps the promise in a new one.
    expect(promiseTracking.debuggablePromise(promise, "ctx")).not.toBe(promise);
  });

  it("keeps the aids with MAILSTACK_STACK_TRACES=1", () => {
    const tracker = promiseTracking.debuggablePromise;
    const limit = Error.stackTraceLimit;
    const restore = quietSdk({ MAILSTACK_STACK_TRACES: "1" });
    expect(promiseTracking.debuggablePromise).toBe(tracker);
    expect(Error.stackTraceLimit).toBe(limit);
    restore();
  });
});
