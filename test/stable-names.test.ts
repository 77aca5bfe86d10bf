// Stable names at scale: a hosting team adds and removes domains anywhere in a long list and renames
// mailboxes. Every resource is named after what it manages (never after a position), so the URNs of
// two plans differ by exactly the domain or mailbox that changed, and nothing else is touched except
// the batched steps that must see the new set of domains (one SOGo restart, the autoconfig step).
import { beforeAll, describe, expect, it } from "vitest";
import type { PlanResult } from "../plan/run";
import { planWithKeys } from "./plans";
import { planChanges, type Step } from "./support/lifecycle";

interface Domain {
  readonly name: string;
  readonly zoneId: string;
  readonly quotaMiB?: number;
  readonly mailboxes: readonly { readonly localPart: string; readonly quotaMiB: number }[];
}

const generated = (i: number): Domain => ({
  name: `d${String(i).padStart(2, "0")}.stable-names.de`,
  zoneId: i.toString(16).padStart(32, "0"),
  quotaMiB: 10240,
  mailboxes: [
    { localPart: "info", quotaMiB: 2048 },
    { localPart: "office", quotaMiB: 2048 },
  ],
});

let first: Domain;
const plan = async (domains: readonly Domain[]) =>
  (await planWithKeys({ "mailstack:domains": JSON.stringify([first, ...domains]) })).result;

const urns = (result: PlanResult) => new Set(result.run.resources.map((r) => r.urn));
const minus = (a: Set<string>, b: Set<string>) => [...a].filter((urn) => !b.has(urn)).sort();
const acting = (steps: readonly Step[]) => steps.filter((s) => s.action !== "same");

/** The resources a hosted domain owns: everything whose name carries the domain. */
const ownedBy = (name: string) => (urn: string) => urn.split("::").pop()?.includes(name) === true;

// What must see the whole set of domains and runs once for all of them: the batched SOGo restart
// (SOGo reads its domains at start) and the VM's autoconfig step (nginx answers for every domain).
const BATCHED = ["mailcow-autoconfig replace", "mailcow-tenants-sogo-restart replace"];

let base: PlanResult;
const five = [1, 2, 3, 4, 5].map(generated);
beforeAll(async () => {
  const prod = await planWithKeys();
  first = (JSON.parse(prod.result.stackConfig.values["mailstack:domains"] ?? "[]") as Domain[])[0] as Domain;
  base = await plan(five);
});

describe("stable resource names", () => {
  it("a domain added in the middle of the list adds only that domain's resources and re-runs the batched host steps", async () => {
    const added = generated(42);
    const after = await plan([...five.slice(0, 2), added, ...five.slice(2)]);
    const created = minus(urns(after), urns(base));
    expect(minus(urns(base), urns(after))).toEqual([]);
    expect(created.length).toBeGreaterThan(10); // zone records, DKIM, mailcow domain, mailboxes, …
    expect(created.filter((urn) => !ownedBy(added.name)(urn))).toEqual([]);
    // Everything the stack had before stays as it is, apart from the batched restart.
    const steps = acting(await planChanges(base.run, after.run)).filter((s) => s.action !== "create");
    expect(steps.map((s) => `${s.name} ${s.action}`).sort()).toEqual(BATCHED);
  });

  it("a domain removed from the middle deletes only that domain's resources", async () => {
    const removed = five[2] as Domain;
    const after = await plan(five.filter((d) => d !== removed));
    const deleted = minus(urns(base), urns(after));
    expect(minus(urns(after), urns(base))).toEqual([]);
    expect(deleted.length).toBeGreaterThan(10);
    expect(deleted.filter((urn) => !ownedBy(removed.name)(urn))).toEqual([]);
    const steps = acting(await planChanges(base.run, after.run)).filter((s) => s.action !== "delete");
    expect(steps.map((s) => `${s.name} ${s.action}`).sort()).toEqual(BATCHED);
  });

  it("a renamed mailbox replaces that mailbox (its initial password and its sending limit), nothing else", async () => {
    const target = five[3] as Domain;
    const renamed: Domain = {
      ...target,
      mailboxes: target.mailboxes.map((box) => (box.localPart === "office" ? { ...box, localPart: "team" } : box)),
    };
    const after = await plan(five.map((d) => (d === target ? renamed : d)));
    const steps = acting(await planChanges(base.run, after.run));
    expect(steps.map((s) => `${s.name} ${s.action}`).sort()).toEqual(
      [
        `mailcow-tenants-office@${target.name} delete`,
        `mailcow-tenants-office@${target.name}-password delete`,
        `mailcow-tenants-office@${target.name}-rate-limit delete`,
        `mailcow-tenants-team@${target.name} create`,
        `mailcow-tenants-team@${target.name}-password create`,
        `mailcow-tenants-team@${target.name}-rate-limit create`,
      ].sort(),
    );
  });
});
