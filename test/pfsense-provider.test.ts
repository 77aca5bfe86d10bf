// The pfSense dynamic provider against a fake pfrest on loopback (one server for the file):
// marker ownership across renumbering, drift, apply, faults, TLS, secrets, serialization.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  applyRevision,
  findOwn,
  pfSenseApplyProvider,
  pfSenseObjectProvider,
  type PfSenseConnection,
  type PfSenseObjectInputs,
  type PfSenseObjectOutputs,
} from "../providers/pfsense";
import { firewallPlan, marker } from "../render/firewall-plan";
import { loopbackCertificate, type TestCertificate } from "./fakes/https";
import { FakePfRest } from "./fakes/pfrest";
import { rejection, serializeProviders } from "./tools";

const API_KEY = "pfrest-key-0123456789abcdef-secret";
let certificate: TestCertificate;
let fake: FakePfRest;
let connection: PfSenseConnection;

beforeAll(async () => {
  certificate = await loopbackCertificate();
  fake = new FakePfRest(certificate, API_KEY);
  await fake.api.start();
  connection = fake.api.connection(API_KEY);
});
afterAll(() => fake.api.stop());
beforeEach(() => {
  fake.objects.alias.length = 0;
  fake.objects.rule.length = 0;
  fake.objects.port_forward.length = 0;
  fake.pending = false;
  fake.applies = 0;
  fake.api.requests.length = 0;
  fake.api.clearFaults();
});

const plan = firewallPlan({
  namespace: "test",
  wanInterface: "wan",
  lanInterface: "lan",
  hostIpv4: "10.3.0.4",
  hostPublicIpv6: "2a05:bec0:27:fd03::4",
  hostAddresses: ["10.3.0.4", "2a05:bec0:27:fd03::4"],
  publicPorts: [25, 80, 443],
});

function ruleInputs(key: string): PfSenseObjectInputs {
  const rule = plan.rules.find((r) => r.key === key);
  if (!rule) throw new Error(key);
  const { key: _key, ...spec } = rule;
  return { connection, kind: "rule", marker: marker("test", key), spec };
}

async function create(inputs: PfSenseObjectInputs): Promise<PfSenseObjectOutputs> {
  const checked = await pfSenseObjectProvider.check?.(inputs, inputs);
  expect(checked?.failures ?? []).toEqual([]);
  const { outs } = await pfSenseObjectProvider.create(inputs);
  if (!outs) throw new Error("create returned no outputs");
  return outs;
}

