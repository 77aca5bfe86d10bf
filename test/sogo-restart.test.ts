// A first `up` of a 50-domain stack restarts SOGo once. mailcow's add/domain restarts SOGo through
// dockerapi whenever `restart_sogo` is non-empty (mailcow-dockerized 2026-07a
// data/web/inc/functions.mailbox.inc.php:516, :674-692), one restart per domain; the stack sends
// every add/domain without it and restarts SOGo once, after all domains, from the VM.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plain } from "../plan/engine";
import type { PlanResult } from "../plan/run";
import { mailcowDomainProvider, type DomainInputs } from "../providers/mailcow/domains";
import { loopbackCertificate } from "./fakes/https";
import { FakeMailcow } from "./fakes/mailcow";
import { planWithKeys } from "./plans";

const API_KEY = "mailcow-api-key-0123456789-secret";
const COUNT = 50;
let fake: FakeMailcow;
let plan: PlanResult;

beforeAll(async () => {
  fake = new FakeMailcow(await loopbackCertificate(), API_KEY);
  await fake.api.start();
  const prod = await planWithKeys();
  const [first] = JSON.parse(prod.result.stackConfig.values["mailstack:domains"] ?? "[]") as object[];
  const domains = Array.from({ length: COUNT - 1 }, (_, i) => ({
    name: `d${String(i).padStart(2, "0")}.sogo-batch.de`,
    zoneId: i.toString(16).padStart(32, "0"),
    mailboxes: [{ localPart: "info", quotaMiB: 2048 }],
  }));
  plan = (await planWithKeys({ "mailstack:domains": JSON.stringify([first, ...domains]) })).result;
});
afterAll(() => fake.api.stop());

// The command restarts SOGo on the host: on its command line, or in the script it sends to
// `sudo bash -s` (render/scripts/sogo-restart.sh).
const restartsSogo = (inputs: { create?: unknown; stdin?: unknown }) =>
  [inputs.create, inputs.stdin].some((text) => typeof text === "string" && /\brestart sogo-mailcow\b/.test(text));

describe("SOGo restarts on a first up of a 50-domain stack", () => {
  it("the fake mailcow API sees 50 add/domain calls and no SOGo restart; the plan restarts SOGo once after all of them", async () => {
    const domains = plan.run.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/mailcow:Domain");
    expect(domains).toHaveLength(COUNT);
    // Each domain's create exactly as the plan declares it, against the fake, four at a time (as
    // `pulumi up --parallel 4`, README "Scale").
    const queue = [...domains];
    const worker = async () => {
      for (let resource = queue.shift(); resource; resource = queue.shift()) {
        const { __provider: _code, ...inputs } = plain(resource.inputs) as Record<string, unknown>;
        await mailcowDomainProvider.create({
          ...(inputs as unknown as DomainInputs),
          connection: fake.api.connection(API_KEY),
        });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const adds = fake.api.requests.filter((r) => r.path.endsWith("/add/domain"));
    expect(adds).toHaveLength(COUNT);
    expect(fake.sogoRestarts).toBe(0);

    const restarts = plan.run.resources.filter(
      (r) =>
        r.type === "command:remote:Command" && restartsSogo(plain(r.inputs) as { create?: unknown; stdin?: unknown }),
    );
    expect(restarts).toHaveLength(1);
    // It runs after every domain exists.
    expect(restarts[0]?.dependencies).toEqual(expect.arrayContaining(domains.map((d) => d.urn)));
    expect(fake.sogoRestarts + restarts.length).toBe(1);
  });
});
