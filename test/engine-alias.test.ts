// A renamed bring-up command on the real engine (scripts/pulumi-toolchain.sh): the stack is
// created under the old name (mailcow-mailcow-up), then the program names it as MailcowVm does now
// (mailcow-up) with the alias MailcowVm gives it. The engine matches the old resource through the
// alias (pulumi/pulumi@v3.248.0 pkg/resource/deploy/step_generator.go getOldResource): the preview
// shows no create and no delete, the state keeps one resource under the new URN, and the old URN
// is the one test/support/lifecycle.ts aliasUrn computes for the mock-engine tests.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, root } from "./support/engine";
import { aliasUrn } from "./support/lifecycle";

const STACK = "alias";
const TYPE = "pulumi-nodejs:dynamic/mailstack-engine-alias:Step";
let engine: Engine;
let dir: string;
let before: string[];

const stepUrns = async () =>
  ((await engine.exportState(dir, STACK)).deployment.resources ?? []).filter((r) => r.type === TYPE).map((r) => r.urn);

beforeAll(async () => {
  engine = await Engine.create();
  dir = engine.project(join(root, "test", "engine-alias"));
  await engine.initStack(dir, STACK, { "mailstack-engine-alias:renamed": "false" });
  await engine.pulumiOk(["up", "--yes", "--skip-preview"], { cwd: dir, stack: STACK });
  before = await stepUrns();
  await engine.setConfig(dir, STACK, { "mailstack-engine-alias:renamed": "true" });
});
afterAll(() => engine?.dispose());

describe("a renamed command on the real engine", () => {
  it("the stack starts with the command under its old name", () => {
    expect(before.map((urn) => urn.split("::").pop())).toEqual(["mailcow-mailcow-up"]);
  });

  it("the preview under the new name creates and deletes nothing: the alias matches the old command", async () => {
    const preview = JSON.parse(
      await engine.pulumiOk(["preview", "--json", "--show-sames"], { cwd: dir, stack: STACK }),
    ) as {
      steps?: { op: string; urn: string }[];
      changeSummary?: Record<string, number>;
    };
    const ops = (preview.steps ?? []).filter((s) => s.urn.includes(TYPE)).map((s) => s.op);
    expect(ops).toEqual(["same"]);
    expect(Object.keys(preview.changeSummary ?? {}).filter((op) => op !== "same")).toEqual([]);
  });

  it("after up the state holds the one command under the new URN, whose alias is the old URN", async () => {
    await engine.pulumiOk(["up", "--yes", "--skip-preview"], { cwd: dir, stack: STACK });
    const after = ((await engine.exportState(dir, STACK)).deployment.resources ?? []).filter((r) => r.type === TYPE);
    expect(after.map((r) => r.urn.split("::").pop())).toEqual(["mailcow-up"]);
    const [step] = after;
    expect(step && aliasUrn({ ...step, name: "mailcow-up" }, { spec: { name: "mailcow-mailcow-up" } })).toBe(before[0]);
  });
});
