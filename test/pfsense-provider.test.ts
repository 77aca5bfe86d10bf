// The pfSense dynamic provider against the fake pfrest on loopback (one server for the file; the
// fake follows pfrest v2.10.0's code, test/pfsense-fake.test.ts): every change applied and
// confirmed, one writer at a time, placement among the interface's own rules, aliases that
// outlive their users, lookups before resending by position, prerequisites, faults, TLS,
// secrets, errors under serialization.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { PfSenseConnection } from "../providers/pfsense/client";
import { findOwn, type PfSenseObjectInputs, type PfSenseObjectOutputs } from "../providers/pfsense/objects";
import { pfSenseApplyProvider, pfSenseObjectProvider } from "../providers/pfsense/provider";
import { applyRevision } from "../providers/pfsense/resources";
import { marker, rulePlacement } from "../render/firewall-plan";
import { FakeHttpsApi, loopbackCertificate, type TestCertificate } from "./fakes/https";
import { FakePfRest, NGINX_404, type PfObject } from "./fakes/pfrest";
import { testPlan } from "./support/test-plan";
import { rejection, runRevived, serializeProviders } from "./tools";

const API_KEY = "pfrest-key-0123456789abcdef-secret";
let certificate: TestCertificate;
let fake: FakePfRest;
let connection: PfSenseConnection;

beforeAll(async () => {
  certificate = await loopbackCertificate();
  fake = new FakePfRest(certificate, API_KEY);
  await fake.api.start();
  connection = fake.api.connection(API_KEY);
  // The provider checks pfrest's settings once per pfSense and key: done here, for every test.
  await findOwn(connection, "rule", "[warm-up]");
});
afterAll(() => fake.api.stop());
beforeEach(() => fake.reset());

const plan = testPlan();

function aliasInputs(key: string): PfSenseObjectInputs {
  const alias = plan.aliases.find((a) => a.key === key);
  if (!alias) throw new Error(key);
  const { key: _key, ...spec } = alias;
  return { connection, kind: "alias", marker: marker("test", key), spec };
}

function ruleInputs(key: string, at: PfSenseConnection = connection): PfSenseObjectInputs {
  const rule = plan.rules.find((r) => r.key === key);
  if (!rule) throw new Error(key);
  const { key: _key, ...spec } = rule;
  return { connection: at, kind: "rule", marker: marker("test", key), spec, placement: rulePlacement(plan, rule) };
}

async function create(inputs: PfSenseObjectInputs): Promise<PfSenseObjectOutputs> {
  const checked = await pfSenseObjectProvider.check?.(inputs, inputs);
  expect(checked?.failures ?? []).toEqual([]);
  const { outs } = await pfSenseObjectProvider.create(inputs);
  if (!outs) throw new Error("create returned no outputs");
  return outs;
}

/** The stack's aliases and the rules in plan order, as a first `pulumi up` creates them. */
async function createAll(keys = plan.rules.map((r) => r.key)): Promise<Map<string, PfSenseObjectOutputs>> {
  const outs = new Map<string, PfSenseObjectOutputs>();
  for (const alias of plan.aliases) outs.set(alias.key, await create(aliasInputs(alias.key)));
  for (const key of keys) outs.set(key, await create(ruleInputs(key)));
  return outs;
}

async function apply(revision: string): Promise<void> {
  await pfSenseApplyProvider.create({ connection, revision });
}

/** A LAN pass rule from any to any, as someone adds it in the GUI. */
const anyLanRule = (descr: string): PfObject => ({
  type: "pass",
  interface: ["lan"],
  ipprotocol: "inet",
  source: "any",
  destination: "any",
  descr,
});
const descrs = (rules: readonly PfObject[]) => rules.map((r) => String(r.descr));
const runs = (key: string) => descrs(fake.applied.rules).some((d) => d.startsWith(marker("test", key)));

