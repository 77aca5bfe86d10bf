// A first `up` of several hosted domains on the real engine (scripts/pulumi-toolchain.sh) against
// the fake mailcow API, one of whose domains mailcow refuses. With `--continue-on-error` (README
// "Scale") the engine keeps creating what does not depend on the failed domain and records it;
// what depends on it (its mailbox) and on every domain (the admin here, the SOGo restart in the
// stack) waits. After the fix, the next `up` creates only what is missing. Meanwhile the API sees
// at most `apiConcurrency` requests at once (providers/throttle.ts), in the real dynamic provider host.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackCertificate } from "./fakes/https";
import { FakeMailcow } from "./fakes/mailcow";
import { Engine, printed, root } from "./support/engine";

const PROJECT = "mailstack-engine-domains";
const STACK = "domains";
const DOMAINS = Array.from({ length: 6 }, (_, i) => `d${i}.domains.example`);
const FAILING = "d2.domains.example";
const CONCURRENCY = 2;
const key = (name: string) => `${PROJECT}:${name}`;
const secrets = {
  mailcowApiKey: `mailcow-${randomBytes(18).toString("hex")}`,
  mailboxPassword: `pw-${randomBytes(18).toString("base64url")}`,
  adminPassword: `admin-${randomBytes(18).toString("base64url")}`,
};

let engine: Engine;
let mailcow: FakeMailcow;
let dir: string;

const addsDomain = (domain: string) => (request: { method: string; path: string; body: unknown }) =>
  request.method === "POST" &&
  request.path === "/api/v1/add/domain" &&
  (request.body as { domain?: unknown } | undefined)?.domain === domain;
const addedMailboxes = () =>
  mailcow.api
    .writes()
    .filter((request) => request.path === "/api/v1/add/mailbox")
    .map((request) => (request.body as { domain?: unknown }).domain);

beforeAll(async () => {
  engine = await Engine.create();
  dir = engine.project(join(root, "test", "engine-domains"));
  const certificate = await loopbackCertificate();
  mailcow = new FakeMailcow(certificate, secrets.mailcowApiKey);
  await mailcow.api.start();
  mailcow.api.latencyMs = 30;
  await engine.initStack(
    dir,
    STACK,
    {
      [key("mailcowEndpoint")]: mailcow.api.baseUrl,
      [key("mailcowCa")]: certificate.cert,
      [key("domains")]: JSON.stringify(DOMAINS),
      [key("apiConcurrency")]: String(CONCURRENCY),
    },
    {
      [key("mailcowApiKey")]: secrets.mailcowApiKey,
      [key("mailboxPassword")]: secrets.mailboxPassword,
      [key("adminPassword")]: secrets.adminPassword,
    },
  );
});

afterAll(async () => {
  await mailcow?.api.stop();
  engine?.dispose();
});

describe("one failing domain in a first up on the real engine", () => {
  it("with --continue-on-error the other domains and their mailboxes are created and kept in the state", async () => {
    // mailcow answers every add/domain of one domain with a server error (the provider gives up
    // after its retries, having looked each time whether the domain was made).
    mailcow.api.inject("500", 1000, addsDomain(FAILING));
    const result = await engine.pulumi(["up", "--yes", "--skip-preview", "--continue-on-error"], {
      cwd: dir,
      stack: STACK,
    });
    expect(result.status, printed(result)).not.toBe(0);
    expect(result.stdout).toContain(FAILING);
    const others = DOMAINS.filter((domain) => domain !== FAILING);
    expect([...mailcow.domains.keys()].sort()).toEqual(others);
    expect(addedMailboxes().sort()).toEqual(others);
    // The admin needs every domain: not touched yet (the fake's admin is still mailcow's first one).
    expect(mailcow.admins.get("admin")?.password).toBe("moohoo");
    const { deployment } = await engine.exportState(dir, STACK);
    const created = (deployment.resources ?? [])
      .filter((resource) => resource.type.startsWith("pulumi-nodejs:dynamic"))
      .map((resource) => resource.id)
      .sort();
    expect(created).toEqual([...others, ...others.map((domain) => `postmaster@${domain}`)].sort());
    expect(mailcow.api.maxInFlight).toBeGreaterThan(0);
    expect(mailcow.api.maxInFlight).toBeLessThanOrEqual(CONCURRENCY);
  });

  it("after the fix, the next up creates only the failed domain, its mailbox and what needed every domain", async () => {
    mailcow.api.clearFaults();
    const writes = mailcow.api.writes().length;
    const out = await engine.pulumiOk(["up", "--yes", "--skip-preview"], { cwd: dir, stack: STACK });
    expect(out).toMatch(/\+ 3 created/);
    const newWrites = mailcow.api.writes().slice(writes);
    expect(newWrites.filter((request) => request.path === "/api/v1/add/domain").map((r) => r.body)).toEqual([
      expect.objectContaining({ domain: FAILING }),
    ]);
    expect(
      newWrites
        .filter((request) => request.path === "/api/v1/add/mailbox")
        .map((r) => (r.body as { domain?: unknown }).domain),
    ).toEqual([FAILING]);
    expect([...mailcow.domains.keys()].sort()).toEqual(DOMAINS);
    expect(mailcow.admins.get("admin")?.password).toBe(secrets.adminPassword);
  });
});
