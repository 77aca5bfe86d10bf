// The SDK's debugging aids the offline engine turns off for a run, because at scale they cost more
// than the plan itself and the engine never shows what they collect (MAILSTACK_STACK_TRACES=1
// keeps them all, to debug the program):
// - a stack trace of unlimited depth per resource for its source position (Resource.callsites in
//   @pulumi/pulumi 3.248.0 resource.js), which the mock engine ignores;
// - the promise leak tracker (runtime/debuggable.js debuggablePromise): per tracked promise a
//   `new Error().stack`, three properties, two more chained promises and an entry in a Set, all for
//   the "N promises were still active" report at exit. The engine reports a stalled program itself
//   (runProgram's beforeExit check), so the tracker hands each promise back as it is.
import * as pulumi from "@pulumi/pulumi";
import { promiseTracking } from "../common/sdk-internals";

/** Turns the aids off until the returned function restores them. */
export function quietSdk(env: NodeJS.ProcessEnv = process.env): () => void {
  if (env.MAILSTACK_STACK_TRACES === "1") return () => undefined;
  const resourceClass = pulumi.Resource as unknown as { callsites: () => unknown[] };
  const { callsites } = resourceClass;
  const { debuggablePromise } = promiseTracking;
  const traceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  resourceClass.callsites = () => [];
  promiseTracking.debuggablePromise = (promise) => promise;
  return () => {
    Error.stackTraceLimit = traceLimit;
    resourceClass.callsites = callsites;
    promiseTracking.debuggablePromise = debuggablePromise;
  };
}
