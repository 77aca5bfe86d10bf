// The fake pfrest behaves as pfrest v2.10.0's source says (see test/fakes/pfrest.ts for the
// citations): the behaviours the provider's tests depend on, each checked on the fake itself, so a
// provider test that passes here passes against pfrest's code, not against a friendlier fake.
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loopbackCertificate } from "./fakes/https";
import { FakePfRest, NGINX_404, type PfObject } from "./fakes/pfrest";

const API_KEY = "pfrest-fake-test-key";
let fake: FakePfRest;

beforeAll(async () => {
  fake = new FakePfRest(await loopbackCertificate(), API_KEY);
  await fake.api.start();
});
afterAll(() => fake.api.stop());
beforeEach(() => fake.reset());

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  readonly json: { code?: number; status?: string; response_id?: string; message?: string; data?: unknown };
}

/** One raw request, as any HTTP client would send it. */
function pf(
  method: string,
  path: string,
  options: { body?: unknown; query?: Record<string, string>; key?: string | null } = {},
): Promise<Answer> {
  const url = new URL(path, fake.api.baseUrl);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method,
        ca: fake.api.certificate.cert,
        headers: {
          ...(options.key === null ? {} : { "x-api-key": options.key ?? API_KEY }),
          ...(body ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const contentType = String(res.headers["content-type"] ?? "");
          resolve({
            status: res.statusCode ?? 0,
            contentType,
            text,
            json: contentType.includes("json") ? (JSON.parse(text) as Answer["json"]) : {},
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const hostAlias = { name: "ms_t_host", type: "host", address: ["10.3.0.4"], descr: "[mailstack:t:alias-host] host" };
const lanRule = (descr: string): PfObject => ({
  type: "pass",
  interface: ["lan"],
  ipprotocol: "inet",
  protocol: "tcp",
  source: "ms_t_host",
  destination: "any",
  destination_port: "25",
  descr,
});

describe("the fake pfrest, as pfrest's code behaves", () => {
  it("marks aliases and NAT dirty, filter rules not at all (R/Models/FirewallRule.inc sets no subsystem)", async () => {
    expect((await pf("POST", "/api/v2/firewall/alias", { body: hostAlias })).status).toBe(200);
    expect((await pf("GET", "/api/v2/firewall/apply")).json.data).toEqual({
      applied: false,
      pending_subsystems: ["aliases"],
    });
    await pf("POST", "/api/v2/firewall/apply", { body: { async: false } });
    expect((await pf("POST", "/api/v2/firewall/rule", { body: lanRule("[mailstack:t:r] smtp") })).status).toBe(200);
    // A rule change that pf does not run yet, and pfrest says everything is applied.
    expect((await pf("GET", "/api/v2/firewall/apply")).json.data).toEqual({ applied: true, pending_subsystems: [] });
    expect(fake.applied.rules.map((r) => r.descr)).not.toContain("[mailstack:t:r] smtp");
    await pf("POST", "/api/v2/firewall/nat/port_forward", {
      body: {
        interface: "wan",
        protocol: "tcp",
        source: "any",
        destination: "wan:ip",
        destination_port: "25",
        target: "10.3.0.4",
        local_port: "25",
        descr: "nat",
      },
    });
    expect((await pf("GET", "/api/v2/firewall/apply")).json.data).toEqual({
      applied: false,
      pending_subsystems: ["natconf"],
    });
  });

  it("reloads in the background unless async is false, and says nothing of a failed reload", async () => {
    await pf("POST", "/api/v2/firewall/alias", { body: hostAlias });
    const background = await pf("POST", "/api/v2/firewall/apply");
    expect(background.json.data).toEqual({ applied: false, pending_subsystems: ["aliases"] });
    await fake.settle();
    expect(fake.dirty.size).toBe(0);
    expect((await pf("POST", "/api/v2/firewall/apply", { body: { async: "no" } })).json.response_id).toBe(
      "ENDPOINT_ASYNC_FIELD_INVALID_TYPE",
    );
    await pf("POST", "/api/v2/firewall/rule", { body: lanRule("[mailstack:t:r] smtp") });
    fake.failingReloads.push("syntax error");
    const failed = await pf("POST", "/api/v2/firewall/apply", { body: { async: false } });
    expect(failed.status).toBe(200);
    expect(failed.json.response_id).toBe("SUCCESS");
    expect(fake.applied.rules.map((r) => r.descr)).not.toContain("[mailstack:t:r] smtp");
    const log = (await pf("GET", "/api/v2/status/logs/system", { query: { limit: "5" } })).json.data as {
      text: string;
    }[];
    expect(log.at(-1)?.text).toMatch(/New alert found: There were error\(s\) loading the rules: .*syntax error/);
  });

  it("leaves a rule whose alias is gone out of the ruleset, with a notice", async () => {
    await pf("POST", "/api/v2/firewall/alias", { body: hostAlias });
    await pf("POST", "/api/v2/firewall/rule", { body: lanRule("[mailstack:t:r] smtp") });
    // pfrest lets the alias go although a rule names it (no referenced_by on its name).
    expect((await pf("DELETE", "/api/v2/firewall/alias", { query: { id: "0" } })).status).toBe(200);
    await pf("POST", "/api/v2/firewall/apply", { body: { async: false } });
    expect(fake.applied.rules.map((r) => r.descr)).not.toContain("[mailstack:t:r] smtp");
    expect(fake.systemLog.at(-1)).toMatch(/Unresolvable source alias 'ms_t_host' for rule '\[mailstack:t:r\] smtp'/);
  });

  it("loses one of two writes that overlap: each request writes back the config it read", async () => {
    fake.holdWrites(2);
    const [a, b] = await Promise.all([
      pf("POST", "/api/v2/firewall/alias", { body: hostAlias }),
      pf("POST", "/api/v2/firewall/alias", { body: { ...hostAlias, name: "ms_t_other", descr: "other" } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    // Both got id 0; only the one written last is there.
    expect([(a.json.data as PfObject).id, (b.json.data as PfObject).id]).toEqual([0, 0]);
    expect(fake.config.alias).toHaveLength(1);
  });

  it("keeps one rule list across interfaces and places by index into it, or answers 500", async () => {
    // The two LAN defaults are ids 0 and 1: placement 0 puts a WAN rule above them in the one list.
    const wan = await pf("POST", "/api/v2/firewall/rule", {
      body: { ...lanRule("wan"), interface: ["wan"], source: "any", placement: 0 },
    });
    expect((wan.json.data as PfObject).id).toBe(0);
    expect(fake.config.rule.map((r) => r.descr)).toEqual([
      "wan",
      "Default allow LAN to any rule",
      "Default allow LAN IPv6 to any rule",
    ]);
    const past = await pf("POST", "/api/v2/firewall/rule", {
      body: { ...lanRule("far"), source: "any", placement: 4 },
    });
    expect(past.status).toBe(500);
    expect(past.json).toMatchObject({ status: "internal server error", response_id: "MODEL_FAILED_TO_SET_PLACEMENT" });
    // PATCH applies placement too: without it the rule stays, with it the rule moves.
    await pf("PATCH", "/api/v2/firewall/rule", { body: { id: 0, log: true } });
    expect(fake.config.rule[0]?.descr).toBe("wan");
    await pf("PATCH", "/api/v2/firewall/rule", { body: { id: 0, placement: 2 } });
    expect(fake.config.rule.map((r) => r.descr)).toEqual([
      "Default allow LAN to any rule",
      "Default allow LAN IPv6 to any rule",
      "wan",
    ]);
  });

  it("answers with pfrest's response ids, status words and messages", async () => {
    const unknown = await pf("GET", "/api/v2/firewall/rulez");
    expect([unknown.status, unknown.contentType, unknown.text]).toEqual([404, "text/html", NGINX_404]);
    expect((await pf("GET", "/api/v2/firewall/rule")).json).toMatchObject({
      code: 400,
      status: "bad request",
      response_id: "MODEL_REQUIRES_ID",
      message: "Field `id` is required.",
    });
    expect((await pf("GET", "/api/v2/firewall/rule", { query: { id: "9" } })).json).toMatchObject({
      code: 404,
      status: "not found",
      message: "Object with ID `9` does not exist.",
    });
    expect((await pf("POST", "/api/v2/firewall/rule", { body: { type: "pass" } })).json).toMatchObject({
      response_id: "FIELD_IS_REQUIRED",
      message: "Field `interface` is required.",
    });
    expect((await pf("POST", "/api/v2/firewall/rules", { body: {} })).json).toMatchObject({
      code: 405,
      status: "method not allowed",
      response_id: "ENDPOINT_METHOD_NOT_ALLOWED",
      message: "Resource at /api/v2/firewall/rules does not support the requested HTTP method `POST`",
    });
    await pf("POST", "/api/v2/firewall/alias", { body: hostAlias });
    const rule = lanRule("x");
    expect((await pf("POST", "/api/v2/firewall/rule", { body: { ...rule, destination_port: 25 } })).json).toMatchObject(
      {
        response_id: "FIELD_INVALID_TYPE",
      },
    );
    expect((await pf("POST", "/api/v2/firewall/rule", { body: { ...rule, interface: "lan" } })).json).toMatchObject({
      response_id: "FIELD_INVALID_MANY_VALUE",
    });
    expect(
      (await pf("POST", "/api/v2/firewall/rule", { body: { ...rule, source: "ms_t_missing" } })).json,
    ).toMatchObject({
      response_id: "FILTER_ADDRESS_FIELD_INVALID",
    });
    expect((await pf("POST", "/api/v2/firewall/alias", { body: hostAlias })).json).toMatchObject({
      response_id: "FIELD_MUST_BE_UNIQUE",
      message: "Field `name` must be unique. Value is in use by object with ID `0`.",
    });
    expect((await pf("PATCH", "/api/v2/firewall/alias", { body: { id: 0, name: "ms_t_new" } })).json).toMatchObject({
      response_id: "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
    });
    // An alias's type is editable (only the name is not).
    expect(
      (await pf("PATCH", "/api/v2/firewall/alias", { body: { id: 0, type: "network", address: ["10.3.0.0/24"] } }))
        .status,
    ).toBe(200);
    const detailed = await pf("PATCH", "/api/v2/firewall/alias", {
      body: { id: 0, address: ["10.3.0.0/24"], detail: ["a", "b"] },
    });
    expect(detailed.json.response_id).toBe("TOO_MANY_ALIAS_DETAILS");
  });

  it("answers 401 to a right key while key authentication is off, as to a wrong one", async () => {
    const wrong = await pf("GET", "/api/v2/firewall/rules", { key: "wrong" });
    expect(wrong.json).toMatchObject({
      code: 401,
      status: "unauthorized",
      response_id: "AUTH_AUTHENTICATION_FAILED",
      message: "Authentication failed.",
    });
    fake.settings.auth_methods = ["BasicAuth"]; // pfrest's default
    expect((await pf("GET", "/api/v2/firewall/rules")).json).toEqual(wrong.json);
    fake.settings.auth_methods = ["KeyAuth"];
    fake.privileges = ["api-v2-firewall-rules-get"];
    expect((await pf("GET", "/api/v2/firewall/rules")).status).toBe(200);
    expect((await pf("GET", "/api/v2/firewall/aliases")).json.response_id).toBe("AUTH_AUTHORIZATION_FAILED");
  });

  it("shows interfaces as represent_interfaces_as says and takes only that form", async () => {
    fake.settings.represent_interfaces_as = "descr";
    const rules = (await pf("GET", "/api/v2/firewall/rules")).json.data as PfObject[];
    expect(rules.map((r) => r.interface)).toEqual([["LAN"], ["LAN"]]);
    const refused = await pf("POST", "/api/v2/firewall/rule", { body: { ...lanRule("x"), source: "any" } });
    expect(refused.json).toMatchObject({
      response_id: "FIELD_INVALID_CHOICE",
      message: "Field `interface` must be one of [WAN, LAN]",
    });
  });

  it("allows plural PUT and DELETE, and ignores query fields it does not know (deleting everything)", async () => {
    await pf("POST", "/api/v2/firewall/alias", { body: hostAlias });
    await pf("POST", "/api/v2/firewall/alias", { body: { ...hostAlias, name: "ms_t_b", descr: "b" } });
    const deleted = await pf("DELETE", "/api/v2/firewall/aliases", { query: { descrr__contains: "b" } });
    expect(deleted.status).toBe(200);
    expect(fake.config.alias).toEqual([]);
    expect((await pf("DELETE", "/api/v2/firewall/rule", { query: { id: "1" } })).status).toBe(200);
    expect((await pf("DELETE", "/api/v2/firewall/rule", { query: { id: "0" } })).json.response_id).toBe(
      "MODEL_MANY_MINIMUM_REACHED",
    );
  });
});
