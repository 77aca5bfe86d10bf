// MTA-STS in enforce mode with a max_age of at least a week (RFC 8461 §3.2; internet.nl).
import { RULES } from "../../common/policy-catalog";
import { TYPES, unknownProps, resourceRule, knownString } from "../lib";

export const MIN_MAX_AGE = 604800;

function check(mode: string | undefined, maxAge: number | undefined, where: string): string[] {
  const problems: string[] = [];
  if (mode !== undefined && mode !== "enforce")
    problems.push(
      `${where} is in "${mode}" mode: set mailstack:mtaSts.mode to "enforce" once the TLS reports are clean`,
    );
  if (maxAge !== undefined && maxAge < MIN_MAX_AGE)
    problems.push(
      `${where} has max_age ${maxAge}: set mailstack:mtaSts.maxAgeSeconds to at least ${MIN_MAX_AGE} (one week)`,
    );
  return problems;
}

/** mode and max_age of the policy text a Worker serves. */
export function policyFromWorker(content: string): { mode?: string; maxAge?: number } | undefined {
  const text = /const POLICY = ("(?:[^"\\]|\\.)*");/.exec(content)?.[1];
  if (!text) return undefined;
  const policy = JSON.parse(text) as string;
  const mode = /^mode:\s*(\S+)\s*$/m.exec(policy)?.[1];
  const maxAge = /^max_age:\s*(\d+)\s*$/m.exec(policy)?.[1];
  return { ...(mode ? { mode } : {}), ...(maxAge ? { maxAge: Number(maxAge) } : {}) };
}

export const mtaSts = resourceRule(RULES.mtaSts, {
  description: "The MTA-STS policies the Workers serve are in enforce mode with max_age of at least one week.",
  remediationSteps: 'Set mailstack:mtaSts to {mode: "enforce", maxAgeSeconds: 604800} or more.',
  validateResource: (args, report) => {
    if (args.type === TYPES.workersScript) {
      const content = knownString(() => unknownProps(args).content);
      const policy = content ? policyFromWorker(content) : undefined;
      if (!policy) return;
      for (const problem of check(policy.mode, policy.maxAge, `the MTA-STS policy served by ${args.name}`))
        report(problem);
    }
  },
});
