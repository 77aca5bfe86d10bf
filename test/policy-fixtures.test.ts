// The pack on the real plans of prod and staging, as the SDK may send them: with component inputs
// and without (PULUMI_NODEJS_SKIP_COMPONENT_INPUTS). The verdict is the same either way, and every
// rule still refuses its violations, made on the custom resources the providers receive
// (policies/fixtures.ts, the fixtures the pull request review runs under both pack versions).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FIXTURES, type FixtureRun } from "../policies/fixtures";
import { enforcementLevels, RULES } from "../common/policy-catalog";
import type { ProgramRun } from "../plan/engine";
import { evaluatePolicies, type PolicyFinding } from "../plan/policy";
import { run } from "./support/exec";
import { planWithKeys, root } from "./plans";

const STACKS = ["prod", "staging"] as const;
const mandatoryRules = (findings: readonly PolicyFinding[]) =>
  [...new Set(findings.filter((f) => f.enforcementLevel === "mandatory").map((f) => f.policy))].sort();
const withoutUrns = (findings: readonly PolicyFinding[]) =>
  findings.map(({ policy, enforcementLevel, message }) => ({ policy, enforcementLevel, message }));

describe.each(STACKS)("the %s plan without component inputs", (stack) => {
  const plans = Promise.all([
    planWithKeys({}, { stack, skipComponentInputs: false }),
    planWithKeys({}, { stack, skipComponentInputs: true }),
  ]);

  it("registers the components without inputs, as the SDK does with the variable set", async () => {
    const [withInputs, without] = await plans;
    const components = (run: ProgramRun) => run.resources.filter((r) => !r.custom && r.type.startsWith("mailstack:"));
    expect(components(withInputs.result.run).length).toBeGreaterThan(4);
    for (const component of components(withInputs.result.run))
      expect(Object.keys(component.inputs).length, component.urn).toBeGreaterThan(0);
    for (const component of components(without.result.run)) expect(component.inputs, component.urn).toEqual({});
    // The custom resources the providers receive are the same.
    const custom = (run: ProgramRun) => run.resources.filter((r) => r.custom).map((r) => r.urn);
    expect(custom(without.result.run)).toEqual(custom(withInputs.result.run));
  });

  it("gets the same verdict, and no mandatory finding, either way", async () => {
    const [withInputs, without] = await plans;
    expect(without.result.policy.mandatory).toEqual([]);
    expect(withoutUrns(without.result.policy.findings)).toEqual(withoutUrns(withInputs.result.policy.findings));
  });

  it("writes the same zone files either way (from the stack outputs and the records)", async () => {
    const [withInputs, without] = await plans;
    const zones = (files: readonly { path: string; content: string }[]) =>
      files.filter((f) => f.path.startsWith("dns/"));
    expect(zones(without.result.files).length).toBeGreaterThan(0);
    expect(zones(without.result.files)).toEqual(zones(withInputs.result.files));
  });
});

describe("every rule refuses its violations, made on the custom resources of the prod plan", () => {
  const prod = planWithKeys({}, { skipComponentInputs: true });
  const levels = enforcementLevels([], "prod");

  it("has a fixture for every mandatory rule", () => {
    const covered = new Set(FIXTURES.map((f) => f.rule));
    const mandatory = Object.values(RULES).filter((r) => r.enforcementLevel === "mandatory");
    expect(mandatory.filter((r) => !covered.has(r.name)).map((r) => r.name)).toEqual([]);
  });

  it.each(FIXTURES.map((f) => [f.name, f] as const))("%s", async (_, fixture) => {
    const { result } = await prod;
    const changed = fixture.change(result.run as unknown as FixtureRun);
    expect(changed, `${fixture.name} does not apply to the prod plan`).toBeDefined();
    const report = await evaluatePolicies(changed as unknown as ProgramRun, levels);
    expect(mandatoryRules(report.findings)).toContain(fixture.rule);
    const messages = report.mandatory.filter((f) => f.policy === fixture.rule).map((f) => f.message);
    expect(messages.join("\n")).toMatch(/\S/);
  });
});

describe("npm run plan with PULUMI_NODEJS_SKIP_COMPONENT_INPUTS set", () => {
  const out = mkdtempSync(join(tmpdir(), "mailstack-skip-inputs-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("plans prod with exit 0, no mandatory finding and the zone file written", async () => {
    const result = await run(
      process.execPath,
      ["--require", "tsx/cjs", join(root, "plan", "cli.ts"), "--stack", "prod", "--out", join(out, "prod")],
      { cwd: root, env: { ...process.env, PULUMI_NODEJS_SKIP_COMPONENT_INPUTS: "true" } },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Policy pack mailstack-security: 0 mandatory violation\(s\)/);
    expect(existsSync(join(out, "prod", "dns", "xd-cloud.de.zone"))).toBe(true);
  });
});
