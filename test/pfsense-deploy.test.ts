// PfSenseRules deployed the way `pulumi up` deploys it (test/support/pfsense-deploy.ts: the SDK
// decides what runs at once, the serialized provider does the work) against the fake pfrest,
// whose writes overlap as pfrest's do: nothing lost, the first up and later ups, a rule-only
// change and a drift fix applied, an alias renamed without a reload that misses it, destroy.
import type { ApiConnection } from "../providers/rest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { require as tsxRequire } from "tsx/cjs/api";
import { marker, type FirewallPlan } from "../render/firewall-plan";
import { loopbackCertificate } from "./fakes/https";
import { FakePfRest, type PfObject } from "./fakes/pfrest";
import type * as Deploy from "./support/pfsense-deploy";
import { testPlan } from "./support/test-plan";

const { deploy } = tsxRequire("./support/pfsense-deploy", __filename) as typeof Deploy;

const API_KEY = "pfrest-deploy-test-key";
let fake: FakePfRest;
let target: ApiConnection;

beforeAll(async () => {
  fake = new FakePfRest(await loopbackCertificate(), API_KEY);
  await fake.api.start();
  target = fake.api.connection(API_KEY);
});
afterAll(() => fake.api.stop());
beforeEach(() => {
  fake.reset();
  // PHP's time between reading config.xml and writing it back: concurrent writes overlap.
  fake.writeDelayMs = 30;
});

const plan = testPlan([25, 80, 443, 995]);

const ours = (list: readonly PfObject[]) => list.filter((o) => String(o.descr).startsWith("[mailstack:test:"));
const skipped = () => fake.systemLog.filter((line) => /Unresolvable|loading the rules/.test(line));

async function up(planned: FirewallPlan | undefined, state: Deploy.StackState = new Map(), refresh = false) {
  const result = await deploy(planned, target, state, { refresh });
  expect(result.errors).toEqual([]);
  return result;
}

describe("PfSenseRules under `pulumi up`", () => {
  it("creates every object once, with the stack's concurrency, and pf runs all of them", async () => {
    const first = await up(plan);
    expect(
      ours(fake.config.alias)
        .map((a) => a.name)
        .sort(),
    ).toEqual(plan.aliases.map((a) => a.name).sort());
    expect(ours(fake.config.rule)).toHaveLength(plan.rules.length);
    expect(ours(fake.config.port_forward)).toHaveLength(1);
    expect(ours(fake.applied.rules)).toHaveLength(plan.rules.length);
    expect(fake.dirty.size).toBe(0);
    expect(skipped()).toEqual([]);
    expect(first.steps.filter((s) => s.startsWith("create"))).toHaveLength(plan.aliases.length + plan.rules.length + 2);

    // A second up finds everything as planned: no write, no reload.
    const reloads = fake.reloads;
    fake.api.requests.length = 0;
    const second = await up(plan, first.state, true);
    expect(second.steps.every((s) => s.startsWith("same"))).toBe(true);
    expect(fake.api.writes()).toEqual([]);
    expect(fake.reloads).toBe(reloads);
  });

  it("applies a change to one rule only, and a drift fix found by refresh", async () => {
    const first = await up(plan);
    const changed: FirewallPlan = {
      ...plan,
      rules: plan.rules.map((r) => (r.key === "lan-ntp-out" ? { ...r, ipprotocol: "inet" as const } : r)),
    };
    const second = await up(changed, first.state);
    expect(second.steps).toContain("update pfsense-lan-ntp-out");
    expect(fake.applied.rules.find((r) => String(r.descr).startsWith(marker("test", "lan-ntp-out")))?.ipprotocol).toBe(
      "inet",
    );
    // In the GUI someone opens the IPv4 WAN rule to every port and applies it.
    const wan = fake.find("rule", marker("test", "wan-mail-ipv4"));
    fake.guiEdit("rule", wan?.position ?? -1, { destination_port: null });
    fake.guiApply();
    await up(changed, second.state, true);
    const running = fake.applied.rules.find((r) => String(r.descr).startsWith(marker("test", "wan-mail-ipv4")));
    expect(running?.destination_port).toBe("ms_test_mail_ports");
  });

  it("renames an alias without any reload running a rule that names a missing alias", async () => {
    const first = await up(plan);
    const rename = (value: string | null) => (value === "ms_test_mail_host" ? "ms_test_host" : value);
    const renamed: FirewallPlan = {
      ...plan,
      aliases: plan.aliases.map((a) => ({ ...a, name: rename(a.name) ?? a.name })),
      rules: plan.rules.map((r) => ({ ...r, source: rename(r.source) ?? r.source })),
    };
    const second = await up(renamed, first.state);
    expect(second.steps).toEqual(
      expect.arrayContaining([
        "replace pfsense-alias-mail-host",
        "update pfsense-lan-block-rest",
        "delete pfsense-alias-mail-host",
      ]),
    );
    // The old alias goes last, after the rules moved to the new one and were applied.
    expect(second.steps.indexOf("delete pfsense-alias-mail-host")).toBeGreaterThan(
      second.steps.indexOf("update pfsense-apply"),
    );
    expect(fake.config.alias.map((a) => a.name)).not.toContain("ms_test_mail_host");
    expect(ours(fake.applied.rules)).toHaveLength(plan.rules.length);
    expect(skipped()).toEqual([]);
  });

  it("destroys every object of the stack, and pf stops running them", async () => {
    const first = await up(plan);
    await up(undefined, first.state);
    expect(ours(fake.config.rule)).toEqual([]);
    expect(ours(fake.config.alias)).toEqual([]);
    expect(ours(fake.applied.rules)).toEqual([]);
    expect(ours(fake.applied.portForwards)).toEqual([]);
    expect(skipped()).toEqual([]);
  });

  it("reports a failed reload on the apply, with pfSense's words, as `pulumi up` shows it", async () => {
    fake.failingReloads.push("cannot define table ms_test_mail_host: Cannot allocate memory");
    const result = await deploy(plan, target, new Map());
    expect(result.errors).toEqual([
      expect.stringMatching(
        /^pfsense-apply: pfSense did not load the new firewall rules: There were error\(s\) loading the rules: .*Cannot allocate memory/,
      ),
    ]);
    expect(ours(fake.applied.rules)).toEqual([]);
  });
});
