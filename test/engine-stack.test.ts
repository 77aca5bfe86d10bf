// The real Pulumi engine (scripts/pulumi-toolchain.sh) runs the project's dynamic providers
// against the fake pfSense and mailcow APIs on loopback (test/engine-stack/): create, no-change,
// drift on refresh and its repair, a provider's error message, the policy pack, secrets in the
// state, the URNs the mock engine records, and a destroy that removes only our objects. The
// providers run in the real pulumi-resource-pulumi-nodejs plugin, serialized by the real engine.
// The steps share one stack and run in order; each `it` leaves the fakes as the next expects.
import { createPublicKey, generateKeyPair, randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { require as tsxRequire } from "tsx/cjs/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as EngineModule from "../plan/engine";
import { loopbackCertificate } from "./fakes/https";
import { FakeMailcow } from "./fakes/mailcow";
import { FakePfRest } from "./fakes/pfrest";
import type * as Program from "./engine-stack/program";
import { Engine, printed, root } from "./support/engine";

// Loaded by Node's CommonJS loader with tsx, as under the CLI (vitest's transform cannot be
// serialized into a dynamic provider).
const program = tsxRequire("./engine-stack/program", __filename) as typeof Program;
const mockEngine = tsxRequire("../plan/engine", __filename) as typeof EngineModule;
const { MARKERS, ALIAS_NAME, MAIL_HOST, CONFIG } = program;

let dir: string;
const PROJECT = "mailstack-engine-test";
const STACK = "engine";
const DOMAIN = "engine.example";
const key = (name: string) => `${PROJECT}:${name}`;

const secrets = {
  pfsenseApiKey: `pfrest-${randomBytes(18).toString("hex")}`,
  mailcowApiKey: `mailcow-${randomBytes(18).toString("hex")}`,
  mailboxPassword: `pw-${randomBytes(18).toString("base64url")}`,
  adminPassword: `admin-${randomBytes(18).toString("base64url")}`,
  dkimPrivateKey: "",
};

let engine: Engine;
let pfrest: FakePfRest;
let mailcow: FakeMailcow;
let config: Record<string, string>;

const pulumi = (args: string[], stack = STACK) => engine.pulumi(args, { cwd: dir, stack });
const pulumiOk = (args: string[], stack = STACK) => engine.pulumiOk(args, { cwd: dir, stack });

beforeAll(async () => {
  engine = await Engine.create();
  dir = engine.project(join(root, "test", "engine-stack"));
  const certificate = await loopbackCertificate();
  pfrest = new FakePfRest(certificate, secrets.pfsenseApiKey);
  mailcow = new FakeMailcow(certificate, secrets.mailcowApiKey);
  await pfrest.api.start();
  await mailcow.api.start();
  // What others made by hand: the stack must never touch it.
  pfrest.addForeign("alias", { name: "someone_else", type: "host", address: ["192.0.2.7"], descr: "made in the UI" });
  mailcow.domains.set("foreign.example", {
    domain: "foreign.example",
    description: "not the stack's",
    aliases: 10,
    mailboxes: 10,
    defquota: 1024,
    maxquota: 2048,
    quota: 4096,
    active: 1,
  });
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: 2048 });
  secrets.dkimPrivateKey = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  config = {
    [key(CONFIG.pfsenseEndpoint)]: pfrest.api.baseUrl,
    [key(CONFIG.pfsenseCa)]: certificate.cert,
    [key(CONFIG.mailcowEndpoint)]: mailcow.api.baseUrl,
    [key(CONFIG.mailcowCa)]: certificate.cert,
    [key(CONFIG.domain)]: DOMAIN,
  };
  await engine.initStack(dir, STACK, config, {
    [key(CONFIG.pfsenseApiKey)]: secrets.pfsenseApiKey,
    [key(CONFIG.mailcowApiKey)]: secrets.mailcowApiKey,
    [key(CONFIG.mailboxPassword)]: secrets.mailboxPassword,
    [key(CONFIG.adminPassword)]: secrets.adminPassword,
    [key(CONFIG.dkimPrivateKey)]: secrets.dkimPrivateKey,
  });
});

afterAll(async () => {
  await pfrest?.api.stop();
  await mailcow?.api.stop();
  engine?.dispose();
});

const spki = (pem: string) => createPublicKey(pem).export({ type: "spki", format: "der" }).toString("base64");