describe("applying", () => {
  it("applies a change that touches only a rule, although pfrest reports nothing pending", async () => {
    const outs = await createAll(["lan-dns-out"]);
    await apply("r1");
    await fake.settle(); // no reload left over that could pick up the change below
    const dns = outs.get("lan-dns-out") as PfSenseObjectOutputs;
    const news = { ...ruleInputs("lan-dns-out"), spec: { ...ruleInputs("lan-dns-out").spec, destination_port: "853" } };
    const updated = (await pfSenseObjectProvider.update?.(dns.marker, dns, news))?.outs as PfSenseObjectOutputs;
    expect(fake.dirty.size).toBe(0); // what pfrest says: nothing to apply
    const revisions = { olds: { connection, revision: "r1" }, news: { connection, revision: updated.writeId } };
    expect(
      (await pfSenseApplyProvider.diff?.("apply", { ...revisions.olds, applied: true }, revisions.news))?.changes,
    ).toBe(true);
    await pfSenseApplyProvider.update?.("apply", { ...revisions.olds, applied: true }, revisions.news);
    const running = fake.applied.rules.find((r) => String(r.descr).startsWith(dns.marker));
    expect(running?.destination_port).toBe("853");
  });

  it("applies a removal at once: pf stops running the deleted rule", async () => {
    const outs = await createAll(["wan-mail-ipv4"]);
    await apply("r1");
    expect(runs("wan-mail-ipv4")).toBe(true);
    const rule = outs.get("wan-mail-ipv4") as PfSenseObjectOutputs;
    await pfSenseObjectProvider.delete?.(rule.marker, rule);
    expect(fake.find("rule", rule.marker)).toBeUndefined();
    expect(runs("wan-mail-ipv4")).toBe(false);
  });

  it("waits for the reload: pf runs the new rules when the apply returns", async () => {
    fake.backgroundReloadMs = 60_000; // a background reload would not have run yet
    await createAll(["lan-smtp-out"]);
    await apply("r1");
    fake.backgroundReloadMs = 10;
    expect(runs("lan-smtp-out")).toBe(true);
    const post = fake.api.requests.find((r) => r.method === "POST" && r.path === "/api/v2/firewall/apply");
    expect(post?.body).toEqual({ async: false });
  });

  it("fails when pf refuses the ruleset, with pfSense's words, and pf keeps the rules it had", async () => {
    await createAll(["lan-smtp-out"]);
    fake.failingReloads.push("syntax error");
    const error = await rejection(apply("r1"));
    expect(error.message).toMatch(
      /pfSense did not load the new firewall rules: There were error\(s\) loading the rules: \/tmp\/rules\.debug:42: syntax error/,
    );
    expect(error.message).toMatch(/Status > System Logs > System/);
    expect(runs("lan-smtp-out")).toBe(false);
    // The next apply loads it.
    await apply("r2");
    expect(runs("lan-smtp-out")).toBe(true);
  });

  it("is not misled by errors of earlier reloads in the system log", async () => {
    fake.logLine(
      "php-fpm[1]: /firewall_rules.php: New alert found: There were error(s) loading the rules: /tmp/rules.debug:7: old",
    );
    fake.logLine("check_reload_status[2]: Syncing firewall");
    await createAll(["lan-smtp-out"]);
    await apply("r1");
    expect(runs("lan-smtp-out")).toBe(true);
  });

  it("fails when pfSense leaves one of the stack's rules out of the ruleset", async () => {
    await createAll(["lan-smtp-out"]);
    // Someone deletes the host alias the rule names (pfrest allows it).
    fake.config.alias = fake.config.alias.filter((a) => a.name !== "ms_test_mail_host");
    const error = await rejection(apply("r1"));
    expect(error.message).toMatch(
      /Unresolvable source alias 'ms_test_mail_host' for rule '\[mailstack:test:lan-smtp-out\] mail host: SMTP out'/,
    );
  });

  it("reloads once for a burst of removals", async () => {
    const outs = await createAll(["lan-smtp-out", "lan-dns-out", "lan-web-out"]);
    await apply("r1");
    const reloads = fake.reloads;
    await Promise.all(
      ["lan-smtp-out", "lan-dns-out", "lan-web-out"].map((key) => {
        const rule = outs.get(key) as PfSenseObjectOutputs;
        return pfSenseObjectProvider.delete?.(rule.marker, rule) ?? Promise.resolve();
      }),
    );
    expect(fake.reloads - reloads).toBe(1);
    expect(descrs(fake.applied.rules)).toEqual(["Default allow LAN to any rule", "Default allow LAN IPv6 to any rule"]);
  });
});