describe("the pfSense provider", () => {
  it("creates a rule pending, and PfSenseApply applies it once", async () => {
    const outs = await create(ruleInputs("wan-mail-ipv4"));
    expect(fake.find("rule", marker("test", "wan-mail-ipv4"))?.object).toMatchObject({
      type: "pass",
      interface: ["wan"],
      log: true,
      destination: "10.3.0.4",
    });
    expect(outs.position).toBe(0);
    expect(fake.pending).toBe(true);
    const apply = await pfSenseApplyProvider.create({ connection, revision: "r1" });
    if (!apply.outs) throw new Error("no outputs");
    expect(apply.outs.applied).toBe(true);
    expect(fake.pending).toBe(false);
    expect(
      (await pfSenseApplyProvider.update?.("apply", apply.outs, { connection, revision: "r1" }))?.outs?.applied,
    ).toBe(false);
    expect(fake.applies).toBe(1);
  });

  it("keeps finding and updating its own rule when someone else deletes a rule before it", async () => {
    fake.addForeign("rule", { type: "pass", interface: ["lan"], descr: "Default allow LAN to any" });
    fake.addForeign("rule", { type: "block", interface: ["wan"], descr: "someone's rule" });
    const outs = await create(ruleInputs("wan-mail-ipv6"));
    expect(outs.position).toBe(2);
    fake.removeAt("rule", 0); // positions shift: ours is now id 1
    const news = {
      ...ruleInputs("wan-mail-ipv6"),
      spec: { ...ruleInputs("wan-mail-ipv6").spec, destination_port: "443" },
    };
    const diff = await pfSenseObjectProvider.diff?.(outs.marker, outs, news);
    expect(diff).toMatchObject({ changes: true, replaces: [] });
    const updated = await pfSenseObjectProvider.update?.(outs.marker, outs, news);
    expect(updated?.outs?.position).toBe(1);
    expect(fake.objects.rule[1]).toMatchObject({
      destination_port: "443",
      descr: expect.stringContaining(marker("test", "wan-mail-ipv6")) as string,
    });
    expect(fake.objects.rule[0]).toEqual({ type: "block", interface: ["wan"], descr: "someone's rule" });
    const patch = fake.api.writes().find((r) => r.method === "PATCH");
    expect(patch?.body).toEqual({ destination_port: "443", id: 1, apply: false });
  });

  it("sends control parameters in the body of a POST, so a placed rule lands above the defaults", async () => {
    fake.addForeign("rule", { type: "pass", interface: ["lan"], descr: "Default allow LAN to any" });
    const outs = await create({ ...ruleInputs("lan-block-rest"), placement: 0 });
    expect(outs.position).toBe(0);
    expect(fake.objects.rule[1]).toMatchObject({ descr: "Default allow LAN to any" });
    const post = fake.api.writes().find((r) => r.method === "POST");
    expect(post?.query).toEqual({});
    expect(post?.body).toMatchObject({ apply: false, placement: 0 });
    expect(fake.objects.rule[0]).not.toHaveProperty("placement");
    expect(fake.pending).toBe(true);
  });

  it("applies a drift fix: the update leaves a new write id, so PfSenseApply runs again", async () => {
    const outs = await create(ruleInputs("lan-smtp-out"));
    const revision = applyRevision([outs.writeId]);
    const apply = (await pfSenseApplyProvider.create({ connection, revision })).outs;
    if (!apply) throw new Error("no outputs");
    expect(fake.pending).toBe(false);
    const own = fake.find("rule", outs.marker);
    if (own) own.object.log = false; // someone switched logging off in the UI
    const drifted = (await pfSenseObjectProvider.read?.(outs.marker, outs))?.props as PfSenseObjectOutputs;
    const fixed = (await pfSenseObjectProvider.update?.(outs.marker, drifted, ruleInputs("lan-smtp-out")))?.outs;
    expect(fake.find("rule", outs.marker)?.object.log).toBe(true);
    expect(fake.pending).toBe(true); // written, not yet applied
    expect(fixed?.writeId).not.toBe(outs.writeId);
    const next = { connection, revision: applyRevision([fixed?.writeId]) };
    expect((await pfSenseApplyProvider.diff?.("apply", apply, next))?.changes).toBe(true);
    expect((await pfSenseApplyProvider.update?.("apply", apply, next))?.outs?.applied).toBe(true);
    expect(fake.pending).toBe(false);
    // Nothing written: the revision stays, and no apply is due.
    const same = (
      await pfSenseObjectProvider.update?.(outs.marker, fixed as PfSenseObjectOutputs, ruleInputs("lan-smtp-out"))
    )?.outs;
    expect(same?.writeId).toBe(fixed?.writeId);
  });

  it("detects drift on refresh", async () => {
    const outs = await create(ruleInputs("lan-smtp-out"));
    const own = fake.find("rule", outs.marker);
    if (own) own.object.log = false;
    const read = await pfSenseObjectProvider.read?.(outs.marker, outs);
    expect(read?.props?.spec).toMatchObject({ log: false });
    const diff = await pfSenseObjectProvider.diff?.(
      outs.marker,
      read?.props as PfSenseObjectOutputs,
      ruleInputs("lan-smtp-out"),
    );
    expect(diff?.changes).toBe(true);
  });

  it("reports a deleted object as gone, and deletes only its own objects", async () => {
    fake.addForeign("rule", {
      type: "pass",
      interface: ["lan"],
      descr: "mail host rule by hand [mailstack:other:lan-smtp-out]",
    });
    const outs = await create(ruleInputs("lan-smtp-out"));
    await pfSenseObjectProvider.delete?.(outs.marker, outs);
    expect(fake.objects.rule).toEqual([
      { type: "pass", interface: ["lan"], descr: "mail host rule by hand [mailstack:other:lan-smtp-out]" },
    ]);
    expect(fake.pending).toBe(false); // the removal was applied
    expect(await pfSenseObjectProvider.read?.(outs.marker, outs)).toEqual({});
    await pfSenseObjectProvider.delete?.(outs.marker, outs); // already gone: nothing to do
    expect(fake.objects.rule).toHaveLength(1);
  });

  it("re-applies without writing when nothing changed, and adopts an object that carries its marker", async () => {
    const outs = await create(ruleInputs("lan-web-out"));
    fake.api.requests.length = 0;
    const diff = await pfSenseObjectProvider.diff?.(outs.marker, outs, ruleInputs("lan-web-out"));
    expect(diff?.changes).toBe(false);
    await pfSenseObjectProvider.update?.(outs.marker, outs, ruleInputs("lan-web-out"));
    expect(fake.api.writes()).toEqual([]);
    await create(ruleInputs("lan-web-out")); // e.g. after an interrupted run
    expect(fake.objects.rule).toHaveLength(1);
  });

  it("replaces an alias whose name changes (pfSense cannot rename)", async () => {
    const { key: _key, ...spec } = plan.aliases[0] ?? { key: "" };
    const inputs: PfSenseObjectInputs = { connection, kind: "alias", marker: marker("test", "alias-mail-ports"), spec };
    const outs = await create(inputs);
    const diff = await pfSenseObjectProvider.diff?.(outs.marker, outs, {
      ...inputs,
      spec: { ...spec, name: "ms_test_other" },
    });
    expect(diff).toMatchObject({ changes: true, replaces: ["spec.name"], deleteBeforeReplace: true });
  });

  it("refuses to guess when two objects carry its marker", async () => {
    fake.addForeign("rule", { type: "pass", descr: `copy ${marker("test", "lan-ntp-out")}` });
    fake.addForeign("rule", { type: "pass", descr: `copy ${marker("test", "lan-ntp-out")}` });
    const error = await rejection(findOwn(connection, "rule", marker("test", "lan-ntp-out")));
    expect(error.message).toMatch(/2 rule objects marked/);
  });
});

