// Renamed resources keep what a stack already has: the bring-up commands that were named with a
// doubled prefix (mailcow-mailcow-up) are named once (mailcow-up) and carry the old name as an alias.
// The old stack is the prod plan under the old names; the aliases are read from the registrations
// as the SDK sends them to the engine (RegisterResourceRequest.aliases: @pulumi/pulumi 3.248.0
// runtime/resource.ts mapAliasesForRequest, sent as specs because the monitor supports "aliasSpecs"),
// and resolved to old URNs as the engine does (test/support/lifecycle.ts aliasUrn).
import { require as tsxRequire } from "tsx/cjs/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProgramRun } from "../plan/engine";
import type { PlanResult } from "../plan/run";
import { planWithKeys } from "./plans";
import { aliasUrn, planChanges, type AliasRequest } from "./support/lifecycle";

/** The names issue 15 changed: old name → new name (both under the MailcowVm "mailcow"). */
const RENAMED: Readonly<Record<string, string>> = {
  "mailcow-mailcow-release": "mailcow-release",
  "mailcow-mailcow-conf": "mailcow-conf",
  "mailcow-mailcow-up": "mailcow-up",
};

interface Registration {
  readonly type: string;
  readonly name: string;
  readonly parent: string;
  readonly aliases: readonly AliasRequest[];
}

// The registration request class of the program test/plans.ts loads (the same tsx namespace, so
// the same SDK instance): the SDK sets the aliases on it after type, name and parent.
type SetAliases = (this: RequestLike, value: { toObject(): AliasRequest }[]) => unknown;
interface RequestClass {
  prototype: { setAliasesList: SetAliases };
}
interface RequestLike {
  getType(): string;
  getName(): string;
  getParent(): string;
}
const { RegisterResourceRequest } = tsxRequire("@pulumi/pulumi/proto/resource_pb", __filename) as {
  RegisterResourceRequest: RequestClass;
};
const registrations: Registration[] = [];
const original = RegisterResourceRequest.prototype.setAliasesList;
RegisterResourceRequest.prototype.setAliasesList = function (value) {
  registrations.push({
    type: this.getType(),
    name: this.getName(),
    parent: this.getParent(),
    aliases: value.map((alias) => alias.toObject()),
  });
  return original.call(this, value);
};
afterAll(() => {
  RegisterResourceRequest.prototype.setAliasesList = original;
});

/** The run as a stack created before the rename holds it: the same resources under the old names. */
function underOldNames(run: ProgramRun): ProgramRun {
  const oldName = (name: string) => Object.entries(RENAMED).find(([, renamed]) => renamed === name)?.[0];
  const urns = new Map<string, string>();
  for (const { urn, name } of run.resources) {
    const old = oldName(name);
    if (old) urns.set(JSON.stringify(urn), JSON.stringify(`${urn.slice(0, urn.lastIndexOf("::"))}::${old}`));
  }
  let text = JSON.stringify({
    ...run,
    resources: run.resources.map((r) => ({ ...r, name: oldName(r.name) ?? r.name })),
  });
  for (const [urn, old] of urns) text = text.split(urn).join(old);
  return JSON.parse(text) as ProgramRun;
}

let after: PlanResult;
let aliases: Map<string, string[]>;
beforeAll(async () => {
  registrations.length = 0;
  after = (await planWithKeys()).result;
  aliases = new Map();
  for (const resource of after.run.resources) {
    const registered = registrations.find(
      (r) => r.type === resource.type && r.name === resource.name && r.parent === (resource.parent ?? ""),
    );
    if (registered && registered.aliases.length > 0)
      aliases.set(
        resource.urn,
        registered.aliases.map((alias) => aliasUrn(resource, alias)),
      );
  }
});

describe("renamed resources", () => {
  it("no resource name repeats a prefix", () => {
    const doubled = after.run.resources.map((r) => r.name).filter((name) => /(^|-)([a-z0-9]+)-\2-/.test(name));
    expect(doubled).toEqual([]);
  });

  it("only the renamed commands carry aliases to another name, each naming its old URN", () => {
    // Others carry their provider SDK's aliases to an earlier type token under the same name
    // (@pulumi/cloudflare's DnsRecord: cloudflare:index/record:Record); those rename nothing here.
    const byUrn = new Map(after.run.resources.map((r) => [r.urn, r]));
    const named = [...aliases]
      .map(([urn, old]) => [byUrn.get(urn)?.name ?? urn, old.map((o) => o.split("::").pop())] as const)
      .map(([name, oldNames]) => [name, oldNames.filter((oldName) => oldName !== name)] as const)
      .filter(([, oldNames]) => oldNames.length > 0);
    expect(Object.fromEntries(named)).toEqual(
      Object.fromEntries(Object.entries(RENAMED).map(([old, renamed]) => [renamed, [old]])),
    );
  });

  it("an existing stack keeps every renamed command: matched by alias, nothing created or deleted", async () => {
    const before = underOldNames(after.run);
    const steps = await planChanges(before, after.run, aliases);
    expect(steps.filter((s) => s.action !== "same").map((s) => `${s.action} ${s.name}`)).toEqual([]);
    const taken = steps.filter((s) => s.aliasOf).map((s) => [s.aliasOf?.split("::").pop(), s.name]);
    expect(Object.fromEntries(taken)).toEqual(RENAMED);
  });

  it("without the aliases the same rename would delete and create the three commands", async () => {
    const steps = await planChanges(underOldNames(after.run), after.run);
    const acting = steps.filter((s) => s.action !== "same").map((s) => `${s.action} ${s.name}`);
    expect(acting.sort()).toEqual(
      [
        ...Object.keys(RENAMED).map((old) => `delete ${old}`),
        ...Object.values(RENAMED).map((n) => `create ${n}`),
      ].sort(),
    );
  });
});
