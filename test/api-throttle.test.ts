// A first `up` of many domains and rules keeps each API to mailstack:apiConcurrency requests in
// flight (providers/throttle.ts), whatever the engine runs at once. The providers are serialized
// and loaded back several times in one process, as the dynamic provider host holds one copy per
// provider text (@pulumi/pulumi 3.248.0 cmd/dynamic-provider/index.js getProvider), and every
// create starts at once; the fakes count the requests they hold (answered after a latency).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DomainInputs } from "../providers/mailcow/domains";
import { marker } from "../render/firewall-plan";
import { loopbackCertificate } from "./fakes/https";
import { FakeMailcow } from "./fakes/mailcow";
import { FakePfRest } from "./fakes/pfrest";
import { testPlan } from "./support/test-plan";
import { runRevived } from "./tools";

const MAILCOW_KEY = "mailcow-api-key-0123456789-throttle";
const PFREST_KEY = "pfrest-key-0123456789abcdef-throttle";
const DOMAINS = 24;
const COPIES = 3;
let mailcow: FakeMailcow;
let pfrest: FakePfRest;

beforeAll(async () => {
  const certificate = await loopbackCertificate();
  mailcow = new FakeMailcow(certificate, MAILCOW_KEY);
  pfrest = new FakePfRest(certificate, PFREST_KEY);
  await Promise.all([mailcow.api.start(), pfrest.api.start()]);
});
afterAll(() => Promise.all([mailcow.api.stop(), pfrest.api.stop()]));
beforeEach(() => {
  mailcow.reset();
  pfrest.reset();
  for (const api of [mailcow.api, pfrest.api]) {
    api.latencyMs = 40;
    api.maxInFlight = 0;
  }
});

const domainCreates = (concurrency: number | undefined) =>
  Array.from({ length: DOMAINS }, (_, i) => {
    const connection = { ...mailcow.api.connection(MAILCOW_KEY), timeoutMs: 30_000 };
    const inputs: DomainInputs = {
      connection: concurrency === undefined ? connection : { ...connection, concurrency },
      adopt: false,
      spec: {
        domain: `d${String(i).padStart(2, "0")}.throttle.example`,
        description: "throttle",
        maxAliases: 400,
        maxMailboxes: 10,
        defaultMailboxQuotaMiB: 3072,
        maxMailboxQuotaMiB: 10240,
        quotaMiB: 20480,
        active: true,
      },
    };
    return { op: "create" as const, news: { ...inputs, kind: "domain" } };
  });

describe("requests in flight per API during a concurrent up", () => {
  it("mailcow: 24 domains created at once by three provider copies never see more than the configured 3 in flight", async () => {
    const results = await runRevived("mailcowProvider", domainCreates(3), COPIES);
    expect(results.map((result) => result.error)).toEqual(results.map(() => undefined));
    expect(mailcow.domains.size).toBe(DOMAINS);
    expect(mailcow.api.maxInFlight).toBeGreaterThan(0);
    expect(mailcow.api.maxInFlight).toBeLessThanOrEqual(3);
  });

  it("mailcow: without a configured limit, at most the default 4; with a higher limit the fake does see more", async () => {
    await runRevived("mailcowProvider", domainCreates(undefined), COPIES);
    expect(mailcow.domains.size).toBe(DOMAINS);
    expect(mailcow.api.maxInFlight).toBeLessThanOrEqual(4);
    // The control: the fake can observe more than 4 at once, so the bound above is the throttle's.
    mailcow.reset();
    mailcow.api.maxInFlight = 0;
    await runRevived("mailcowProvider", domainCreates(DOMAINS), COPIES);
    expect(mailcow.domains.size).toBe(DOMAINS);
    expect(mailcow.api.maxInFlight).toBeGreaterThan(4);
  });

  it("pfSense: every alias and rule of the plan created at once stays within the configured 2 in flight", async () => {
    const plan = testPlan();
    const connection = { ...pfrest.api.connection(PFREST_KEY), timeoutMs: 30_000, concurrency: 2 };
    const creates = plan.aliases.map((alias) => {
      const { key, ...spec } = alias;
      return { op: "create" as const, news: { connection, kind: "alias", marker: marker("test", key), spec } };
    });
    const results = await runRevived("pfSenseProvider", creates, COPIES);
    expect(results.map((result) => result.error)).toEqual(results.map(() => undefined));
    for (const alias of plan.aliases) expect(pfrest.find("alias", marker("test", alias.key))).toBeDefined();
    expect(pfrest.api.maxInFlight).toBeGreaterThan(0);
    expect(pfrest.api.maxInFlight).toBeLessThanOrEqual(2);
  });
});