describe("faults", () => {
  it("surfaces pfSense's own message for 401, without the API key", async () => {
    const error = await rejection(
      pfSenseObjectProvider.create({
        ...ruleInputs("lan-dns-out"),
        connection: { ...connection, apiKey: "wrong-key-4711" },
      }),
    );
    expect(error.message).toMatch(/HTTP 401: Authentication failed\. \(AUTH_AUTHENTICATION_FAILED\)/);
    expect(error.message).not.toContain("wrong-key-4711");
    expect(fake.objects.rule).toEqual([]);
  });

  it("never sends a create twice: after a lost answer it finds the rule that landed", async () => {
    fake.api.inject("lost", 1, (request) => request.method === "POST");
    const outs = await create(ruleInputs("lan-dns-out"));
    expect(fake.objects.rule).toHaveLength(1);
    expect(fake.api.requests.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(outs.position).toBe(0);
  });

  it("sends a create again when the lookup shows it did not land", async () => {
    fake.api.inject("500", 1, (request) => request.method === "POST");
    await create(ruleInputs("lan-dns-out"));
    expect(fake.objects.rule).toHaveLength(1);
    expect(fake.api.requests.map((r) => r.method)).toEqual(["GET", "POST", "GET", "POST"]);
  });

  it("does not retry a 403 from the proxy in front of the API, and says what came back", async () => {
    fake.api.inject("403", 5);
    const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out")));
    expect(error.message).toMatch(/HTTP 403 with a body that is not JSON: .*403 Forbidden/);
    expect(fake.api.requests).toHaveLength(1);
  });

  it("retries a 500 and succeeds", async () => {
    fake.api.inject("500", 2);
    await create(ruleInputs("lan-dns-out"));
    expect(fake.objects.rule).toHaveLength(1);
  });

  it("stops retrying at its bound", async () => {
    fake.api.inject("500", 10);
    const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out")));
    expect(error.message).toMatch(/HTTP 500: Internal Server Error .*gave up after 3 attempts/);
    expect(fake.api.requests).toHaveLength(3);
  });

  it("gives up on an API that does not answer in time", async () => {
    fake.api.slowMs = 3_000;
    fake.api.inject("slow", 10);
    const before = fake.api.requests.length;
    const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out")));
    expect(error.message).toMatch(/no answer within 1000 ms .*gave up after 3 attempts/);
    // The bound is in attempts, each cut off by the client's timeout: exactly 3 went out.
    expect(fake.api.requests.length - before).toBe(3);
  });

  it("reports an answer that is not JSON", async () => {
    fake.api.inject("malformed");
    const error = await rejection(
      pfSenseObjectProvider.create({ ...ruleInputs("lan-dns-out"), connection: { ...connection, retries: 0 } }),
    );
    expect(error.message).toMatch(/not JSON/);
  });

  it("verifies TLS: an unpinned self-signed certificate is refused", async () => {
    const { caCertificate: _pin, ...unpinned } = connection;
    const error = await rejection(
      pfSenseObjectProvider.create({ ...ruleInputs("lan-dns-out"), connection: { ...unpinned, retries: 0 } }),
    );
    expect(error.message).toMatch(/self[- ]signed certificate/);
    expect(fake.api.requests).toHaveLength(0);
  });

  it("rejects a plain-http endpoint at check time", async () => {
    const inputs = { ...ruleInputs("lan-dns-out"), connection: { ...connection, endpoint: "http://127.0.0.1:1" } };
    const checked = await pfSenseObjectProvider.check?.(inputs, inputs);
    expect(checked?.failures).toEqual([{ property: "connection", reason: "the endpoint must be https://" }]);
  });
});

describe("serialization", () => {
  it("the providers survive Pulumi's dynamic-provider serialization, capture no secret and work when loaded back", async () => {
    const inputs = ruleInputs("lan-dns-out");
    const probe = { pfSenseProvider: { ...inputs, connection: { ...inputs.connection, endpoint: "http://plain" } } };
    const [result] = (await serializeProviders(probe)).filter((r) => r.name === "pfSenseProvider");
    expect(result?.text).toContain("/api/v2/firewall/apply");
    expect(result?.text).not.toContain(API_KEY);
    // The revived provider still validates: the plain-http endpoint is refused.
    expect(result?.check).toMatchObject({
      failures: [{ property: "connection", reason: "the endpoint must be https://" }],
    });
  });
});
