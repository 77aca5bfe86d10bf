// Consumers on the real engine: examples/consumer reads mailstack's outputs through a
// StackReference on the local backend, typed by outputs.ts. The producing stack
// (test/engine-producer) exports the offline plan's outputs of prod, secrets as secrets, under
// the project name mailstack, so the consumer references organization/mailstack/prod as it would
// the real stack.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as EngineModule from "../plan/engine";
import type { StackOutputs } from "../outputs";
import { planWithKeys, playProviders } from "./plans";
import { Engine, root } from "./support/engine";
import { require as tsxRequire } from "tsx/cjs/api";

const { isSecret, isUnknown, plain } = tsxRequire("../plan/engine", __filename) as typeof EngineModule;

let producerDir: string;
let consumerDir: string;
/** What Cloudflare answers for the zone's DNSSEC once it is active (the plan cannot know it). */
const DS = "xd-cloud.de. 3600 IN DS 2371 13 2 1F987CC6583E92DF0890718C42E8B9C8FB91C9BE1A7F3E4A94B4B2E5C9B3D0F1";

interface Split {
  readonly outputs: Record<string, unknown>;
  readonly secretPaths: string[][];
  readonly secretValues: Record<string, unknown>;
}

/** The plan's outputs (wire form) as plain values plus the secrets by path. */
function splitSecrets(wire: Readonly<Record<string, unknown>>): Split {
  const secretPaths: string[][] = [];
  const secretValues: Record<string, unknown> = {};
  const walk = (value: unknown, path: string[]): unknown => {
    if (isSecret(value)) {
      secretPaths.push(path);
      secretValues[JSON.stringify(path)] = plain(value);
      return undefined;
    }
    if (isUnknown(value)) throw new Error(`the plan does not know ${path.join(".")}`);
    if (Array.isArray(value)) {
      if (value.some(isSecret)) throw new Error(`${path.join(".")}: secrets inside a list are not supported here`);
      return plain(value);
    }
    if (value !== null && typeof value === "object")
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>)
          .map(([key, inner]) => [key, walk(inner, [...path, key])] as const)
          .filter(([, inner]) => inner !== undefined),
      );
    return value;
  };
  return { outputs: walk(wire, []) as Record<string, unknown>, secretPaths, secretValues };
}

let engine: Engine;
let planned: StackOutputs;
let split: Split;

beforeAll(async () => {
  engine = await Engine.create();
  producerDir = engine.project(join(root, "test", "engine-producer"));
  consumerDir = engine.project(join(root, "examples", "consumer"));
  const { result } = await planWithKeys(
    {},
    {
      preview: false,
      outputs: (resource) =>
        resource.type === "cloudflare:index/zoneDnssec:ZoneDnssec" ? { ds: DS } : playProviders(resource),
    },
  );
  planned = plain(result.run.outputs) as StackOutputs;
  split = splitSecrets(result.run.outputs);
  await engine.initStack(
    producerDir,
    "prod",
    {
      "mailstack:outputs": JSON.stringify(split.outputs),
      "mailstack:secretPaths": JSON.stringify(split.secretPaths),
    },
    { "mailstack:secretOutputs": JSON.stringify(split.secretValues) },
  );
  await engine.pulumiOk(["up", "--yes", "--skip-preview"], { cwd: producerDir, stack: "prod" });
  await engine.initStack(consumerDir, "consumer", {
    "mailstack-consumer:mailstackStack": "organization/mailstack/prod",
  });
  await engine.pulumiOk(["up", "--yes", "--skip-preview"], { cwd: consumerDir, stack: "consumer" });
});

afterAll(() => engine?.dispose());

describe("a consumer reading mailstack's outputs through a StackReference", () => {
  it("the producing stack holds the plan's outputs, its secrets as secrets", async () => {
    expect(split.secretPaths).toEqual(
      expect.arrayContaining([["mailboxInitialPasswords"], ["backup", "pbs", "encryptionKey"]]),
    );
    const shown = await engine.outputs(producerDir, "prod");
    expect(shown.mailboxInitialPasswords).toBe("[secret]");
    expect(shown.mailHost).toEqual(planned.mailHost);
    const revealed = await engine.outputs(producerDir, "prod", true);
    expect(revealed).toEqual(JSON.parse(JSON.stringify(planned)));
  });

  it("sees typed values: the registrar's DS, TLSA and DKIM records, client endpoints", async () => {
    const outputs = await engine.outputs(consumerDir, "consumer");
    expect(outputs.registrarDs).toEqual({ "xd-cloud.de": DS });
    const tlsa = planned.tlsa;
    if (!tlsa) throw new Error("the plan publishes no TLSA");
    expect(tlsa.values.length).toBeGreaterThan(0);
    expect(outputs.tlsaRecords).toEqual(
      tlsa.values.map((value) => `_25._tcp.mail.xd-cloud.de. IN TLSA 3 1 1 ${value}`),
    );
    expect(outputs.dkimRecords).toEqual({ "xd-cloud.de": planned.domains["xd-cloud.de"]?.dkim });
    expect(outputs.dkimRecords).toMatchObject({ "xd-cloud.de": { name: "dkim._domainkey.xd-cloud.de" } });
    expect(outputs.clientEndpoints).toEqual({ submissions: "mail.xd-cloud.de:465", imaps: "mail.xd-cloud.de:993" });
    expect(outputs.webmail).toBe("https://mail.xd-cloud.de/SOGo/");
  });

  it("keeps the producer's secrets secret: shown as [secret], never in its state in plain text", async () => {
    const outputs = await engine.outputs(consumerDir, "consumer");
    expect(outputs.initialPasswords).toBe("[secret]");
    const revealed = await engine.outputs(consumerDir, "consumer", true);
    expect(revealed.initialPasswords).toEqual(planned.mailboxInitialPasswords);
    const passwords = Object.values(planned.mailboxInitialPasswords);
    expect(passwords.length).toBeGreaterThan(0);
    const { text } = await engine.exportState(consumerDir, "consumer");
    for (const password of passwords) expect(text.includes(password), "a password is in plain text").toBe(false);
  });
});