describe("one writer per pfSense", () => {
  it("sends the writes of resources created at once one after the other, so none is lost", async () => {
    // Each write waits until a second one has read the config (or 150 ms): overlapping writes lose one.
    fake.holdWrites(2, 150);
    await Promise.all(plan.aliases.map((alias) => create(aliasInputs(alias.key))));
    expect(fake.config.alias.map((a) => a.name).sort()).toEqual(plan.aliases.map((a) => a.name).sort());
  });
});

describe("placement", () => {
  const admin = {
    geoBlock: {
      type: "block",
      interface: ["wan"],
      ipprotocol: "inet46",
      source: "192.0.2.0/24",
      destination: "any",
      descr: "GeoIP block",
    },
    c2Block: {
      type: "block",
      interface: ["lan"],
      ipprotocol: "inet46",
      source: "any",
      destination: "198.51.100.0/24",
      descr: "block C2",
    },
    wanSsh: {
      type: "pass",
      interface: ["wan"],
      ipprotocol: "inet",
      protocol: "tcp",
      source: "203.0.113.7",
      destination: "wan:ip",
      destination_port: "22",
      descr: "admin ssh",
    },
  };

  it("puts the WAN pass rules after the admin's WAN rules, and the host's LAN rules right above the LAN's allow", async () => {
    // An admin's config: a WAN block at the top of the one list, a LAN block above the defaults.
    fake.seed("rule", admin.geoBlock, 0);
    fake.seed("rule", admin.c2Block, 1);
    await createAll();
    expect(descrs(fake.rulesOf("wan"))).toEqual([
      "GeoIP block",
      `${marker("test", "wan-mail-ipv4")} mail ports to the mail host (IPv4, after NAT)`,
      `${marker("test", "wan-mail-ipv6")} mail ports to the mail host (IPv6)`,
    ]);
    expect(descrs(fake.rulesOf("lan")).map((d) => d.replace(/ .*/, ""))).toEqual([
      "block",
      ...["lan-smtp-out", "lan-dns-out", "lan-web-out", "lan-ntp-out", "lan-block-rest"].map((k) => marker("test", k)),
      "Default",
      "Default",
    ]);
  });

  it("puts the WAN pass rules above a block-everything rule the WAN ends with", async () => {
    const blockAll = { ...admin.geoBlock, source: "any", descr: "admin: block the rest, logged", log: true };
    fake.seed("rule", admin.geoBlock);
    fake.seed("rule", blockAll);
    await createAll(["wan-mail-ipv4", "wan-mail-ipv6"]);
    expect(descrs(fake.rulesOf("wan")).map((d) => d.replace(/ .*/, ""))).toEqual([
      "GeoIP",
      marker("test", "wan-mail-ipv4"),
      marker("test", "wan-mail-ipv6"),
      "admin:",
    ]);
    const ipv6 = fake.find("rule", marker("test", "wan-mail-ipv6"));
    const read = await pfSenseObjectProvider.read?.(marker("test", "wan-mail-ipv6"), {
      ...ruleInputs("wan-mail-ipv6"),
      position: ipv6?.position ?? -1,
      inPlace: true,
      writeId: "w",
    });
    expect((read?.props as PfSenseObjectOutputs).inPlace).toBe(true);
  });

  it("keeps a rule where it is on an update, and puts back a rule that was moved", async () => {
    fake.seed("rule", admin.wanSsh);
    const outs = await createAll();
    const order = descrs(fake.config.rule);
    const smtp = outs.get("lan-smtp-out") as PfSenseObjectOutputs;
    const news = {
      ...ruleInputs("lan-smtp-out"),
      spec: { ...ruleInputs("lan-smtp-out").spec, destination_port: "2525" },
    };
    fake.api.requests.length = 0;
    await pfSenseObjectProvider.update?.(smtp.marker, smtp, news);
    const patch = fake.api.writes().find((r) => r.method === "PATCH");
    expect(patch?.body).not.toHaveProperty("placement");
    expect(descrs(fake.config.rule)).toEqual(order);

    // Someone drags the default allow above the host's block rule: the host could get out.
    const block = outs.get("lan-block-rest") as PfSenseObjectOutputs;
    const allow = fake.config.rule.findIndex((r) => r.descr === "Default allow LAN to any rule");
    const [moved] = fake.config.rule.splice(allow, 1);
    fake.config.rule.splice(fake.find("rule", block.marker)?.position ?? 0, 0, moved as PfObject);
    const read = (await pfSenseObjectProvider.read?.(block.marker, block))?.props as PfSenseObjectOutputs;
    expect(read.inPlace).toBe(false);
    expect((await pfSenseObjectProvider.diff?.(block.marker, read, ruleInputs("lan-block-rest")))?.changes).toBe(true);
    await pfSenseObjectProvider.update?.(block.marker, read, ruleInputs("lan-block-rest"));
    expect(descrs(fake.config.rule)).toEqual(order);
  });

  it("adopts a rule it finds without moving it, and places a new one next to the stack's rule before it", async () => {
    const outs = await createAll(["lan-smtp-out", "lan-web-out"]);
    fake.seed("rule", admin.c2Block, 0);
    const order = descrs(fake.config.rule);
    fake.api.requests.length = 0;
    await create(ruleInputs("lan-web-out")); // found by its marker (an interrupted run)
    expect(fake.api.writes()).toEqual([]);
    expect(descrs(fake.config.rule)).toEqual(order);
    // A rule added to the plan between two existing ones goes between them.
    await create(ruleInputs("lan-dns-out"));
    const lan = descrs(fake.rulesOf("lan"));
    const at = (key: string) => lan.findIndex((d) => d.startsWith(marker("test", key)));
    expect([at("lan-smtp-out") + 1, at("lan-web-out") - 1]).toEqual([at("lan-dns-out"), at("lan-dns-out")]);
    expect(outs.size).toBe(6);
  });
});