/** The fakes hold every object the stack declares, as declared. */
function expectDeclaredState(): void {
  expect(pfrest.find("alias", MARKERS.alias)?.object).toMatchObject({ name: ALIAS_NAME, address: [MAIL_HOST] });
  expect(pfrest.find("rule", MARKERS.rule)?.object).toMatchObject({ destination: ALIAS_NAME, log: true });
  expect(pfrest.find("port_forward", MARKERS.forward)?.object).toMatchObject({ target: MAIL_HOST });
  expect(pfrest.pending).toBe(false);
  expect(mailcow.domains.get(DOMAIN)).toMatchObject({ domain: DOMAIN, maxquota: 2048 });
  expect(mailcow.mailboxes.get(`postmaster@${DOMAIN}`)).toMatchObject({ forceTfa: 1, name: "Postmaster" });
  expect(mailcow.dkim.get(DOMAIN)?.pubkey).toBe(spki(secrets.dkimPrivateKey));
  expect(mailcow.admins.get("admin")).toMatchObject({ active: 1, forceTfa: 1, password: secrets.adminPassword });
}

describe("the engine test stack on the real engine", () => {
  it("first up creates every object on the fakes and applies pfSense once", async () => {
    const out = await pulumiOk(["up", "--yes", "--skip-preview"]);
    expect(out).toMatch(/\+ 9 created/);
    expectDeclaredState();
    expect(pfrest.applies).toBe(1);
    expect(mailcow.mailboxes.get(`postmaster@${DOMAIN}`)?.password).toBe(secrets.mailboxPassword);
    const outputs = await engine.outputs(dir, STACK);
    expect(outputs).toMatchObject({
      mailbox: `postmaster@${DOMAIN}`,
      adminForcesTfa: true,
      firewallApplied: true,
      dkimPublicKey: spki(secrets.dkimPrivateKey),
    });
  });

  it("a second up reports no changes and writes nothing", async () => {
    const writes = pfrest.api.writes().length + mailcow.api.writes().length;
    const result = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(result.status, printed(result)).toBe(0);
    expect(pfrest.api.writes().length + mailcow.api.writes().length).toBe(writes);
  });

  it("records the same resources (URNs, types) as the mock engine for the same program", async () => {
    const { deployment } = await engine.exportState(dir, STACK);
    const recorded = (deployment.resources ?? []).map((r) => ({ urn: r.urn, type: r.type }));
    // The engine adds the default provider of the dynamic resources; the mock has no providers.
    const providers = recorded.filter((r) => r.type.startsWith("pulumi:providers:"));
    expect(providers).toEqual([
      {
        urn: `urn:pulumi:${STACK}::${PROJECT}::pulumi:providers:pulumi-nodejs::default`,
        type: "pulumi:providers:pulumi-nodejs",
      },
    ]);
    const mock = await mockEngine.runProgram(program.engineStack, {
      project: PROJECT,
      stack: STACK,
      config: { ...config, ...Object.fromEntries(Object.entries(secrets).map(([name, value]) => [key(name), value])) },
      secretKeys: Object.keys(secrets).map(key),
    });
    const byUrn = (a: { urn: string }, b: { urn: string }) => (a.urn < b.urn ? -1 : 1);
    expect(recorded.filter((r) => !providers.includes(r)).sort(byUrn)).toEqual(
      mock.resources.map((r) => ({ urn: r.urn, type: r.type })).sort(byUrn),
    );
  });

  it("keeps every secret out of plain state: API keys, the mailbox and admin passwords, the DKIM key", async () => {
    const { text, deployment } = await engine.exportState(dir, STACK);
    expect(deployment.secrets_providers?.type).toBe("passphrase");
    const pemBody = secrets.dkimPrivateKey.split("\n").filter((line) => line && !line.startsWith("-----"));
    for (const value of [
      secrets.pfsenseApiKey,
      secrets.mailcowApiKey,
      secrets.mailboxPassword,
      secrets.adminPassword,
      ...pemBody,
      engine.passphrase,
    ])
      expect(text.includes(value), `a secret is in plain text in the state`).toBe(false);
    // They are there, encrypted: the mailbox keeps its password as a secret.
    const mailbox = deployment.resources?.find((r) => r.type === "pulumi-nodejs:dynamic/mailcow:Mailbox");
    expect(mailbox?.outputs?.password).toMatchObject({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
    });
    expect(JSON.stringify(await engine.outputs(dir, STACK))).not.toContain(secrets.mailcowApiKey);
  });

  it("shows drift made on the fakes on refresh, and the next up repairs it", async () => {
    // Someone edits pfSense and mailcow by hand: a new alias above ours renumbers the list, our
    // alias gets another address, and a mailbox edit without force_tfa turns 2FA off.
    pfrest.addForeign("alias", { name: "inserted_by_hand", type: "host", address: ["192.0.2.8"], descr: "hand" }, 0);
    const alias = pfrest.find("alias", MARKERS.alias);
    if (!alias) throw new Error("our alias is gone");
    alias.object.address = ["10.9.9.9"];
    const box = mailcow.mailboxes.get(`postmaster@${DOMAIN}`);
    if (!box) throw new Error("our mailbox is gone");
    box.forceTfa = 0;

    const refreshed = await pulumiOk(["refresh", "--yes", "--diff"]);
    expect(refreshed).toContain("10.9.9.9");
    expect(refreshed).toMatch(/forceTfa/);
    expect(refreshed).toMatch(/~ 2 updated/);

    // The drifted alias and mailbox go back; the apply follows the alias's new write (unknown
    // in a preview). Nothing is replaced or deleted.
    const preview = await pulumiOk(["preview", "--diff"]);
    expect(preview).toContain("~ pulumi-nodejs:dynamic/pfsense:FirewallAlias: (update)");
    expect(preview).toContain("~ pulumi-nodejs:dynamic/mailcow:Mailbox: (update)");
    expect(preview).toMatch(
      /~ pulumi-nodejs:dynamic\/pfsense:Apply: \(update\)[\s\S]*~ revision\s*: "[0-9a-f]{64}" => \[unknown\]/,
    );
    expect(preview).toMatch(/~ 3 to update\s+6 unchanged/);
    expect(preview).not.toMatch(/to (replace|delete)|\+- |- pulumi/);
    // The repaired alias is written again, so the apply runs once more.
    const applies = pfrest.applies;
    await pulumiOk(["up", "--yes", "--skip-preview"]);
    expectDeclaredState();
    expect(pfrest.applies).toBe(applies + 1);
    expect(pfrest.objects.alias.map((object) => object.name)).toEqual(["inserted_by_hand", "someone_else", ALIAS_NAME]);
    const again = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(again.status, printed(again)).toBe(0);
  });

  it("fails the preview with the rule named when the policy pack finds a mailbox without 2FA", async () => {
    const policies = join(root, "policies");
    await engine.setConfig(dir, STACK, { [key(CONFIG.mailboxForceTfa)]: "false" });
    const failing = await pulumi(["preview", "--policy-pack", policies]);
    expect(failing.status, printed(failing)).not.toBe(0);
    expect(printed(failing)).toContain("mailstack-2fa-require-mailbox-tfa");
    expect(printed(failing)).toMatch(/mandatory/);
    expect(printed(failing)).toContain(`mailbox postmaster@${DOMAIN} does not have to enrol 2FA`);

    await pulumiOk(["config", "rm", key(CONFIG.mailboxForceTfa)]);
    const passing = await pulumi(["preview", "--policy-pack", policies]);
    expect(passing.status, printed(passing)).toBe(0);
    expect(printed(passing)).toContain("mailstack-security@v1.0.0");
    expect(printed(passing)).not.toContain("mailstack-2fa-require-mailbox-tfa");
  });

  it("brings a provider's error message to the CLI (a wrong API key answers 401)", async () => {
    const wrong = "wrong-stack";
    await engine.initStack(dir, wrong, config, {
      [key(CONFIG.pfsenseApiKey)]: "not-the-key",
      [key(CONFIG.mailcowApiKey)]: "not-the-key",
      [key(CONFIG.mailboxPassword)]: secrets.mailboxPassword,
      [key(CONFIG.adminPassword)]: secrets.adminPassword,
      [key(CONFIG.dkimPrivateKey)]: secrets.dkimPrivateKey,
    });
    const before = JSON.stringify([pfrest.objects, [...mailcow.domains], [...mailcow.mailboxes], [...mailcow.admins]]);
    const result = await pulumi(["up", "--yes", "--skip-preview"], wrong);
    expect(result.status).not.toBe(0);
    const text = printed(result);
    expect(text).toContain("HTTP 401: Authentication failed. (AUTH_AUTHENTICATION_FAILED)");
    expect(text).toContain("authentication failed");
    // A provider error class must keep its message through closure serialization.
    expect(text).not.toContain("<no message>");
    expect(text).not.toMatch(/error: undefined$/m);
    // Nothing was created or changed with the wrong key.
    expect(JSON.stringify([pfrest.objects, [...mailcow.domains], [...mailcow.mailboxes], [...mailcow.admins]])).toBe(
      before,
    );
  });

  it("destroy removes only the stack's objects: the foreign ones stay, 2FA stays enforced", async () => {
    await pulumiOk(["destroy", "--yes", "--skip-preview"]);
    for (const [kind, marker] of [
      ["alias", MARKERS.alias],
      ["rule", MARKERS.rule],
      ["port_forward", MARKERS.forward],
    ] as const)
      expect(pfrest.find(kind, marker)).toBeUndefined();
    expect(pfrest.objects.alias.map((object) => object.name)).toEqual(["inserted_by_hand", "someone_else"]);
    expect(pfrest.pending).toBe(false);
    expect([...mailcow.domains.keys()]).toEqual(["foreign.example"]);
    expect(mailcow.mailboxes.size).toBe(0);
    expect(mailcow.dkim.has(DOMAIN)).toBe(false);
    expect(mailcow.admins.get("admin")?.forceTfa).toBe(1);
    const { deployment } = await engine.exportState(dir, STACK);
    expect(deployment.resources ?? []).toEqual([]);
  });
});