describe("aliases", () => {
  it("changes an alias's type in place and replaces it only for a new name, creating the new one first", async () => {
    const outs = await create(aliasInputs("alias-mail-host"));
    const asNetwork = {
      ...aliasInputs("alias-mail-host"),
      spec: { ...outs.spec, type: "network", address: ["10.3.0.0/24"] },
    };
    expect(await pfSenseObjectProvider.diff?.(outs.marker, outs, asNetwork)).toMatchObject({
      changes: true,
      replaces: [],
    });
    await pfSenseObjectProvider.update?.(outs.marker, outs, asNetwork);
    expect(fake.config.alias[0]).toMatchObject({
      name: "ms_test_mail_host",
      type: "network",
      address: ["10.3.0.0/24"],
    });
    const renamed = { ...aliasInputs("alias-mail-host"), spec: { ...outs.spec, name: "ms_test_host2" } };
    expect(await pfSenseObjectProvider.diff?.(outs.marker, outs, renamed)).toMatchObject({
      replaces: ["spec.name"],
      deleteBeforeReplace: false,
    });
    // Both exist until the old one is deleted: the new one is found by its name.
    await create(renamed);
    expect(fake.config.alias.map((a) => a.name)).toEqual(["ms_test_mail_host", "ms_test_host2"]);
    await pfSenseObjectProvider.delete?.(outs.marker, outs);
    expect(fake.config.alias.map((a) => a.name)).toEqual(["ms_test_host2"]);
  });

  it("does not delete an alias a rule still names, and says which", async () => {
    const outs = await create(aliasInputs("alias-mail-host"));
    fake.seed("rule", {
      type: "pass",
      interface: ["lan"],
      ipprotocol: "inet",
      source: "ms_test_mail_host",
      destination: "any",
      descr: "admin: host to backup",
    });
    const error = await rejection(pfSenseObjectProvider.delete?.(outs.marker, outs));
    expect(error.message).toMatch(/alias ms_test_mail_host is still used by firewall rule 2 "admin: host to backup"/);
    expect(fake.config.alias).toHaveLength(1);
  });

  it("shrinks an alias that has details added in the GUI", async () => {
    const outs = await create(aliasInputs("alias-mail-host"));
    fake.guiEdit("alias", 0, { detail: ["vm", "vm v6"] });
    const news = { ...aliasInputs("alias-mail-host"), spec: { ...outs.spec, address: ["10.3.0.4"] } };
    await pfSenseObjectProvider.update?.(outs.marker, outs, news);
    expect(fake.config.alias[0]?.address).toEqual(["10.3.0.4"]);
  });

  it("refuses an alias of that name that is not the stack's", async () => {
    fake.seed("alias", { name: "ms_test_mail_host", type: "host", address: ["10.9.9.9"], descr: "by hand" });
    const error = await rejection(pfSenseObjectProvider.create(aliasInputs("alias-mail-host")));
    expect(error.message).toMatch(/already has an alias named ms_test_mail_host that is not the stack's/);
  });
});

describe("positional ids and lost answers", () => {
  it("looks its rule up again before resending a DELETE whose answer was lost, and deletes nothing else", async () => {
    const outs = await createAll(["lan-smtp-out"]);
    fake.api.inject("lost", 1, (r) => r.method === "DELETE");
    const rule = outs.get("lan-smtp-out") as PfSenseObjectOutputs;
    await pfSenseObjectProvider.delete?.(rule.marker, rule);
    expect(descrs(fake.config.rule)).toEqual(["Default allow LAN to any rule", "Default allow LAN IPv6 to any rule"]);
  });

  it("looks its rule up again before resending a PATCH whose answer was lost, after ids shifted", async () => {
    fake.seed(
      "rule",
      { type: "pass", interface: ["wan"], ipprotocol: "inet", source: "any", destination: "any", descr: "foreign" },
      0,
    );
    const outs = await createAll(["lan-smtp-out"]);
    const smtp = outs.get("lan-smtp-out") as PfSenseObjectOutputs;
    fake.api.inject("lost", 1, (r) => r.method === "PATCH");
    let lost = false;
    fake.api.onRequest = (request) => {
      // After the lost PATCH, someone deletes the rule at the top: every id moves up by one.
      if (lost) {
        fake.api.onRequest = undefined;
        fake.config.rule.splice(0, 1);
      }
      if (request.method === "PATCH") lost = true;
    };
    const news = {
      ...ruleInputs("lan-smtp-out"),
      spec: { ...ruleInputs("lan-smtp-out").spec, destination_port: "2525" },
    };
    await pfSenseObjectProvider.update?.(smtp.marker, smtp, news);
    expect(fake.find("rule", smtp.marker)?.object.destination_port).toBe("2525");
    // The rule that took the old id is untouched.
    expect(fake.config.rule.filter((r) => r.destination_port === "2525")).toHaveLength(1);
  });

  it.each([
    ["never sends a create twice: after a lost answer it finds the rule that landed", "lost", 1],
    ["sends a create again when the lookup shows it did not land", "500", 2],
  ] as const)("%s", async (_title, fault, posts) => {
    await createAll([]);
    fake.api.inject(fault, 1, (request) => request.method === "POST");
    await create(ruleInputs("lan-dns-out"));
    expect(fake.config.rule.filter((r) => String(r.descr).includes("lan-dns-out"))).toHaveLength(1);
    const sent = fake.api.requests.filter((r) => r.method === "POST" && r.path === "/api/v2/firewall/rule");
    expect(sent).toHaveLength(posts);
  });
});

describe("prerequisites, checked on the first call", () => {
  /** A pfSense of its own: the provider remembers each pfSense's check. */
  async function freshFake(setup: (pfrest: FakePfRest) => void): Promise<FakePfRest> {
    const pfrest = new FakePfRest(certificate, API_KEY);
    pfrest.reset();
    setup(pfrest);
    await pfrest.api.start();
    return pfrest;
  }

  it("says to enable key authentication when pfrest answers 401 (its default is BasicAuth only), once", async () => {
    const pfrest = await freshFake((p) => (p.settings.auth_methods = ["BasicAuth"]));
    try {
      const at = pfrest.api.connection(API_KEY);
      const [first, second] = await Promise.all([
        rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out", at))),
        rejection(pfSenseObjectProvider.create(ruleInputs("lan-ntp-out", at))),
      ]);
      for (const error of [first, second]) {
        expect(error.message).toMatch(/HTTP 401: Authentication failed\. \(AUTH_AUTHENTICATION_FAILED\)/);
        expect(error.message).toMatch(
          /System > REST API > Settings, Authentication Methods must include "Key" \(auth_methods: KeyAuth\)/,
        );
        expect(error.message).toMatch(/mailstack:pfsenseApiKey/);
        expect(error.message).not.toContain(API_KEY);
      }
      // One failed login for the deployment, not one per resource (pfSense's Login Protection counts them).
      expect(pfrest.api.requests).toHaveLength(1);
    } finally {
      await pfrest.api.stop();
    }
  });

  it("says to represent interfaces by id, and writes nothing", async () => {
    const pfrest = await freshFake((p) => (p.settings.represent_interfaces_as = "descr"));
    try {
      const error = await rejection(
        pfSenseObjectProvider.create(ruleInputs("lan-dns-out", pfrest.api.connection(API_KEY))),
      );
      expect(error.message).toMatch(/pfrest represents interfaces as "descr"/);
      expect(error.message).toMatch(/set "Represent Interfaces As" to "Internal ID" \(represent_interfaces_as: id\)/);
      expect(pfrest.api.writes()).toEqual([]);
    } finally {
      await pfrest.api.stop();
    }
  });

  it("names the privilege a key's user lacks", async () => {
    const pfrest = await freshFake(
      (p) => (p.privileges = ["api-v2-system-restapi-settings-get", "api-v2-firewall-rules-get"]),
    );
    try {
      const error = await rejection(
        pfSenseObjectProvider.create(ruleInputs("lan-dns-out", pfrest.api.connection(API_KEY))),
      );
      expect(error.message).toMatch(/AUTH_AUTHORIZATION_FAILED.*lacks the privilege "api-v2-firewall-rule-post"/);
    } finally {
      await pfrest.api.stop();
    }
  });

  it('says "pfrest not installed or wrong version" when the web server answers HTML 404', async () => {
    const bare = new FakeHttpsApi(certificate, () => ({ status: 404, body: undefined, text: NGINX_404 }));
    await bare.start();
    try {
      const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out", bare.connection(API_KEY))));
      expect(error.message).toMatch(
        /pfrest not installed or wrong version: https:\/\/127\.0\.0\.1:\d+\/api\/v2\/system\/restapi\/settings is not a pfrest v2 endpoint/,
      );
      expect(bare.requests).toHaveLength(1);
    } finally {
      await bare.stop();
    }
  });
});

describe("the object provider", () => {
  it("keeps finding and updating its own rule when someone else deletes a rule before it", async () => {
    fake.seed(
      "rule",
      {
        type: "block",
        interface: ["wan"],
        ipprotocol: "inet",
        source: "198.51.100.0/24",
        destination: "any",
        descr: "someone's rule",
      },
      0,
    );
    const outs = (await createAll(["wan-mail-ipv6"])).get("wan-mail-ipv6") as PfSenseObjectOutputs;
    // Right after the interface's last rule, in the one list: [block, ours, LAN defaults].
    expect(outs.position).toBe(1);
    fake.config.rule.splice(0, 1); // positions shift: ours is now id 0
    const news = {
      ...ruleInputs("wan-mail-ipv6"),
      spec: { ...ruleInputs("wan-mail-ipv6").spec, destination_port: "443" },
    };
    expect(await pfSenseObjectProvider.diff?.(outs.marker, outs, news)).toMatchObject({ changes: true, replaces: [] });
    const updated = await pfSenseObjectProvider.update?.(outs.marker, outs, news);
    expect(updated?.outs?.position).toBe(0);
    const patch = fake.api.writes().find((r) => r.method === "PATCH");
    expect(patch?.body).toEqual({ destination_port: "443", id: 0, apply: false });
  });

  it("detects drift on refresh, and a drift fix leaves a new write id for the apply", async () => {
    const outs = (await createAll(["lan-smtp-out"])).get("lan-smtp-out") as PfSenseObjectOutputs;
    const own = fake.find("rule", outs.marker);
    if (own) own.object.log = false; // someone switched logging off in the UI
    const read = (await pfSenseObjectProvider.read?.(outs.marker, outs))?.props as PfSenseObjectOutputs;
    expect(read.spec).toMatchObject({ log: false });
    expect((await pfSenseObjectProvider.diff?.(outs.marker, read, ruleInputs("lan-smtp-out")))?.changes).toBe(true);
    const fixed = (await pfSenseObjectProvider.update?.(outs.marker, read, ruleInputs("lan-smtp-out")))?.outs;
    expect(fake.find("rule", outs.marker)?.object.log).toBe(true);
    expect(applyRevision([fixed?.writeId])).not.toBe(applyRevision([outs.writeId]));
    // Nothing to write: no request but the lookup, and the write id stays.
    fake.api.requests.length = 0;
    const same = (
      await pfSenseObjectProvider.update?.(outs.marker, fixed as PfSenseObjectOutputs, ruleInputs("lan-smtp-out"))
    )?.outs;
    expect(same?.writeId).toBe(fixed?.writeId);
    expect(fake.api.writes()).toEqual([]);
  });

  it("reports a deleted object as gone, and deletes only its own objects", async () => {
    fake.seed("rule", anyLanRule("[mailstack:other:lan-smtp-out] by hand"));
    const outs = (await createAll(["lan-smtp-out"])).get("lan-smtp-out") as PfSenseObjectOutputs;
    await pfSenseObjectProvider.delete?.(outs.marker, outs);
    expect(descrs(fake.config.rule)).toContain("[mailstack:other:lan-smtp-out] by hand");
    expect(await pfSenseObjectProvider.read?.(outs.marker, outs)).toEqual({});
    await pfSenseObjectProvider.delete?.(outs.marker, outs); // already gone: nothing to do
  });

  it("refuses to guess when two objects carry its marker", async () => {
    for (const copy of ["a", "b"]) fake.seed("rule", anyLanRule(`${marker("test", "lan-ntp-out")} ${copy}`));
    const error = await rejection(findOwn(connection, "rule", marker("test", "lan-ntp-out")));
    expect(error.message).toMatch(/2 rule objects marked/);
  });

  it("wants the marker first in the description (pf logs show its first 52 characters)", async () => {
    const inputs = ruleInputs("lan-ntp-out");
    const late = { ...inputs, spec: { ...inputs.spec, descr: `mail host: NTP ${inputs.marker}` } };
    expect((await pfSenseObjectProvider.check?.(late, late))?.failures).toEqual([
      { property: "spec", reason: "spec.descr must start with the marker (pf logs show its first 52 characters)" },
    ]);
  });
});

describe("faults", () => {
  it("does not retry a 403 from the proxy in front of the API, and says what came back", async () => {
    fake.api.inject("403", 5);
    const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out")));
    expect(error.message).toMatch(/HTTP 403 with a body that is not JSON: .*403 Forbidden/);
    expect(fake.api.requests).toHaveLength(1);
  });

  it("retries a 500 and succeeds", async () => {
    await createAll([]);
    fake.api.inject("500", 2);
    await create(ruleInputs("lan-dns-out"));
    expect(fake.find("rule", marker("test", "lan-dns-out"))).toBeDefined();
  });

  it("stops retrying at its bound, with pfrest's message", async () => {
    fake.api.inject("500", 10);
    const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out")));
    expect(error.message).toMatch(
      /HTTP 500: Call to a member function .*\(ENDPOINT_RECEIVED_UNEXPECTED_ERROR\) .*gave up after 3 attempts/s,
    );
    expect(fake.api.requests).toHaveLength(3);
  });

  it("gives up on an API that does not answer in time", async () => {
    fake.api.slowMs = 3_000;
    fake.api.inject("slow", 10);
    const error = await rejection(pfSenseObjectProvider.create(ruleInputs("lan-dns-out")));
    expect(error.message).toMatch(/no answer within 1000 ms .*gave up after 3 attempts/);
    expect(fake.api.requests).toHaveLength(3);
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

describe("serialization: the provider as the engine runs it", () => {
  it("survives Pulumi's serialization, captures no secret, and still validates", async () => {
    const inputs = ruleInputs("lan-dns-out");
    const probe = { pfSenseProvider: { ...inputs, connection: { ...inputs.connection, endpoint: "http://plain" } } };
    const [result] = (await serializeProviders(probe)).filter((r) => r.name === "pfSenseProvider");
    expect(result?.text).toContain("/api/v2/firewall/apply");
    expect(result?.text).not.toContain(API_KEY);
    expect(result?.check).toMatchObject({
      failures: [{ property: "connection", reason: "the endpoint must be https://" }],
    });
  });

  it("creates, updates, applies, refreshes and deletes against pfrest when loaded back", async () => {
    const rule = ruleInputs("lan-dns-out");
    const aliases = plan.aliases.map((alias) => ({ op: "create" as const, news: { ...aliasInputs(alias.key) } }));
    const changed = { ...rule, spec: { ...rule.spec, destination_port: "853" } };
    const n = aliases.length;
    // What pf runs when the delete arrives (the apply's reload is synchronous).
    let runningPort: unknown;
    fake.api.onRequest = (request) => {
      if (request.method === "DELETE" && runningPort === undefined)
        runningPort = fake.applied.rules.find((r) => String(r.descr).startsWith(rule.marker))?.destination_port;
    };
    const running = runRevived("pfSenseProvider", [
      ...aliases,
      { op: "create", news: { ...rule } },
      { op: "update", id: rule.marker, oldsFrom: n, news: changed },
      { op: "create", news: { connection, revision: "revived-1", kind: "apply" } },
      { op: "read", id: rule.marker, oldsFrom: n + 1 },
      { op: "delete", id: rule.marker, oldsFrom: n + 1 },
    ]);
    const results = await running.finally(() => {
      fake.api.onRequest = undefined;
    });
    // (Errors first: a failure prints the message, never outputs that hold the key.)
    expect(results.map((result) => result.error)).toEqual(results.map(() => undefined));
    expect(results[n]?.ok?.id).toBe(rule.marker);
    expect(results[n + 1]?.ok?.outs).toMatchObject({ kind: "rule", inPlace: true, spec: { destination_port: "853" } });
    // The apply reloaded the filter: pf ran the updated rule before the delete removed it.
    expect(results[n + 2]?.ok?.outs).toMatchObject({ kind: "apply", revision: "revived-1" });
    expect(runningPort).toBe("853");
    expect(results[n + 3]?.ok?.props).toMatchObject({ kind: "rule", spec: { destination_port: "853" } });
    expect(fake.find("rule", rule.marker)).toBeUndefined();
    expect(runs("lan-dns-out")).toBe(false);
    for (const alias of plan.aliases) expect(fake.find("alias", marker("test", alias.key))).toBeDefined();
  });

  it("reports a 401 with pfrest's message, response id and the fix, and a refused connection with its cause", async () => {
    const inputs = ruleInputs("lan-dns-out");
    const [wrongKey, closed] = await runRevived("pfSenseProvider", [
      { op: "create", news: { ...inputs, connection: { ...inputs.connection, apiKey: "wrong-key-4711" } } },
      // (A module-level Set is serialized as a plain object: its `has` used to throw here.)
      {
        op: "create",
        news: { ...inputs, connection: { ...inputs.connection, endpoint: "https://127.0.0.1:1", retries: 0 } },
      },
    ]);
    // What `pulumi up` shows is the error's message.
    expect(wrongKey?.error).toMatch(/HTTP 401: Authentication failed\. \(AUTH_AUTHENTICATION_FAILED\)/);
    expect(wrongKey?.error).toMatch(/Authentication Methods must include "Key"/);
    expect(wrongKey?.error).not.toContain("wrong-key-4711");
    expect(closed?.error).toMatch(/ECONNREFUSED/);
  });

  it("keeps the messages of RestError and MailcowError built in serialized code", async () => {
    const results = (await serializeProviders({})) as unknown as {
      name: string;
      error?: { message?: unknown; text?: string };
    }[];
    const restError = results.find((r) => r.name === "RestError")?.error;
    expect(restError?.message).toMatch(/AUTH_AUTHENTICATION_FAILED/);
    expect(restError?.text).toMatch(/^RestError: probe/);
    expect(results.find((r) => r.name === "MailcowError")?.error?.message).toBe("mailcow add/domain: probe");
  });
});
